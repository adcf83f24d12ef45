"""``python -m tapegrad [train|predict|demo]``, the same as the ``tapegrad`` console script.

Without a command it runs the seed notebook's derivative and gradient-descent cells (``demo``).
"""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m tapegrad [train|predict|demo] ...``: the ``tapegrad`` command (see cli.py).

Without arguments, ``python -m tapegrad`` runs the seed notebook's derivative cells (``demo``), as
it always has; the ``tapegrad`` script prints its help instead.
"""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["demo"]))

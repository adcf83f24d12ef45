"""``python -m tapegrad``: runs the seed notebook's derivative and gradient-descent cells."""

from __future__ import annotations

import sys

from .demo import run_seed_cells


def main(argv: list[str] | None = None) -> int:
    run_seed_cells()
    return 0


if __name__ == "__main__":
    sys.exit(main())

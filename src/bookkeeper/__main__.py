"""`python -m bookkeeper …`: the same command line as the `bookkeeper` script."""

from __future__ import annotations

import sys

from bookkeeper.entrypoints.cli.main import main

if __name__ == "__main__":
    sys.exit(main())

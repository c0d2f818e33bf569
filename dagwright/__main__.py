"""``python -m dagwright``: the command line, as the ``dagwright`` console script runs it."""

import sys

from dagwright.cli import main

if __name__ == "__main__":
    sys.exit(main())

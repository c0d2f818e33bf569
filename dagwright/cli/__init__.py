"""The ``dagwright`` command line (console script ``dagwright``, or ``python -m dagwright``).

``main(argv)`` parses the arguments, runs one command and returns its exit code; it never
raises for bad input (see :mod:`dagwright.cli._errors`). Each command lives in its own
module and is imported only when it runs, so ``dagwright --help`` stays fast. Nothing here
is imported by ``import dagwright``.
"""

from dagwright.cli._app import main

__all__ = ["main"]

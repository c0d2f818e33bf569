"""Tools the CLI tests run through ``--tools tests.cli.cli_tools`` (imported from the
repository root, as a user's own module would be).

``square`` waits when ``DAGWRIGHT_TEST_SLOW`` is set and touches the file named by
``DAGWRIGHT_TEST_STARTED`` first, so a test can interrupt a run while it is in flight;
its output never depends on either, so an interrupted-then-resumed run and an
uninterrupted one have the same digest.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from pydantic import BaseModel

from dagwright import tool


class Doubled(BaseModel):
    doubled: int


class Squared(BaseModel):
    squared: int


class Total(BaseModel):
    total: int


@tool
def double(n: int) -> Doubled:
    """Double a number."""
    return Doubled(doubled=2 * n)


@tool
def square(n: int) -> Squared:
    """Square a number (slowly, when the test asks)."""
    started = os.environ.get("DAGWRIGHT_TEST_STARTED")
    if started:
        Path(started).touch()
    if os.environ.get("DAGWRIGHT_TEST_SLOW"):
        time.sleep(60)
    return Squared(squared=n * n)


@tool
def add(doubled: int, squared: int) -> Total:
    """Add the two branches."""
    return Total(total=doubled + squared)


@tool
def fail(total: int) -> Total:
    """Always fails."""
    raise ValueError(f"cannot publish {total}")


@tool
def leave(total: int) -> Total:
    """Ends the process (a tool calling sys.exit)."""
    sys.exit(3)


TOOLS = [double, square, add, fail, leave]

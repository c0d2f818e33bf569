"""Tools of the ``dagwright runs recover`` tests, imported by flow files' ``tools:``
sections from the repository root.

Every call appends ``<run_id>:<step_id>`` to the file named by ``DAGWRIGHT_TEST_CALLS``
(when set), with one ``O_APPEND`` write and an ``fsync`` before the tool goes on, so a
test counts the calls of every process. ``doomed`` then SIGKILLs its own process, every
time: a run of :data:`DOOMED` never finishes, however often it is recovered. ``square``
holds when ``DAGWRIGHT_TEST_HOLD`` is set (see there).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from dagwright import current_call, tool
from tests.cli import flows
from tests.cli.cli_tools import Doubled, Squared, Total


def _note() -> None:
    log = os.environ.get("DAGWRIGHT_TEST_CALLS")
    call = current_call()
    if not log or call is None:
        return
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{call.run_id}:{call.step_id}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@tool
def double(n: int) -> Doubled:
    """Double a number."""
    _note()
    return Doubled(doubled=2 * n)


@tool
def square(n: int) -> Squared:
    """Square a number; with ``DAGWRIGHT_TEST_HOLD`` set, first touch the file it names
    and wait two minutes (a call that does not return while a test interrupts it)."""
    _note()
    hold = os.environ.get("DAGWRIGHT_TEST_HOLD")
    if hold:
        Path(hold).touch()
        time.sleep(120)
    return Squared(squared=n * n)


@tool
def add(doubled: int, squared: int) -> Total:
    """Add the two branches."""
    _note()
    return Total(total=doubled + squared)


@tool
def refuse(total: int) -> Total:
    """Always fails."""
    _note()
    raise ValueError(f"cannot publish {total}")


@tool
def doomed(total: int) -> Total:
    """Kills its own process with SIGKILL, every time it is called."""
    _note()
    os.kill(os.getpid(), signal.SIGKILL)
    return Total(total=total)  # never reached


SUMS = flows.SUMS.replace(
    "steps:",
    "tools:\n"
    + "".join(f"  {name}: tests.cli.recover_tools:{name}\n" for name in ("double", "square", "add"))
    + "steps:",
)
"""double and square in parallel, then add (the tools of this module)."""

DOOMED = (
    SUMS.replace("name: sums", "name: doomed").replace(
        "steps:", "  doomed: tests.cli.recover_tools:doomed\nsteps:"
    )
    + "  - id: publish\n    tool: doomed\n    depends_on: [add]\n"
)
"""The sums, then ``doomed``: a run that kills its process at its last step."""

FAILING = (
    SUMS.replace("name: sums", "name: failing").replace(
        "steps:", "  refuse: tests.cli.recover_tools:refuse\nsteps:"
    )
    + "  - id: publish\n    tool: refuse\n    depends_on: [add]\n"
)
"""The sums, then ``refuse``: a run that fails at its last step."""

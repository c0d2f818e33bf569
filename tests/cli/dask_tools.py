"""Tools the ``dagwright run --dask`` tests run on a Dask cluster's workers.

Named ``tests.cli.dask_tools:<tool>`` in the flow files below, so the workers import
them (they start with the test process's ``sys.path``). They talk to the test through
files in a directory the run's inputs name, since they run in other processes: each
call appends a line to ``<dir>/<tool>.calls``, ``gated`` announces itself in
``<dir>/gated.started`` and waits for ``<dir>/open``. Their outputs never depend on
any of that, so an interrupted-then-resumed run has an uninterrupted run's digest.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel

from dagwright import tool

GATE_WAIT_S = 60.0
"""How long ``gated`` waits for its gate before failing (a test never waits that long)."""


class Prepared(BaseModel):
    prepared: int


class Gated(BaseModel):
    gated: int


class Where(BaseModel):
    pid: int


def _count(directory: str, name: str) -> None:
    with open(Path(directory) / f"{name}.calls", "a", encoding="utf-8") as calls:
        calls.write(f"{os.getpid()}\n")


def calls(directory: Path, name: str) -> int:
    """How many times tool ``name`` was called with ``directory``."""
    path = directory / f"{name}.calls"
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


@tool
def prepare(n: int, work_dir: str) -> Prepared:
    """Add one."""
    _count(work_dir, "prepare")
    return Prepared(prepared=n + 1)


@tool
def gated(prepared: int, work_dir: str) -> Gated:
    """Double ``prepared`` once ``<work_dir>/open`` exists."""
    _count(work_dir, "gated")
    directory = Path(work_dir)
    (directory / "gated.started").touch()
    deadline = time.monotonic() + GATE_WAIT_S
    while not (directory / "open").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the gate never opened")
        time.sleep(0.02)
    return Gated(gated=2 * prepared)


@tool
def where(item: int) -> Where:
    """The id of the process the call ran in."""
    return Where(pid=os.getpid())


GATED_FLOW = """\
format_version: 1
kind: dag
name: gated
version: "1"
tools:
  prepare: tests.cli.dask_tools:prepare
  gated: tests.cli.dask_tools:gated
steps:
  - id: prepare
    tool: prepare
  - id: gated
    tool: gated
    depends_on: [prepare]
"""

WHERE_FLOW = """\
format_version: 1
kind: dag
name: where
version: "1"
tools:
  where: tests.cli.dask_tools:where
steps:
  - id: each
    over: items
    item: item
    tool: where
    results: places
"""

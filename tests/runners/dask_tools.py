"""Tools for the Dask runner tests: module-level, so the workers import them by name.

Calls leave traces in files (``log`` paths, marker files) because a worker is another
process: a test counts calls and orders them through the file system.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

from pydantic import BaseModel

from dagwright import current_call, tool


class Scored(BaseModel):
    """A score and who computed it."""

    score: int
    label: str


@tool
def inc(x: int) -> int:
    """x + 1."""
    return x + 1


@tool
async def ainc(x: int) -> int:
    """x + 1, as an async tool."""
    await asyncio.sleep(0)
    return x + 1


@tool
def score(x: int, label: str = "s") -> Scored:
    """A model output."""
    return Scored(score=x * 7 % 11, label=label)


@tool
def total(values: list[int]) -> int:
    """The sum of a list."""
    return sum(values)


@tool
def picky(x: int) -> int:
    """Fails on multiples of 3."""
    if x % 3 == 0:
        raise ValueError(f"no multiples of 3, got {x}")
    return x * 2


@tool
def logged(x: int, log: str) -> int:
    """x * 10, appending ``x`` to ``log`` (one line per call)."""
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"{x}\n")
        out.flush()
        os.fsync(out.fileno())
    time.sleep(0.02)
    return x * 10


@tool
def hold(x: int, release: str, started: str) -> int:
    """Marks that it started (a file in ``started``), then waits for ``release`` to exist
    (at most 60 s); item 0 fails at once instead."""
    if x == 0:
        raise RuntimeError("item 0 fails")
    Path(started, str(x)).touch()
    deadline = time.monotonic() + 60
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return x


@tool
def die_once(x: int, marker: str) -> int:
    """Kills its own worker process on the first call (``marker`` does not exist yet)."""
    path = Path(marker)
    if not path.exists():
        path.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return x + 100


@tool
def flaky(x: int, marker: str) -> int:
    """Fails until it has been called twice (calls counted in ``marker``)."""
    with open(marker, "a", encoding="utf-8") as out:
        out.write("call\n")
    calls = Path(marker).read_text(encoding="utf-8").count("call")
    if calls < 3:
        raise ConnectionError(f"call {calls} fails")
    return x


@tool
def sleepy(seconds: float) -> int:
    """Sleeps."""
    time.sleep(seconds)
    return 1


@tool
async def asleepy(seconds: float) -> int:
    """Sleeps, as an async tool."""
    await asyncio.sleep(seconds)
    return 1


@tool
def leave(code: int) -> int:
    """Raises SystemExit."""
    raise SystemExit(code)


@tool(cacheable=True)
def cached_inc(x: int, log: str) -> int:
    """x + 1, cacheable; each real call appends to ``log``."""
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"{x}\n")
    return x + 1


@tool
def unsendable(x: int) -> dict[str, object]:
    """Returns a value that cannot be pickled back to the driver."""
    return {"lock": threading.Lock(), "x": x}


@tool
def sum_field(values: list[dict[str, int]], field: str) -> int:
    """The sum of one field over a list of records."""
    return sum(value[field] for value in values)


class Seen(BaseModel):
    """What a call saw of its context."""

    step_id: str
    index: list[int]
    attempt: int
    key: str


def _seen() -> Seen:
    context = current_call()
    if context is None:
        raise RuntimeError("no call context on the worker")
    return Seen(step_id=context.step_id, index=list(context.index), attempt=context.attempt,
                key=context.idempotency_key)  # fmt: skip


@tool
def who(x: int) -> Seen:
    """The call's context, seen by a sync tool."""
    return _seen()


@tool
async def awho(x: int) -> Seen:
    """The call's context, seen by an async tool."""
    await asyncio.sleep(0)
    return _seen()


@tool(idempotent=False)
def send(x: int, log: str) -> int:
    """Send message ``x``, appending ``<x> <idempotency key>`` to ``log``: a side effect."""
    context = current_call()
    assert context is not None
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"{x} {context.idempotency_key}\n")
        out.flush()
        os.fsync(out.fileno())
    return x

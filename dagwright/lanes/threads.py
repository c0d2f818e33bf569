"""The sync lane: pumps a :class:`RunMachine` from the calling thread.

Dispatch is dependency-driven: whenever a slot is free the lane takes every unit the
machine has ready (up to the free slots) and submits it to the executor's bounded thread
pool; it then waits for the next outcome, reports it, and takes again. There are no
levels and no barriers. When exactly one unit is ready and nothing is in flight, the
unit runs inline in the calling thread: a linear flow never pays for a pool hop, and
``max_concurrency=1`` runs every call in the calling thread, one at a time.

Timeouts: a thread cannot be killed. A call with ``timeout_s`` always runs on the pool;
when it overruns, the lane stops waiting, reports a ``StepTimeoutError`` and discards the
call's late result. The abandoned thread keeps its pool worker until the tool returns.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Mapping
from typing import Any

from dagwright._execution.scheduler import RunMachine
from dagwright._execution.trackers import Unit
from dagwright.errors import StepTimeoutError
from dagwright.lanes.calls import call_async, call_sync, describe_failure
from dagwright.lanes.pool import WorkerPool
from dagwright.results import ErrorInfo
from dagwright.tools import Tool

_TIMEOUT_NAMES = tuple(c.__name__ for c in StepTimeoutError.__mro__)

# Messages from workers to the driving thread.
_STARTED = 0
_ENDED = 1


def execute(
    tool: Tool, unit: Unit
) -> tuple[dict[str, Any] | None, BaseException | None, float, float]:
    """Make one call of ``unit`` (after its retry delay): outputs or exception, and times."""
    if unit.delay:
        time.sleep(unit.delay)
    started = time.time()
    try:
        if tool.is_async:
            import asyncio  # only flows with async tools pay for importing it

            outputs = asyncio.run(call_async(tool, unit.inputs))
        else:
            outputs = call_sync(tool, unit.inputs)
    except Exception as exc:
        return None, exc, started, time.time()
    return outputs, None, started, time.time()


def report(
    machine: RunMachine,
    unit: Unit,
    outputs: dict[str, Any] | None,
    exc: BaseException | None,
    started: float,
    ended: float,
) -> None:
    """Hand one call's outcome to the machine."""
    if exc is None:
        assert outputs is not None
        machine.complete(unit, outputs, started, ended)
    else:
        info, names = describe_failure(exc)
        machine.fail(unit, info, names, started, ended)


def _work(token: int, tool: Tool, unit: Unit, post: Callable[[tuple[Any, ...]], None]) -> None:
    if unit.timeout_s is not None:
        # The deadline runs from the real start, not from submission: the pool may be
        # busy with other runs of the same executor.
        post((_STARTED, token, time.monotonic() + unit.delay, time.time() + unit.delay))
    try:
        outcome = execute(tool, unit)
    except BaseException as exc:  # SystemExit and the like: still report, never hang the run
        now = time.time()
        outcome = (None, exc, now, now)
    post((_ENDED, token, *outcome))


def _timeout_error(unit: Unit) -> ErrorInfo:
    return ErrorInfo(
        StepTimeoutError.code,
        StepTimeoutError.__name__,
        f"tool {unit.tool!r} did not finish within timeout_s={unit.timeout_s}; its thread "
        "was abandoned and its result will be discarded",
    )


def drive_sync(
    machine: RunMachine,
    tools: Mapping[str, Tool],
    limit: int,
    pool: Callable[[], WorkerPool],
) -> None:
    """Run ``machine`` to the end with at most ``limit`` calls in flight.

    ``pool`` returns the executor's shared thread pool; it is asked for only when a call
    cannot run inline.
    """
    outcomes: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
    # token -> [unit, monotonic deadline or None, epoch start or None]
    running: dict[int, list[Any]] = {}
    token = 0
    while not machine.finished:
        units = machine.take(limit - len(running))
        # Inline when the run is sequential, or when this is the only call to make now.
        if len(units) == 1 and not running and (limit == 1 or not machine.queue):
            unit = units[0]
            tool = tools[unit.tool]
            if unit.timeout_s is None and not tool.is_async:
                report(machine, unit, *execute(tool, unit))
                continue
        for unit in units:
            token += 1
            running[token] = [unit, None, None]
            pool().post(_work, token, tools[unit.tool], unit, outcomes.put)
        if not running:
            if machine.finished:
                break
            raise RuntimeError("dagwright internal error: nothing runs and the run is not over")
        _wait(machine, outcomes, running)


def _wait(
    machine: RunMachine,
    outcomes: queue.SimpleQueue[tuple[Any, ...]],
    running: dict[int, list[Any]],
) -> None:
    """Block for the next outcome (or deadline), then handle every outcome already posted."""
    deadlines = [entry[1] for entry in running.values() if entry[1] is not None]
    timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
    try:
        message = outcomes.get(timeout=timeout)
    except queue.Empty:
        _expire(machine, running)
        return
    while True:
        entry = running.get(message[1])
        if entry is not None:  # else: a late result of an abandoned call
            if message[0] == _STARTED:
                entry[1] = message[2] + entry[0].timeout_s
                entry[2] = message[3]
            else:
                del running[message[1]]
                report(machine, entry[0], *message[2:])
        try:
            message = outcomes.get_nowait()
        except queue.Empty:
            break
    _expire(machine, running)


def _expire(machine: RunMachine, running: dict[int, list[Any]]) -> None:
    now = time.monotonic()
    for token, (unit, deadline, started) in list(running.items()):
        if deadline is not None and deadline <= now:
            del running[token]
            machine.fail(unit, _timeout_error(unit), _TIMEOUT_NAMES, started, time.time())

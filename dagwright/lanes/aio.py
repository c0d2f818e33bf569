"""The async lane: pumps a :class:`RunMachine` from a coroutine.

Same rules as the sync lane, written for an event loop: the machine decides, the lane
only takes units, runs calls and reports outcomes. Each call is a task; at most
``max_concurrency`` tasks of a run are in flight. An async tool is awaited on the loop;
a sync tool goes to the executor's bounded worker pool (never asyncio's default
executor), so blocking tools cannot starve the loop and share one bound with the sync
lane. When exactly one call is ready and nothing is in flight, an async tool is awaited
inline, with no task.

Failures: when the machine halts (a step failed under fail-fast), every in-flight call
of a halted frame is cancelled at once and recorded as cancelled; the run does not wait
for them. A sync tool's thread cannot be interrupted: its call is abandoned and its late
result discarded.

Timeouts: ``asyncio.timeout`` around the call, so a timed-out async tool is cancelled;
the step fails with ``StepTimeoutError``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

from dagwright._execution.scheduler import RunMachine
from dagwright._execution.trackers import Unit
from dagwright.errors import StepTimeoutError
from dagwright.events import Event
from dagwright.lanes.calls import Outcome, call_async, call_sync, next_round, report
from dagwright.lanes.observe import Observer
from dagwright.lanes.pool import WorkerPool
from dagwright.tools import Tool


def timeout_error(unit: Unit) -> StepTimeoutError:
    """The error of a call that overran its step's ``timeout_s``."""
    return StepTimeoutError(f"tool {unit.tool!r} did not finish within timeout_s={unit.timeout_s}")


def _invoke(tool: Tool, unit: Unit, pool: Callable[[], WorkerPool]) -> Awaitable[dict[str, Any]]:
    """The awaitable of one call: the tool's coroutine, or its run on the worker pool."""
    if tool.is_async:
        return call_async(tool, unit.inputs)
    loop = asyncio.get_running_loop()
    return loop.run_in_executor(pool(), call_sync, tool, unit.inputs)


async def execute_async(tool: Tool, unit: Unit, pool: Callable[[], WorkerPool]) -> Outcome:
    """Make one call of ``unit`` on the running loop (after its retry delay)."""
    if unit.delay:
        await asyncio.sleep(unit.delay)
    started = time.time()
    try:
        if unit.timeout_s is None:  # no timeout scope to enter on the common path
            outputs = await _invoke(tool, unit, pool)
        else:
            scope = asyncio.timeout(unit.timeout_s)
            try:
                async with scope:
                    outputs = await _invoke(tool, unit, pool)
            except TimeoutError as exc:
                if scope.expired():
                    raise timeout_error(unit) from exc
                raise
    except Exception as exc:
        return None, exc, started, time.time()
    return outputs, None, started, time.time()


async def drive_async(
    machine: RunMachine,
    tools: Mapping[str, Tool],
    limit: int,
    pool: Callable[[], WorkerPool],
    observer: Observer | None = None,
    save: Callable[[RunMachine], None] | None = None,
) -> AsyncGenerator[Event, None]:
    """Run ``machine`` to the end; yields events when ``observer`` keeps them for a stream.

    Closing the generator early (a stream consumer stopped) or cancelling the task that
    drives it cancels every call in flight and halts the run.
    """
    running: dict[asyncio.Task[Outcome], tuple[Unit, float]] = {}
    # Tasks report themselves done here and wake the driver: cheaper than asyncio.wait,
    # which re-registers a callback on every task in flight at each wait.
    ended = _Ended()
    loop = asyncio.get_running_loop()
    try:
        while not machine.finished:
            units, inline, events = next_round(machine, limit, len(running), save, observer)
            for event in events:
                yield event
            if inline:
                unit = units[0]
                tool = tools[unit.tool]
                if tool.is_async:
                    report(machine, unit, *(await execute_async(tool, unit, pool)))
                    continue
            for unit in units:
                task = loop.create_task(execute_async(tools[unit.tool], unit, pool))
                task.add_done_callback(ended.add)
                running[task] = (unit, time.time())
            if not running:
                if machine.finished:
                    break
                raise RuntimeError("dagwright internal error: nothing runs and the run is not over")
            await ended.wait(loop)
            while ended.tasks:
                task = ended.tasks.popleft()
                entry = running.pop(task, None)
                if entry is not None:  # else: cancelled, and already recorded as such
                    report(machine, entry[0], *task.result())
            if machine.halting and running:
                _cancel_halted(machine, running)
        if observer is not None:
            observer.collect(machine)
            for event in observer.take_pending():
                yield event
    finally:
        if running:
            machine.stop()
            for task in running:
                task.cancel()


class _Ended:
    """Tasks that finished since the driver last looked, and the driver's wake-up call."""

    __slots__ = ("tasks", "waiter")

    def __init__(self) -> None:
        self.tasks: deque[asyncio.Task[Outcome]] = deque()
        self.waiter: asyncio.Future[None] | None = None

    def add(self, task: asyncio.Task[Outcome]) -> None:
        self.tasks.append(task)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, loop: asyncio.AbstractEventLoop) -> None:
        """Return once at least one task has ended."""
        if not self.tasks:
            self.waiter = loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None


def _cancel_halted(
    machine: RunMachine, running: dict[asyncio.Task[Any], tuple[Unit, float]]
) -> None:
    """Cancel the calls a failure halted, and record them as cancelled now."""
    now = time.time()
    for task, (unit, dispatched) in list(running.items()):
        if machine.is_halted(unit):
            task.cancel()
            del running[task]
            machine.cancel(unit, dispatched, now)

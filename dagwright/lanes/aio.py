"""The async lane: pumps a :class:`RunMachine` from a coroutine.

Same rules as the sync lane, written for an event loop: the machine decides, the lane
only takes units, runs calls and reports outcomes. Each call is a task; at most
``max_concurrency`` tasks of a run are in flight. An async tool is awaited on the loop;
a sync tool goes to the executor's bounded worker pool (never asyncio's default
executor), so blocking tools cannot starve the loop and share one bound with the sync
lane. When exactly one call is ready and nothing is in flight, an async tool is awaited
inline, with no task. A remote runner (:mod:`dagwright.lanes.runner`) takes every call,
async tools' included; each is a task awaiting the runner's outcome.

Faults (rules in :mod:`dagwright.lanes.calls`): when the machine halts (a step failed
under fail-fast), the in-flight async calls of the halted frames are cancelled at once
and recorded as cancelled; sync calls on the pool finish and are recorded with their
real outcome, as on the sync lane. A ``CancelledError`` that a tool raises itself is a
tool failure; one that comes from cancelling the driver propagates.

Timeouts run from the start of the call: an async tool runs under ``asyncio.timeout``
and is cancelled when it overruns; a sync tool's deadline starts when a pool worker
starts it, and when it overruns the call is abandoned (the pool replaces its worker).
Both record the same ``StepTimeoutError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from dagwright._execution.scheduler import RunMachine
from dagwright._execution.trackers import Unit
from dagwright.cache.protocol import StepCache
from dagwright.lanes.calls import (
    Outcome,
    call_async,
    next_round,
    report,
    timeout_error,
    to_cancel,
)
from dagwright.lanes.runner import CallRunner
from dagwright.tools import Tool

if TYPE_CHECKING:
    from dagwright.events import Event
    from dagwright.lanes.observe import Observer


def _cancelled_from_outside() -> bool:
    """Whether the running task is being cancelled (not a tool raising CancelledError)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def execute_async(
    tool: Tool, unit: Unit, runner: CallRunner, cache: StepCache | None = None
) -> Outcome:
    """Make one call of ``unit`` (after its retry delay): an async tool on the running
    loop, anything else on ``runner``; never raises but for the cancellation of the task
    running it."""
    if unit.delay:
        await asyncio.sleep(unit.delay)
    if runner.remote or not tool.is_async:
        return await _on_runner(tool, unit, runner, cache)
    started = time.time()
    try:
        if unit.timeout_s is None:  # no timeout scope to enter on the common path
            outputs, hit = await call_async(tool, unit, cache)
        else:
            scope = asyncio.timeout(unit.timeout_s)
            try:
                async with scope:
                    outputs, hit = await call_async(tool, unit, cache)
            except TimeoutError as exc:
                if scope.expired():
                    return None, timeout_error(unit), started, time.time(), False
                return None, exc, started, time.time(), False
    except asyncio.CancelledError as exc:
        if _cancelled_from_outside():
            raise
        return None, exc, started, time.time(), False
    except BaseException as exc:
        return None, exc, started, time.time(), False
    return outputs, None, started, time.time(), hit


def _resolver(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]
) -> Callable[[Any], None]:
    """A callable a worker thread may call to resolve ``future`` on ``loop``."""

    def resolve(value: Any) -> None:
        # A closed loop raises RuntimeError: nobody waits for this value any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_set, future, value)

    return resolve


def _set(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


async def _on_runner(
    tool: Tool, unit: Unit, runner: CallRunner, cache: StepCache | None
) -> Outcome:
    """A call on ``runner``, awaited. On a local runner its timeout runs from its start
    here; a remote runner keeps the timeout itself."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[Outcome] = loop.create_future()
    started: asyncio.Future[float] | None = None
    if unit.timeout_s is not None and not runner.remote:
        started = loop.create_future()
    on_start = None if started is None else _resolver(loop, started)
    ticket = runner.submit_call(tool, unit, 0.0, on_start, _resolver(loop, ended), cache)
    try:
        if started is None or unit.timeout_s is None:
            return await ended
        start = await started
        epoch = time.time() - (time.monotonic() - start)
        remaining = start + unit.timeout_s - time.monotonic()
        done, _ = await asyncio.wait((ended,), timeout=max(remaining, 0.0))
        if done:
            return ended.result()
        runner.cancel_call(ticket, unit, "timeout")
        return None, timeout_error(unit), epoch, time.time(), False
    except asyncio.CancelledError:
        runner.cancel_call(ticket, unit, "the run stopped")
        raise


async def drive_async(
    machine: RunMachine,
    tools: Mapping[str, Tool],
    limit: int,
    runner: CallRunner,
    observer: Observer | None = None,
    save: Callable[[RunMachine], None] | None = None,
    cache: StepCache | None = None,
) -> AsyncGenerator[Event, None]:
    """Run ``machine`` to the end; yields events when ``observer`` keeps them for a stream.

    ``cache`` is the executor's step cache, if any. Closing the generator early (a
    stream consumer stopped) or cancelling the task that drives it cancels every call in
    flight and halts the run.
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
            if inline and not runner.remote:
                unit = units[0]
                tool = tools[unit.tool]
                if tool.is_async:
                    report(machine, unit, *(await execute_async(tool, unit, runner, cache)))
                    continue
            for unit in units:
                task = loop.create_task(execute_async(tools[unit.tool], unit, runner, cache))
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
                _cancel_halted(machine, running, tools, runner)
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
    machine: RunMachine,
    running: dict[asyncio.Task[Outcome], tuple[Unit, float]],
    tools: Mapping[str, Tool],
    runner: CallRunner,
) -> None:
    """Cancel the calls a failure halted (see ``to_cancel``), and record them cancelled now."""
    pairs = ((task, unit) for task, (unit, _) in running.items())
    tasks = to_cancel(machine, pairs, tools, runner)
    if not tasks:
        return
    now = time.time()
    for task in tasks:
        unit, dispatched = running.pop(task)
        task.cancel()
        machine.cancel(unit, dispatched, now)

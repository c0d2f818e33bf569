"""The sync lane: pumps a :class:`RunMachine` from the calling thread.

Dispatch is dependency-driven: whenever a slot is free the lane takes every unit the
machine has ready (up to the free slots) and posts it to the executor's bounded worker
pool; it then waits for the next outcome, reports it, and takes again. There are no
levels and no barriers. When exactly one unit is ready and nothing is in flight, the
unit runs inline in the calling thread: a linear flow never pays for a pool hop, and
``max_concurrency=1`` runs every call in the calling thread, one at a time.

Async tools run on one private event loop per run, on a thread of its own, started the
first time the run meets an async tool: never ``asyncio.run`` per call, and ``run()``
works when called from inside a running event loop.

Timeouts: a thread cannot be killed. A sync call with ``timeout_s`` always runs on the
pool; when it overruns, the lane stops waiting, reports a ``StepTimeoutError`` and
discards the call's late result. The abandoned thread keeps its pool worker until the
tool returns. An async call is cancelled on its loop when it overruns.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from dagwright._execution.scheduler import RunMachine
from dagwright._execution.trackers import Unit
from dagwright.errors import StepTimeoutError
from dagwright.events import Event
from dagwright.lanes.calls import Outcome, describe_failure, execute, next_round, report
from dagwright.lanes.observe import Observer
from dagwright.lanes.pool import WorkerPool
from dagwright.tools import Tool

if TYPE_CHECKING:
    import asyncio

_TIMEOUT_NAMES = describe_failure(StepTimeoutError(""))[1]

# Messages from workers to the driving thread.
_STARTED = 0
_ENDED = 1


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


class _RunLoop:
    """A private event loop on its own thread, for the async tools of one sync run."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def submit(self, tool: Tool, unit: Unit, pool: Callable[[], WorkerPool]) -> Future[Outcome]:
        """Start one call of an async tool on the loop."""
        import asyncio

        from dagwright.lanes.aio import execute_async

        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="dagwright-loop", daemon=True
            )
            self._thread.start()
        return asyncio.run_coroutine_threadsafe(execute_async(tool, unit, pool), self._loop)

    def close(self) -> None:
        """Cancel what still runs on the loop, stop it and close it."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        def stop() -> None:
            import asyncio

            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.call_soon(loop.stop)

        loop.call_soon_threadsafe(stop)
        thread.join()
        loop.close()


def drive_sync(
    machine: RunMachine,
    tools: Mapping[str, Tool],
    limit: int,
    pool: Callable[[], WorkerPool],
    observer: Observer | None = None,
    save: Callable[[RunMachine], None] | None = None,
) -> Generator[Event, None, None]:
    """Run ``machine`` to the end; yields events when ``observer`` keeps them for a stream.

    ``pool`` returns the executor's shared worker pool; it is asked for only when a call
    cannot run inline. Closing the generator early (a stream consumer stopped) halts the
    run and abandons the calls in flight.
    """
    outcomes: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
    # token -> [unit, monotonic deadline or None, epoch start or None]
    running: dict[int, list[Any]] = {}
    loop = _RunLoop()
    token = 0
    try:
        while not machine.finished:
            units, inline, events = next_round(machine, limit, len(running), save, observer)
            yield from events
            if inline:
                unit = units[0]
                tool = tools[unit.tool]
                if tool.is_async:
                    report(machine, unit, *loop.submit(tool, unit, pool).result())
                    continue
                if unit.timeout_s is None:
                    report(machine, unit, *execute(tool, unit))
                    continue
            for unit in units:
                token += 1
                running[token] = [unit, None, None]
                tool = tools[unit.tool]
                if tool.is_async:
                    future = loop.submit(tool, unit, pool)
                    future.add_done_callback(_poster(token, outcomes.put))
                else:
                    pool().post(_work, token, tool, unit, outcomes.put)
            if not running:
                if machine.finished:
                    break
                raise RuntimeError("dagwright internal error: nothing runs and the run is not over")
            _wait(machine, outcomes, running)
        if observer is not None:
            observer.collect(machine)
            yield from observer.take_pending()
    finally:
        if not machine.finished:
            machine.stop()
        loop.close()


def _poster(
    token: int, post: Callable[[tuple[Any, ...]], None]
) -> Callable[[Future[Outcome]], None]:
    def done(future: Future[Outcome]) -> None:
        if not future.cancelled():
            post((_ENDED, token, *future.result()))

    return done


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
            error = StepTimeoutError(
                f"tool {unit.tool!r} did not finish within timeout_s={unit.timeout_s}; "
                "its thread was abandoned and its result will be discarded"
            )
            info, _ = describe_failure(error)
            machine.fail(unit, info, _TIMEOUT_NAMES, started, time.time(), cause=error)

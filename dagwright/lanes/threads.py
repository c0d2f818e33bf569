"""The sync lane: pumps a :class:`RunMachine` from the calling thread.

Dispatch is dependency-driven: whenever a slot is free the lane takes every unit the
machine has ready (up to the free slots) and posts it to the executor's bounded worker
pool; it then waits for the next outcome, reports it, and takes again. There are no
levels and no barriers. When exactly one unit is ready and nothing is in flight, a sync
unit with no timeout runs inline in the calling thread: a linear flow never pays for a
pool hop, and ``max_concurrency=1`` runs every such call in the calling thread.

Async tools run on one private event loop per run, on a thread of its own, started the
first time the run meets an async tool: never ``asyncio.run`` per call, and ``run()``
works when called from inside a running event loop. Their outcomes come back through
the same queue as the pool's, so the driver only ever waits in one place, and that wait
ends when the loop's thread dies, too.

Calls that do not run inline or on the private loop go to the executor's runner
(:mod:`dagwright.lanes.runner`): the worker pool by default. A remote runner takes every
call, async tools' included, and keeps their timeouts itself.

Faults (rules in :mod:`dagwright.lanes.calls`): a sync call with ``timeout_s`` always
runs on the pool and its deadline runs from the moment a worker starts it; when it
overruns, the lane records the timeout and abandons the call, whose worker the pool
replaces. An async call is cancelled on its loop when it overruns. A halt cancels the
async calls of the halted frames; sync calls finish and are recorded. When the run
stops (a fatal exception, a store fault, a stream consumer leaving), async calls are
cancelled and sync calls abandoned.
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
from dagwright.cache.protocol import StepCache
from dagwright.lanes.calls import (
    FATAL,
    Outcome,
    execute,
    next_round,
    report,
    timeout_error,
    to_cancel,
)
from dagwright.lanes.pool import mark_serving
from dagwright.lanes.runner import CallRunner
from dagwright.tools import Tool

if TYPE_CHECKING:
    import asyncio

    from dagwright.events import Event
    from dagwright.lanes.observe import Observer

# Messages to the driving thread: (kind, token, payload...).
_STARTED = 0  # a pooled call with a timeout started: monotonic and epoch start
_ENDED = 1  # a call ended: its outcome
_DIED = 2  # the private loop's thread died: the exception


class _Call:
    """One call in flight: what the driver knows of it, and how it reports back."""

    __slots__ = ("deadline", "dispatched", "future", "post", "started", "ticket", "token", "unit")

    def __init__(self, unit: Unit, token: int, post: Callable[[tuple[Any, ...]], None]) -> None:
        self.unit = unit
        self.token = token
        self.post = post
        self.dispatched: float | None = None  # epoch, for a call a halt may cancel
        self.ticket: object | None = None  # a call on the runner
        self.future: Future[Outcome] | None = None  # an async call on the private loop
        self.deadline: float | None = None  # monotonic, once a timed call started
        self.started: float | None = None  # epoch, likewise

    def begun(self, at: float) -> None:
        """A pooled call with a timeout started (monotonic ``at``): called by its worker."""
        self.post((_STARTED, self.token, at, time.time()))

    def ended(self, outcome: Outcome) -> None:
        """A pooled call ended: called by its worker."""
        self.post((_ENDED, self.token, outcome))


class _RunLoop:
    """A private event loop on its own thread, for the async tools of one sync run."""

    def __init__(self, post: Callable[[tuple[Any, ...]], None]) -> None:
        self._post = post
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def submit(
        self,
        tool: Tool,
        unit: Unit,
        runner: CallRunner,
        token: int,
        cache: StepCache | None,
    ) -> Future[Outcome]:
        """Start one call of an async tool on the loop; its outcome is posted as it ends."""
        import asyncio

        from dagwright.lanes.aio import execute_async

        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._serve, name="dagwright-loop", daemon=True)
            self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            execute_async(tool, unit, runner, cache), self._loop
        )
        future.add_done_callback(self._poster(token))
        return future

    def _serve(self) -> None:
        assert self._loop is not None
        mark_serving()
        try:
            self._loop.run_forever()
        except BaseException as exc:
            self._post((_DIED, 0, exc))

    def _poster(self, token: int) -> Callable[[Future[Outcome]], None]:
        post = self._post

        def done(future: Future[Outcome]) -> None:
            if not future.cancelled():
                try:
                    outcome = future.result()
                except BaseException as exc:  # execute_async never raises; be safe anyway
                    now = time.time()
                    outcome = (None, exc, now, now, False)
                post((_ENDED, token, outcome))

        return done

    def close(self) -> None:
        """Cancel what still runs on the loop, stop it and close it.

        The join is bounded: a tool that blocks its loop's thread must not hang the run.
        """
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        def stop() -> None:
            import asyncio

            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.call_soon(loop.stop)

        try:
            loop.call_soon_threadsafe(stop)
        except RuntimeError:  # already closed
            return
        thread.join(timeout=5.0)
        if not thread.is_alive():
            loop.close()


def drive_sync(
    machine: RunMachine,
    tools: Mapping[str, Tool],
    limit: int,
    runner: CallRunner,
    observer: Observer | None = None,
    save: Callable[[RunMachine], None] | None = None,
    cache: StepCache | None = None,
) -> Generator[Event, None, None]:
    """Run ``machine`` to the end; yields events when ``observer`` keeps them for a stream.

    ``runner`` takes the calls that do not run inline or on the run's event loop (every
    call, when it is remote). ``cache`` is the executor's step cache, if any. Closing the
    generator early (a stream consumer stopped), a fatal exception from a tool and a
    failing ``save`` stop the run: nothing new starts, async calls in flight are
    cancelled and sync ones abandoned.
    """
    outcomes: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
    post = outcomes.put
    running: dict[int, _Call] = {}
    loop = _RunLoop(post)
    token = 0
    try:
        while not machine.finished:
            units, inline, events = next_round(machine, limit, len(running), save, observer)
            yield from events
            if inline and not runner.remote:
                unit = units[0]
                tool = tools[unit.tool]
                if not tool.is_async and unit.timeout_s is None:
                    report(machine, unit, *execute(tool, unit, unit.delay, cache))
                    continue
            for unit in units:
                token += 1
                call = _Call(unit, token, post)
                running[token] = call
                tool = tools[unit.tool]
                call.dispatched = time.time()
                if tool.is_async and not runner.remote:
                    call.future = loop.submit(tool, unit, runner, token, cache)
                else:
                    timed = unit.timeout_s is not None and not runner.remote
                    call.ticket = runner.submit_call(
                        tool, unit, unit.delay, call.begun if timed else None, call.ended, cache
                    )
            if not running:
                if machine.finished:
                    break
                raise RuntimeError("dagwright internal error: nothing runs and the run is not over")
            _wait(machine, outcomes, running, runner)
            _cancel_halted(machine, running, tools, runner)
        if observer is not None:
            observer.collect(machine)
            yield from observer.take_pending()
    finally:
        if not machine.finished:
            machine.stop()
            for call in running.values():
                if call.future is not None:
                    call.future.cancel()
                elif call.ticket is not None:
                    runner.cancel_call(call.ticket, call.unit, "the run stopped")
        loop.close()


def _wait(
    machine: RunMachine,
    outcomes: queue.SimpleQueue[tuple[Any, ...]],
    running: dict[int, _Call],
    runner: CallRunner,
) -> None:
    """Block for the next message (or deadline), then handle every message already posted."""
    deadlines = [call.deadline for call in running.values() if call.deadline is not None]
    timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
    try:
        message = outcomes.get(timeout=timeout)
    except queue.Empty:
        _expire(machine, running, runner)
        return
    while True:
        kind = message[0]
        if kind == _DIED:
            died = message[2]
            if isinstance(died, FATAL):
                raise died
            raise RuntimeError(
                "dagwright internal error: the event loop of this run's async tools stopped"
            ) from died
        call = running.get(message[1])
        if call is not None:  # else: a late result of an abandoned or cancelled call
            if kind == _STARTED:
                call.deadline = message[2] + (call.unit.timeout_s or 0.0)
                call.started = message[3]
            else:
                del running[message[1]]
                report(machine, call.unit, *message[2])
        try:
            message = outcomes.get_nowait()
        except queue.Empty:
            break
    _expire(machine, running, runner)


def _expire(machine: RunMachine, running: dict[int, _Call], runner: CallRunner) -> None:
    now = time.monotonic()
    for token, call in list(running.items()):
        if call.deadline is not None and call.deadline <= now:
            del running[token]
            assert call.ticket is not None
            runner.cancel_call(call.ticket, call.unit, "timeout")
            report(machine, call.unit, None, timeout_error(call.unit), call.started or 0.0,
                   time.time(), False)  # fmt: skip


def _cancel_halted(
    machine: RunMachine, running: dict[int, _Call], tools: Mapping[str, Tool], runner: CallRunner
) -> None:
    """Cancel the calls a failure halted (see ``to_cancel``), and record them cancelled now."""
    pairs = ((token, call.unit) for token, call in running.items())
    tokens = to_cancel(machine, pairs, tools, runner)
    if not tokens:
        return
    now = time.time()
    for token in tokens:
        call = running.pop(token)
        if call.future is not None:
            call.future.cancel()
        else:
            runner.cancel_call(call.ticket, call.unit, "a failure halted the run")
        machine.cancel(call.unit, call.dispatched, now)

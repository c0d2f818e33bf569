"""``DaskRunner``: every tool call of a run made on a Dask cluster.

Theory of operation. The lanes stay in the driver and hand each ready call (a step or
one map instance) to :meth:`DaskRunner.submit_call`, which validates its input and
looks it up in the step cache right there, in the driver. A call still to make joins an
outbox; the first call into an empty outbox schedules a flush on the client's event
loop, which submits everything gathered meanwhile as one batch (``client.map`` with a
key per call), so a round of ready calls costs the scheduler one graph update. Each
future reports done to a queue; one collector thread per runner takes every future done
so far and fetches their results with one ``client.gather``, validates each output,
stores it in the cache and hands the outcome back to its lane. The workers run
:func:`dagwright.runners._remote.run_call`.

Faults:

* A tool that cannot be pickled (driver) or loaded on a worker is ``ToolUnavailableError``;
  a worker that dies under a call is ``WorkerLostError`` (retried by the step's policy,
  once Dask gives the task up: see ``distributed.scheduler.allowed-failures``); a closed
  client, a task Dask cancelled or refused is ``RunnerError``. Each is recorded for its
  step, with the tool and step in the message.
* The collector checks the client every second while calls are out, so a client closed
  under a run ends that run's calls instead of leaving the lane waiting.
* A cancelled call (a halt, the run stopping) has its future cancelled on the cluster
  without waiting; a worker thread already running it finishes and its result is dropped.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dagwright._call_context import context_of
from dagwright._logging import get_logger
from dagwright.errors import (
    IntegrationUnavailableError,
    RunnerError,
    ToolOutputError,
    ToolUnavailableError,
    UsageError,
    WorkerLostError,
    keep_own_pickling,
)
from dagwright.lanes.calls import Outcome, begin, end, timeout_error
from dagwright.runners import _remote
from dagwright.runners._shipping import tool_ref
from dagwright.tools import Tool

if TYPE_CHECKING:
    from distributed import Client

    from dagwright._execution.trackers import Unit
    from dagwright.cache.protocol import CacheKey, StepCache

# Dask's futures, client internals and event loop are untyped at this boundary.
Future = Any

_POLL_S = 1.0  # how often the collector checks the client while calls are out

_PENDING, _SENT, _ENDED = 0, 1, 2


class _DaskCall:
    """One call on the cluster (the ticket a lane holds); the runner's lock guards it."""

    __slots__ = (
        "cache",
        "cache_key",
        "future",
        "key",
        "on_end",
        "payload",
        "state",
        "tool",
        "unit",
    )

    def __init__(
        self, tool: Tool, unit: Unit, on_end: Callable[[Outcome], None], cache: StepCache | None
    ) -> None:
        self.tool = tool
        self.unit = unit
        self.on_end = on_end
        self.cache = cache
        self.cache_key: CacheKey | None = None
        self.key = ""
        self.payload: tuple[Any, ...] = ()
        self.future: Future | None = None
        self.state = _PENDING

    def where(self) -> str:
        index = "" if self.unit.index is None else f"[{self.unit.index}]"
        return f"tool {self.tool.name!r} (step {self.unit.step.id!r}{index})"


class DaskRunner:
    """Makes every tool call of a run on a Dask cluster, through ``client``.

    Pass it as ``FlowExecutor(tools, runner=DaskRunner(client))``. Scheduling,
    input and output validation, the step cache and the checkpoint journal stay in this
    process; each ready call is submitted with its validated input and its result comes
    back here, so a run has the same outputs, records (without times) and digest as a
    local one. ``max_concurrency`` bounds the calls a run has on the cluster at once;
    timeouts run on the worker from the call's start; a halt cancels the futures.

    ``client`` is a ``distributed.Client`` (not ``asynchronous=True``: ``arun`` bridges
    its futures to the running loop). The runner does not own it: closing the runner
    stops its collector thread and cancels its calls, never the client. One runner may
    serve several executors and runs at once. Needs the ``dask`` extra.
    """

    remote = True

    def __init__(self, client: Client) -> None:
        try:
            import distributed
        except ImportError as exc:
            raise IntegrationUnavailableError(
                "DaskRunner needs dask.distributed, which is not installed",
                hint="pip install 'dagwright[dask]'",
            ) from exc
        keep_own_pickling()
        if not isinstance(client, distributed.Client):
            raise UsageError(
                f"DaskRunner needs a distributed.Client, got {type(client).__name__}",
                hint="connect with distributed.Client('tcp://scheduler:8786') and pass it",
            )
        if client.asynchronous:
            raise UsageError(
                "DaskRunner needs a client made without asynchronous=True",
                hint="create distributed.Client(address); FlowExecutor.arun bridges its "
                "futures to your event loop",
            )
        self._client: Any = client
        self._lock = threading.Lock()
        self._refs: dict[int, tuple[Tool, Any]] = {}  # id(tool) -> (tool, ToolRef or error)
        self._outbox: list[_DaskCall] = []
        self._flushing = False
        self._pending: dict[str, _DaskCall] = {}  # Dask key -> call on the cluster
        # Keys of done futures (never the futures: a queued future would keep its task's
        # result on the cluster).
        self._done: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._collector: threading.Thread | None = None
        self._closed = False
        self._serial = itertools.count()
        self._prefix = uuid.uuid4().hex[:12]

    @property
    def client(self) -> Client:
        """The client calls are submitted through."""
        client: Client = self._client
        return client

    # ---- the runner protocol ---------------------------------------------------------

    def submit_call(
        self,
        tool: Tool,
        unit: Unit,
        delay: float,
        on_start: Callable[[float], None] | None,
        on_end: Callable[[Outcome], None],
        cache: StepCache | None,
    ) -> _DaskCall:
        """Validate and look up the call here, then send it to the cluster after ``delay``
        seconds; ``on_end`` gets its outcome (``on_start`` is not used: the worker
        keeps the timeout)."""
        call = _DaskCall(tool, unit, on_end, cache)
        now = time.time()
        try:
            model, call.cache_key, hit = begin(tool, unit.inputs, cache)
        except BaseException as exc:
            self._end(call, (None, exc, now, now, False))
            return call
        if hit is not None:
            self._end(call, (hit, None, now, time.time(), True))
            return call
        ref = self._ref(tool)
        refused = self._refusal(call)
        if refused is None and isinstance(ref, BaseException):
            refused = ref
        if refused is not None:
            self._end(call, (None, refused, now, now, False))
            return call
        call.key = f"{tool.name}-{self._prefix}-{next(self._serial)}"
        call.payload = (ref, model.__getstate__(), unit.timeout_s, context_of(unit))
        if delay > 0:
            self._later(delay, call)
        else:
            self._enqueue(call)
        return call

    def cancel_call(self, ticket: object, unit: Unit, why: str) -> None:
        """Cancel the call on the cluster, without waiting; its outcome is dropped."""
        assert isinstance(ticket, _DaskCall)
        with self._lock:
            if ticket.state == _ENDED:
                return
            ticket.state = _ENDED
            future, ticket.future = ticket.future, None
            self._pending.pop(ticket.key, None)
        get_logger().debug(
            "call_cancelled", step_id=unit.step.id, index=unit.index, tool=unit.tool, reason=why
        )
        if future is not None:
            self._cancel([future])

    def close(self) -> None:
        """Cancel the calls still out, end them as ``RunnerError`` and stop the collector.
        The client stays open; the runner refuses calls from now on."""
        with self._lock:
            self._closed = True
        self._fail_all("the DaskRunner was closed while the call was on the cluster")
        self._done.put(None)

    def __enter__(self) -> DaskRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- sending ---------------------------------------------------------------------

    def _refusal(self, call: _DaskCall) -> BaseException | None:
        """Why the runner or its client cannot take the call now, if they cannot."""
        if self._closed:
            return RunnerError(
                f"{call.where()}: this DaskRunner is closed",
                hint="make a new DaskRunner(client) for new runs",
            )
        status = self._client.status
        if status not in ("running", "connecting", "newly-created"):
            return RunnerError(
                f"{call.where()}: the Dask client is {status}",
                hint="connect a new distributed.Client and pass DaskRunner(client) to a new "
                "FlowExecutor",
            )
        return None

    def _ref(self, tool: Tool) -> Any:
        """The tool's ``ToolRef`` (computed once per tool), or why it cannot be sent."""
        entry = self._refs.get(id(tool))
        if entry is not None and entry[0] is tool:
            return entry[1]
        try:
            ref: Any = tool_ref(tool)
        except ToolUnavailableError as exc:
            ref = exc
        self._refs[id(tool)] = (tool, ref)
        return ref

    def _later(self, delay: float, call: _DaskCall) -> None:
        loop = self._client.loop
        try:
            loop.add_callback(loop.call_later, delay, self._enqueue, call)
        except RuntimeError:  # the client's loop is closed
            self._lost_client([call])

    def _enqueue(self, call: _DaskCall) -> None:
        with self._lock:
            if call.state != _PENDING:
                return
            self._outbox.append(call)
            if self._flushing:
                return
            self._flushing = True
        try:
            self._client.loop.add_callback(self._flush)
        except RuntimeError:
            with self._lock:
                calls, self._outbox, self._flushing = self._outbox, [], False
            self._lost_client(calls)

    def _flush(self) -> None:
        """On the client's loop: submit every call in the outbox as one batch."""
        with self._lock:
            calls = [call for call in self._outbox if call.state == _PENDING]
            self._outbox = []
            self._flushing = False
        if not calls:
            return
        try:
            futures = self._client.map(
                _remote.run_call,
                [call.payload[0] for call in calls],
                [call.payload[1] for call in calls],
                [call.payload[2] for call in calls],
                [call.payload[3] for call in calls],
                key=[call.key for call in calls],
                pure=False,
            )
        except Exception as exc:
            self._refused(calls, exc)
            return
        dropped: list[Future] = []
        with self._lock:
            for call, future in zip(calls, futures, strict=True):
                call.payload = ()
                if call.state != _PENDING:  # cancelled while in the outbox
                    dropped.append(future)
                    continue
                call.state = _SENT
                call.future = future
                self._pending[call.key] = call
            self._start_collector()
        for future in futures:
            future.add_done_callback(self._report_done)
        if dropped:
            self._cancel(dropped)

    def _report_done(self, future: Future) -> None:
        self._done.put(future.key)

    def _cancel(self, futures: list[Future]) -> None:
        # A closed loop raises RuntimeError: nothing runs there any more.
        with contextlib.suppress(RuntimeError):
            self._client.loop.add_callback(
                functools.partial(self._client.cancel, futures, asynchronous=True)
            )

    # ---- collecting ------------------------------------------------------------------

    def _start_collector(self) -> None:
        """Start the collector thread if it is not running (the lock is held)."""
        if self._collector is None or not self._collector.is_alive():
            self._collector = threading.Thread(
                target=self._collect, name="dagwright-dask-collector", daemon=True
            )
            self._collector.start()

    def _collect(self) -> None:
        while True:
            try:
                first = self._done.get(timeout=_POLL_S)
            except queue.Empty:
                if self._client.status in ("closing", "closed"):
                    self._fail_all("the Dask client was closed while the call was on the cluster")
                with self._lock:
                    if self._closed or not (self._pending or self._outbox):
                        self._collector = None
                        return
                continue
            batch = [first]
            while True:
                try:
                    batch.append(self._done.get_nowait())
                except queue.Empty:
                    break
            if None in batch and self._closed:
                return
            try:
                self._settle([key for key in batch if key is not None])
            except Exception as exc:  # never let the collector die with calls out
                get_logger().error("dask_collector_failed", error=repr(exc))

    def _settle(self, keys: list[str]) -> None:
        """End the calls of these done futures: results fetched in one gather."""
        finished: list[tuple[Future, _DaskCall]] = []
        erred: list[tuple[Future, _DaskCall]] = []
        with self._lock:
            for key in keys:
                call = self._pending.pop(key, None)
                if call is None or call.state != _SENT:
                    continue  # cancelled: its outcome is dropped
                future, call.future = call.future, None
                assert future is not None  # a sent call has its future
                (finished if future.status == "finished" else erred).append((future, call))
        for future, call in erred:
            self._end(call, self._failure(future, call))
        if not finished:
            return
        try:
            blobs = self._client.gather([future for future, _ in finished])
        except Exception:
            blobs = [self._gather_one(future, call) for future, call in finished]
        for (_, call), blob in zip(finished, blobs, strict=True):
            self._end(call, blob if isinstance(blob, tuple) else self._outcome(call, blob))

    def _gather_one(self, future: Future, call: _DaskCall) -> bytes | Outcome:
        try:
            blob: bytes = self._client.gather(future)
        except Exception as exc:
            now = time.time()
            if self._client.status in ("closing", "closed"):
                error: BaseException = RunnerError(
                    f"{call.where()}: the Dask client was closed before its result came back"
                )
            else:
                error = WorkerLostError(
                    f"{call.where()}: its result was lost with the worker holding it: "
                    f"{type(exc).__name__}: {exc}",
                    hint="the step's retry policy decides whether it runs again",
                )
            return None, error, now, now, False
        return blob

    def _outcome(self, call: _DaskCall, blob: bytes) -> Outcome:
        """A worker's envelope as the call's outcome (outputs validated here)."""
        try:
            kind, payload, started, ended = _remote.read_envelope(blob)
        except Exception as exc:
            now = time.time()
            error = ToolOutputError(
                f"output of {call.where()} cannot be loaded in the driver: "
                f"{type(exc).__name__}: {exc}",
                hint="return values whose classes the driver can import",
            )
            return None, error, now, now, False
        if kind == _remote.RETURNED:
            form, value = payload
            if form == _remote.MODEL:
                schema = call.tool.output_schema
                value = schema.__new__(schema)
                value.__setstate__(payload[1])
            try:
                outputs = end(call.tool, value, call.cache_key, call.cache)
            except Exception as exc:
                return None, exc, started, ended, False
            return outputs, None, started, ended, False
        if kind == _remote.TIMED_OUT:
            return None, timeout_error(call.unit), started, ended, False
        return None, payload, started, ended, False  # FAILED or FATAL_EXIT

    def _failure(self, future: Future, call: _DaskCall) -> Outcome:
        """The outcome of a future that erred or was cancelled outside dagwright."""
        now = time.time()
        error: BaseException
        if future.status == "cancelled":
            error = RunnerError(
                f"{call.where()}: Dask cancelled the call's task (the client was closed, "
                "or its key was cancelled)",
                hint="keep the client open while runs use it",
            )
            return None, error, now, now, False
        try:
            exc = future.exception(timeout=30)
        except Exception as fetch:
            exc = fetch
        name = type(exc).__name__
        if name == "KilledWorker":
            error = WorkerLostError(
                f"{call.where()}: the worker running it died or left the cluster: {exc}",
                hint="the step's retry policy decides whether it runs again; check the "
                "workers' logs (memory limits, crashes)",
            )
        elif isinstance(exc, ImportError):
            error = ToolUnavailableError(
                f"{call.where()}: the worker cannot load the call: {name}: {exc}",
                hint="install dagwright and the tools' modules on every worker",
            )
        else:
            error = RunnerError(
                f"{call.where()}: Dask could not run the call: {name}: {exc}",
                hint="check the scheduler's and workers' logs",
            )
        return None, error, now, now, False

    # ---- ending calls ----------------------------------------------------------------

    def _end(self, call: _DaskCall, outcome: Outcome) -> None:
        """Give ``outcome`` to the call's lane, once."""
        call.state = _ENDED
        try:
            call.on_end(outcome)
        except Exception as exc:  # a lane's on_end only posts; never kill the collector
            get_logger().error("dask_outcome_lost", tool=call.tool.name, error=repr(exc))

    def _refused(self, calls: list[_DaskCall], exc: Exception) -> None:
        now = time.time()
        for call in calls:
            error = RunnerError(
                f"{call.where()}: the Dask client refused the call: {type(exc).__name__}: {exc}",
                hint="check that the client is connected to a running scheduler",
            )
            with self._lock:
                if call.state == _ENDED:
                    continue
                call.state = _ENDED
            self._end(call, (None, error, now, now, False))

    def _lost_client(self, calls: list[_DaskCall]) -> None:
        self._refused(calls, RuntimeError("the client's event loop is closed"))

    def _fail_all(self, why: str) -> None:
        """End every call still out or waiting to go out with ``RunnerError(why)``."""
        with self._lock:
            calls = list(self._pending.values()) + list(self._outbox)
            self._pending.clear()
            self._outbox = []
            futures = [call.future for call in calls if call.future is not None]
            for call in calls:
                call.future = None
        now = time.time()
        for call in calls:
            if call.state == _ENDED:
                continue
            self._end(call, (None, RunnerError(f"{call.where()}: {why}"), now, now, False))
        if futures:
            self._cancel(futures)

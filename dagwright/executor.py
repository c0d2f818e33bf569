"""FlowExecutor: the public facade over the lanes.

The executor holds what runs share: the tools, the flow registry, compiled plans, the
bounded thread pool and the heartbeat that renews run leases. Nothing run-scoped lives
on it, so one executor can serve many runs at once from many threads. Each run gets its
own :class:`RunMachine` (the pure core) and a lane drives it.

Ownership: with a checkpointer, a run holds its lease from ``begin`` (or ``acquire``, for
a resume) until it finishes; the heartbeat renews it meanwhile. A run that stops
without finishing (a ``KeyboardInterrupt``, a stream left early) is recorded
``interrupted`` and its lease released, so it can be resumed at once.

Shutdown: ``close()`` refuses new runs, waits for the runs in flight, then stops the
pool (never waiting for abandoned calls) and the heartbeat. Called from a thread that
serves a run of its own (a tool, a hook), it does not wait: the last run to end shuts
the pool down instead.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from dagwright._execution.journal import Restore
from dagwright._execution.merge import input_collisions
from dagwright._execution.scheduler import RunMachine
from dagwright._logging import get_logger
from dagwright.checkpoint.lease import DEFAULT_LEASE_S, Heartbeat, Owner, drop, hold
from dagwright.checkpoint.protocol import Checkpointer, RunHeader, RunStatus
from dagwright.compiler import CompiledFlow, compile_flow
from dagwright.errors import (
    CheckpointMismatchError,
    ExecutorClosedError,
    FlowInputError,
    ToolDefinitionError,
)
from dagwright.events import Event, Hook, RunFinished, RunStarted
from dagwright.flows import Flow
from dagwright.lanes.observe import Observer, wants_events
from dagwright.lanes.pool import WorkerPool, block_worker, serving
from dagwright.lanes.threads import drive_sync
from dagwright.registry import FlowRegistry
from dagwright.results import ExecutionResult
from dagwright.tools import Tool

_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})

# What stops a run from outside its tools' failures: the run is recorded interrupted.
_INTERRUPTIONS = (
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
    asyncio.CancelledError,
    ExecutorClosedError,
)

T = TypeVar("T")

FlowRef = Flow | str
RunInputs = Mapping[str, Any] | BaseModel | None


class _Run:
    """What one run needs while it goes: nothing of it lives on the executor."""

    __slots__ = ("checkpointer", "compiled", "held", "machine", "observer", "owner", "run_id")

    def __init__(
        self,
        compiled: CompiledFlow,
        machine: RunMachine,
        observer: Observer | None,
        run_id: str,
        checkpointer: Checkpointer | None,
        owner: Owner | None,
    ) -> None:
        self.compiled = compiled
        self.machine = machine
        self.observer = observer
        self.run_id = run_id
        self.checkpointer = checkpointer
        self.owner = owner  # the run's lease holder, when checkpointed
        self.held = owner is not None  # whether the lease is still ours to release

    def save(self, machine: RunMachine) -> None:
        """Write the journal entries the machine produced since the last call."""
        entries = machine.journal
        if entries and self.checkpointer is not None:
            machine.journal = []
            assert self.owner is not None
            self.checkpointer.append(self.run_id, entries, self.owner)

    @property
    def saver(self) -> Callable[[RunMachine], None] | None:
        """What the lane calls before taking new work (``None``: not checkpointed)."""
        return self.save if self.checkpointer is not None else None


class FlowExecutor:
    """Runs flows against a fixed set of tools.

    ``max_concurrency`` bounds the calls in flight in one run and sizes the shared thread
    pool (``1`` runs every step in the calling thread). Flows given by name, and sub-flow
    steps, resolve through ``registry``. ``hooks`` receive the events of every run (see
    :mod:`dagwright.events`). With a ``checkpointer`` every run is journaled and can be
    finished after a crash with :meth:`resume`. Use as a context manager, or call
    :meth:`close`, to shut the pool down.
    """

    def __init__(
        self,
        tools: Iterable[Tool] = (),
        *,
        registry: FlowRegistry | None = None,
        max_concurrency: int = 8,
        hooks: Sequence[Hook] = (),
        checkpointer: Checkpointer | None = None,
    ) -> None:
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise TypeError("max_concurrency must be an int >= 1")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self._tools: dict[str, Tool] = {}
        for item in tools:
            if not isinstance(item, Tool):
                raise ToolDefinitionError(
                    f"expected a Tool, got {type(item).__name__}",
                    hint="decorate the function with @tool, or build Tool(...)",
                )
            other = self._tools.get(item.name)
            if other is not None and other is not item:
                raise ToolDefinitionError(
                    f"two different tools are named {item.name!r}",
                    hint="give each tool a unique name (@tool(name=...))",
                )
            self._tools[item.name] = item
        self._registry = registry if registry is not None else FlowRegistry()
        self._hooks: tuple[Hook, ...] = tuple(hooks)
        self._checkpointer = checkpointer
        self._max_concurrency = max_concurrency
        self._compiled: dict[tuple[str, int], CompiledFlow] = {}
        self._lock = threading.Lock()
        self._runs_changed = threading.Condition(self._lock)
        self._driving: dict[int, int] = {}  # thread ident -> runs it drives now
        self._pool: WorkerPool | None = None
        self._heartbeat: Heartbeat | None = None
        self._closed = False

    # ---- properties ----------------------------------------------------------------

    @property
    def tools(self) -> Mapping[str, Tool]:
        """The tools by name."""
        return dict(self._tools)

    @property
    def registry(self) -> FlowRegistry:
        """The registry flows and sub-flows are resolved through."""
        return self._registry

    @property
    def max_concurrency(self) -> int:
        """Calls in flight per run, and the size of the shared thread pool."""
        return self._max_concurrency

    @property
    def abandoned_calls(self) -> int:
        """Sync calls abandoned so far (timed out, or left running when a run stopped)."""
        pool = self._pool
        return 0 if pool is None else pool.abandoned

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called; a closed executor starts no run."""
        return self._closed

    # ---- compiling ---------------------------------------------------------------------

    def resolve(self, flow_or_name: FlowRef) -> Flow:
        """The flow object for a flow or a registered name (``FlowNotFoundError``)."""
        if isinstance(flow_or_name, Flow):
            return flow_or_name
        if isinstance(flow_or_name, str):
            return self._registry.get(flow_or_name)
        raise TypeError(f"expected a Flow or a flow name, got {type(flow_or_name).__name__}")

    def compile(self, flow_or_name: FlowRef) -> CompiledFlow:
        """Compile a flow against this executor's tools (cached; ``FlowCompileError``)."""
        self._check_open()
        flow = self.resolve(flow_or_name)
        key = (flow.definition_digest, self._registry.generation)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = compile_flow(flow, tools=self._tools, registry=self._registry)
            with self._lock:
                self._compiled[key] = compiled
        return compiled

    # ---- running -------------------------------------------------------------------

    def run(
        self,
        flow_or_name: FlowRef,
        inputs: RunInputs = None,
        run_id: str | None = None,
        *,
        hooks: Sequence[Hook] = (),
    ) -> ExecutionResult:
        """Run a flow on the sync lane and return its result.

        Misuse raises at once (``FlowNotFoundError``, ``FlowCompileError``,
        ``FlowInputError``); a failing step does not raise: the result has
        ``success=False`` and ``error`` (see ``ExecutionResult.raise_for_error``).
        ``hooks`` are called with this run's events, after the executor's own hooks.
        """
        return self._complete(self._begin(flow_or_name, inputs, run_id, hooks, streaming=False))

    async def arun(
        self,
        flow_or_name: FlowRef,
        inputs: RunInputs = None,
        run_id: str | None = None,
        *,
        hooks: Sequence[Hook] = (),
    ) -> ExecutionResult:
        """Run a flow on the async lane: the same semantics and result as :meth:`run`."""
        run = self._begin(flow_or_name, inputs, run_id, hooks, streaming=False)
        return await self._acomplete(run)

    def stream(
        self,
        flow_or_name: FlowRef,
        inputs: RunInputs = None,
        run_id: str | None = None,
        *,
        hooks: Sequence[Hook] = (),
    ) -> Iterator[Event | ExecutionResult]:
        """Run on the sync lane, yielding each event as it happens, then the result.

        Misuse raises here, at the call, not at the first ``next()``. Leaving the loop
        early (``break``) stops the run: nothing new starts, calls in flight are abandoned.
        """
        run = self._begin(flow_or_name, inputs, run_id, hooks, streaming=True)
        return self._discardable(self._stream(run), run)

    def _discardable(self, stream: T, run: _Run) -> T:
        """A stream that is dropped without being iterated never runs its ``finally``:
        release its run's lease (recorded ``interrupted``) when it is collected."""
        if run.owner is not None:
            weakref.finalize(stream, self._abort, run, GeneratorExit())
        return stream

    def _stream(self, run: _Run) -> Iterator[Event | ExecutionResult]:
        assert run.observer is not None
        me, blocked = self._enter(run)
        try:
            yield from run.observer.take_pending()
            yield from self._lane_sync(run)
            result = self._finish(run)
        except BaseException as exc:
            self._abort(run, exc)
            raise
        finally:
            self._leave(me, blocked)
        yield from run.observer.take_pending()
        yield result

    def astream(
        self,
        flow_or_name: FlowRef,
        inputs: RunInputs = None,
        run_id: str | None = None,
        *,
        hooks: Sequence[Hook] = (),
    ) -> AsyncIterator[Event | ExecutionResult]:
        """Run on the async lane, yielding each event as it happens, then the result.

        Misuse raises here, at the call. Leaving the loop early stops the run and
        cancels the calls in flight (use ``contextlib.aclosing`` to make that immediate).
        """
        run = self._begin(flow_or_name, inputs, run_id, hooks, streaming=True)
        return self._discardable(self._astream(run), run)

    async def _astream(self, run: _Run) -> AsyncIterator[Event | ExecutionResult]:
        assert run.observer is not None
        me, blocked = self._enter(run)
        try:
            for event in run.observer.take_pending():
                yield event
            driver = self._lane_async(run)
            try:
                async for event in driver:
                    yield event
            finally:
                await driver.aclose()
            result = self._finish(run)
        except BaseException as exc:
            self._abort(run, exc)
            raise
        finally:
            self._leave(me, blocked)
        for event in run.observer.take_pending():
            yield event
        yield result

    def resume(
        self, run_id: str, flow: Flow | None = None, *, hooks: Sequence[Hook] = ()
    ) -> ExecutionResult:
        """Finish a checkpointed run on the sync lane, running only what it did not record.

        The flow comes from ``flow``, else from the registry by the run's flow name and
        version. Raises ``CheckpointNotFoundError`` for an unknown run and
        ``CheckpointMismatchError`` when the flow or its tools changed. A run that had
        finished returns its result without running anything.
        """
        return self._complete(self._begin_resume(run_id, flow, hooks, streaming=False))

    async def aresume(
        self, run_id: str, flow: Flow | None = None, *, hooks: Sequence[Hook] = ()
    ) -> ExecutionResult:
        """:meth:`resume` on the async lane."""
        return await self._acomplete(self._begin_resume(run_id, flow, hooks, streaming=False))

    @property
    def checkpointer(self) -> Checkpointer | None:
        """Where runs are journaled, if anywhere."""
        return self._checkpointer

    def _lane_sync(self, run: _Run) -> Generator[Event, None, None]:
        """The sync lane driving ``run`` (a generator of streamed events)."""
        return drive_sync(
            run.machine, self._tools, self._max_concurrency, self._get_pool, run.observer, run.saver
        )

    def _lane_async(self, run: _Run) -> AsyncGenerator[Event, None]:
        """The async lane driving ``run`` (an async generator of streamed events)."""
        from dagwright.lanes.aio import drive_async

        return drive_async(
            run.machine, self._tools, self._max_concurrency, self._get_pool, run.observer, run.saver
        )

    def _complete(self, run: _Run) -> ExecutionResult:
        me, blocked = self._enter(run)
        try:
            for _ in self._lane_sync(run):
                pass
            return self._finish(run)
        except BaseException as exc:
            self._abort(run, exc)
            raise
        finally:
            self._leave(me, blocked)

    async def _acomplete(self, run: _Run) -> ExecutionResult:
        me, blocked = self._enter(run)
        try:
            async for _ in self._lane_async(run):
                pass
            return self._finish(run)
        except BaseException as exc:
            self._abort(run, exc)
            raise
        finally:
            self._leave(me, blocked)

    def _enter(self, run: _Run) -> tuple[int, WorkerPool | None]:
        """Count ``run`` as in flight while a lane drives it (``ExecutorClosedError`` once
        closed). Every driver stops its run cleanly on any exception (a
        ``KeyboardInterrupt``, a store fault, a stream closed early) with :meth:`_abort`
        and ends with :meth:`_leave`."""
        me = threading.get_ident()
        with self._lock:
            if not self._closed:
                self._driving[me] = self._driving.get(me, 0) + 1
                closed = False
            else:
                closed = True
        if closed:
            error = ExecutorClosedError(
                "this FlowExecutor was closed before the run could start",
                hint="start runs before close(), or use a new FlowExecutor",
            )
            self._abort(run, error)
            raise error
        # A pool worker driving a nested run lets its pool start another meanwhile.
        return me, block_worker()

    def _leave(self, thread: int, blocked: WorkerPool | None) -> None:
        if blocked is not None:
            blocked.unblock()
        self._run_ended(thread)

    def _abort(self, run: _Run, exc: BaseException) -> None:
        """A run stopped without finishing: release its lease. When it was interrupted
        (not broken by a store fault or an internal error, which write nothing more),
        journal what it completed and record it ``interrupted``."""
        checkpointer, owner = run.checkpointer, run.owner
        if checkpointer is None or owner is None or not run.held:
            return
        if isinstance(exc, _INTERRUPTIONS):
            try:
                run.save(run.machine)
                checkpointer.finish(run.run_id, "interrupted", time.time(), owner)
            except Exception as error:
                get_logger(run_id=run.run_id).warning(
                    "run_not_marked_interrupted", error=str(error)
                )
        self._release(run)

    def _run_ended(self, thread: int) -> None:
        pool = heartbeat = None
        with self._lock:
            left = self._driving[thread] - 1
            if left:
                self._driving[thread] = left
            else:
                del self._driving[thread]
            self._runs_changed.notify_all()
            if self._closed and not self._driving:
                pool, self._pool = self._pool, None
                heartbeat, self._heartbeat = self._heartbeat, None
        if pool is not None:
            pool.shutdown(wait=False)
        if heartbeat is not None:
            heartbeat.stop()

    def _check_open(self) -> None:
        if self._closed:
            raise ExecutorClosedError(
                "this FlowExecutor is closed",
                hint="runs cannot start after close(); use a new FlowExecutor",
            )

    def _begin(
        self,
        flow_or_name: FlowRef,
        inputs: RunInputs,
        run_id: str | None,
        hooks: Sequence[Hook],
        *,
        streaming: bool,
    ) -> _Run:
        compiled = self.compile(flow_or_name)
        data = self._prepare_inputs(compiled, inputs)
        run_id = run_id if run_id is not None else os.urandom(16).hex()
        checkpointer = self._checkpointer
        owner = None
        if checkpointer is not None:
            plan, now = compiled.plan, time.time()
            owner = Owner.new()
            hold(owner)  # live before the lease exists, so nobody sees it abandoned
            try:
                checkpointer.begin(
                    RunHeader(
                        run_id, plan.flow_name, plan.flow_version, plan.digest, data, "running",
                        now, now,
                    ),
                    owner,
                )  # fmt: skip
            except BaseException:
                drop(owner)
                raise
            self._renew(checkpointer, run_id, owner)
        return self._start(compiled, data, run_id, hooks, streaming, None, owner)

    def _begin_resume(
        self, run_id: str, flow: Flow | None, hooks: Sequence[Hook], *, streaming: bool
    ) -> _Run:
        self._check_open()
        checkpointer = self._checkpointer
        if checkpointer is None:
            raise TypeError("resume needs a FlowExecutor built with a checkpointer")
        header = checkpointer.header(run_id)
        if flow is None:
            flow = self._registry.get(header.flow_name, header.flow_version)
        compiled = self.compile(flow)
        if compiled.plan.digest != header.flow_digest:
            raise CheckpointMismatchError(
                f"run {run_id!r} was checkpointed with another definition of flow "
                f"{header.flow_name!r} v{header.flow_version} (or other tool schemas) than "
                f"the one given now ({compiled.flow.name!r} v{compiled.flow.version})",
                hint="resume with the flow and tools the run started with, or start a new run",
            )
        owner = Owner.new()
        hold(owner)
        try:
            # The journal is read only once the lease is ours: what an earlier owner
            # wrote before it stopped is all there is.
            header = checkpointer.acquire(run_id, owner, time.time())
            restore = Restore.from_entries(checkpointer.load(run_id)[1])
        except BaseException:
            drop(owner)
            raise
        self._renew(checkpointer, run_id, owner)
        return self._start(compiled, dict(header.inputs), run_id, hooks, streaming, restore, owner)

    def _renew(self, checkpointer: Checkpointer, run_id: str, owner: Owner) -> None:
        """Have the heartbeat renew ``owner``'s lease on ``run_id`` until it is released."""
        with self._lock:
            heartbeat = self._heartbeat
            if heartbeat is None:
                heartbeat = self._heartbeat = Heartbeat()
        lease_s = getattr(checkpointer, "lease_s", DEFAULT_LEASE_S)
        heartbeat.add(
            owner.token, lambda now: checkpointer.renew(run_id, owner, now), float(lease_s)
        )

    def _release(self, run: _Run) -> None:
        if run.owner is None or not run.held:
            return
        run.held = False
        heartbeat = self._heartbeat
        if heartbeat is not None:
            heartbeat.remove(run.owner.token)
        drop(run.owner)

    def _start(
        self,
        compiled: CompiledFlow,
        data: dict[str, Any],
        run_id: str,
        hooks: Sequence[Hook],
        streaming: bool,
        restore: Restore | None,
        owner: Owner | None,
    ) -> _Run:
        all_hooks = (*self._hooks, *hooks) if hooks else self._hooks
        observer = None
        if wants_events(all_hooks, streaming):
            observer = Observer(run_id, all_hooks, streaming=streaming)
            plan = compiled.plan
            observer.emit(
                RunStarted(
                    run_id=run_id,
                    time=time.monotonic(),
                    flow_name=plan.flow_name,
                    flow_version=plan.flow_version,
                )
            )
        machine = RunMachine(
            compiled.plan,
            data,
            observe=observer is not None,
            journal=self._checkpointer is not None,
            restore=restore,
        )
        return _Run(compiled, machine, observer, run_id, self._checkpointer, owner)

    def _finish(self, run: _Run) -> ExecutionResult:
        machine, plan = run.machine, run.compiled.plan
        if run.checkpointer is not None:
            assert run.owner is not None
            run.save(machine)
            status: RunStatus = "succeeded" if machine.success else "failed"
            run.checkpointer.finish(run.run_id, status, time.time(), run.owner)
            self._release(run)
        result = ExecutionResult(
            run.run_id,
            plan.flow_name,
            plan.flow_version,
            machine.success,
            machine.context(),
            machine.records(),
            machine.error,
            cause=machine.cause,
        )
        if run.observer is not None:
            run.observer.emit(
                RunFinished(
                    run_id=run.run_id,
                    time=time.monotonic(),
                    success=result.success,
                    error=result.error,
                )
            )
        return result

    def _prepare_inputs(self, compiled: CompiledFlow, inputs: RunInputs) -> dict[str, Any]:
        plan = compiled.plan
        given: Mapping[str, Any]
        if type(inputs) is dict:  # the common case, before the slower ABC checks
            given = inputs
        elif inputs is None:
            given = {}
        elif isinstance(inputs, BaseModel):
            given = inputs.model_dump(mode="json")
        elif isinstance(inputs, Mapping):
            given = inputs
        else:
            raise FlowInputError(
                f"inputs of flow {plan.flow_name!r} must be a mapping or a pydantic model, "
                f"got {type(inputs).__name__}"
            )
        if plan.input_schema is not None:
            try:
                data = plan.input_schema.model_validate(given).model_dump(mode="json")
            except ValidationError as exc:
                errors = exc.errors(include_url=False)
                missing = [".".join(map(str, e["loc"])) for e in errors if e["type"] == "missing"]
                raise FlowInputError(
                    f"inputs of flow {plan.flow_name!r} do not match "
                    f"{plan.input_schema.__name__}: {exc.error_count()} error(s): "
                    + "; ".join(
                        f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in errors
                    ),
                    missing=missing,
                    errors=errors,
                ) from exc
        else:
            absent = [key for key in plan.required_inputs if key not in given]
            if absent:
                raise FlowInputError(
                    f"flow {plan.flow_name!r} is missing required input(s): "
                    + ", ".join(map(repr, absent)),
                    missing=absent,
                    hint="pass them in `inputs`; CompiledFlow.required_inputs lists them all",
                )
            try:
                data = (
                    dict(given)
                    if all(type(v) in _JSON_SCALARS for v in given.values())
                    else to_jsonable_python(dict(given))
                )
            except PydanticSerializationError as exc:
                raise FlowInputError(
                    f"inputs of flow {plan.flow_name!r} are not JSON-serialisable: {exc}",
                    hint="runs hold JSON data; convert objects to dicts, lists and scalars",
                ) from exc
        # Declared inputs that steps overwrite were ordered (and judged) by the compiler;
        # only extra keys the caller passed can collide unseen.
        clashes = input_collisions(
            data, plan.written_keys, plan.collision_policy, declared=compiled.declared_inputs
        )
        if clashes and plan.collision_policy == "warn":
            get_logger().warning("input_overwritten", flow=plan.flow_name, keys=list(clashes))
        return data

    # ---- the shared pool -----------------------------------------------------------

    def _get_pool(self) -> WorkerPool:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = WorkerPool(self._max_concurrency)
                pool = self._pool
        return pool

    def close(self) -> None:
        """Refuse new runs, wait for the runs in flight to finish, then stop the pool.

        Abandoned calls (timed out, or left by a stopped run) are never waited for. Any
        use after ``close()`` raises ``ExecutorClosedError``. From a thread that serves
        a run (inside a tool or a hook) ``close()`` returns at once and the last run to
        end stops the pool. Closing twice is harmless.
        """
        me = threading.get_ident()
        wait = not serving()
        with self._lock:
            self._closed = True
            while wait and any(count for thread, count in self._driving.items() if thread != me):
                self._runs_changed.wait()
            if self._driving:
                return  # this thread drives a run: the last run to end shuts down
            pool, self._pool = self._pool, None
            heartbeat, self._heartbeat = self._heartbeat, None
        if pool is not None:
            pool.shutdown(wait=True)
        if heartbeat is not None:
            heartbeat.stop()

    def __enter__(self) -> FlowExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

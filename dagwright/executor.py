"""FlowExecutor: the public facade over the lanes.

The executor holds what runs share: the tools, the flow registry, compiled plans, the
bounded thread pool and the heartbeat that renews run leases. Nothing run-scoped lives
on it, so one executor can serve many runs at once from many threads. Each run gets its
own :class:`RunMachine` (the pure core) and a lane drives it.

Ownership: with a checkpointer, a run holds its lease from ``begin`` (or ``acquire``, for
a resume) until it finishes; the heartbeat renews it meanwhile. A run that stops
without finishing (a ``KeyboardInterrupt``, a stream left early) is recorded
``interrupted`` and its lease released, so it can be resumed at once. ``recover``
resumes every stored run whose owner is gone (see :mod:`dagwright._recover`).

Shutdown: ``close()`` refuses new runs, waits for the runs in flight, then stops the
pool (never waiting for abandoned calls) and the heartbeat. Called from a thread that
serves a run of its own (a tool, a hook), it does not wait: the last run to end shuts
the pool down instead.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any, TypeVar

from dagwright._execution.journal import Restore
from dagwright._inputs import RunInputs, prepare_inputs
from dagwright._misuse import (
    check_cache,
    check_max_concurrency,
    check_run_id,
    check_runner,
    flow_ref_error,
    need_checkpointer,
)
from dagwright._plan_cache import plan_cache
from dagwright._resolve import check_runnable, compile_cached, log_deprecated, resolve_flow
from dagwright._runs import Leases, Run, new_run_id
from dagwright.cache.protocol import StepCache
from dagwright.checkpoint.lease import Owner
from dagwright.checkpoint.protocol import Checkpointer, RunHeader
from dagwright.compiler import CompiledFlow
from dagwright.errors import (
    CheckpointMismatchError,
    ExecutorClosedError,
    ToolDefinitionError,
)
from dagwright.flows import Flow
from dagwright.lanes.pool import WorkerPool, block_worker, serving
from dagwright.lanes.runner import CallRunner, PoolRunner
from dagwright.lanes.threads import drive_sync
from dagwright.registry import FlowRegistry
from dagwright.results import ExecutionResult
from dagwright.tools import Tool

if TYPE_CHECKING:
    from dagwright._recover import RecoveryReport
    from dagwright._verify import VerifyReport
    from dagwright.events import Event, Hook

T = TypeVar("T")

FlowRef = Flow | str


class FlowExecutor:
    """Runs flows against a fixed set of tools.

    ``max_concurrency`` bounds the calls in flight in one run and sizes the shared thread
    pool (``1`` runs every step in the calling thread). Flows given by name
    (``"enrich"``, ``"enrich@2"``), and sub-flow steps, resolve through ``registry``; a
    retired version starts no run and a deprecated one runs with a warning. ``hooks``
    receive the events of every run (see :mod:`dagwright.events`). With a
    ``checkpointer`` every run is journaled and can be finished after a crash with
    :meth:`resume`. With a ``cache`` (a :class:`~dagwright.cache.StepCache`), calls of
    ``cacheable=True`` tools are looked up before they are made and stored after (see
    :mod:`dagwright.cache`). The ``plan_cache_size`` most recently used compiled plans
    are kept. With a ``runner`` (``dagwright.runners.DaskRunner``), every tool call is
    made where the runner sends it; scheduling, validation, the cache and the journal
    stay in this process. Use as a context manager, or call :meth:`close`, to shut the
    pool down.
    """

    def __init__(
        self,
        tools: Iterable[Tool] = (),
        *,
        registry: FlowRegistry | None = None,
        max_concurrency: int = 8,
        hooks: Sequence[Hook] = (),
        checkpointer: Checkpointer | None = None,
        cache: StepCache | None = None,
        strict: bool = False,
        plan_cache_size: int = 256,
        runner: CallRunner | None = None,
    ) -> None:
        check_max_concurrency(max_concurrency)
        check_cache(cache)
        check_runner(runner)
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
        self._cache = cache
        self._max_concurrency = max_concurrency
        self._strict = strict
        self._compiled = plan_cache(plan_cache_size)
        self._lock = threading.Lock()
        self._runs_changed = threading.Condition(self._lock)
        self._driving: set[Run] = set()  # runs a lane drives now
        self._pool: WorkerPool | None = None
        self._given_runner = runner
        self._runner: CallRunner = PoolRunner(self._get_pool) if runner is None else runner
        self._leases = Leases()
        self._closed = False

    @staticmethod
    def new_run_id() -> str:
        """A fresh run id, made the way :meth:`run` makes one when given none (128 random
        bits, hex): pass it as ``run_id`` to know a run's id before it starts."""
        return new_run_id()

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
    def cache(self) -> StepCache | None:
        """The step cache of ``cacheable=True`` tools, if any."""
        return self._cache

    @property
    def runner(self) -> CallRunner | None:
        """Where tool calls run: the runner given (such as a ``DaskRunner``), or ``None``
        for this process (inline, the event loop and the executor's pool)."""
        return self._given_runner

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
        """The flow object for a flow, a registered name (its latest active version, see
        ``FlowRegistry.get``) or ``"name@version"`` (that version, whatever its status).

        ``FlowNotFoundError`` for an unknown name or version, ``FlowRetiredError`` for a
        name whose every released version is retired, ``UsageError`` for anything else.
        """
        return resolve_flow(self._registry, flow_or_name)[0]

    def compile(self, flow_or_name: FlowRef) -> CompiledFlow:
        """Compile a flow (named as for :meth:`resolve`) against this executor's tools
        (cached; ``FlowCompileError``). A retired version compiles: only new runs of it
        are refused.

        A plan's warnings are logged once, at WARNING (event ``flow_warnings``), when
        this executor compiles it; with ``strict=True`` they are errors instead. The
        ``logging.LogRecord`` of ``flow_warnings`` also has ``diagnostics``: the
        :class:`~dagwright.compiler.Diagnostic` objects (``CompiledFlow.all_warnings``,
        with their file positions for a flow loaded from a file), for a handler that
        prints them as diagnostics rather than as the message's text.
        """
        if self._closed:
            self._check_open()
        return self._compile(self.resolve(flow_or_name))

    def _compile(self, flow: Flow, *, resuming: bool = False) -> CompiledFlow:
        return compile_cached(
            self._compiled,
            flow,
            tools=self._tools,
            registry=self._registry,
            strict=self._strict,
            resuming=resuming,
        )

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

        Misuse raises at once (``FlowNotFoundError``, ``FlowRetiredError``,
        ``FlowCompileError``, ``FlowInputError``, ``RunExistsError``, ``UsageError``),
        before anything is journaled; a failing step does not
        raise: the result has ``success=False`` and ``error`` (see
        ``ExecutionResult.raise_for_error``).
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

    def _discardable(self, stream: T, run: Run) -> T:
        """A stream that is dropped without being iterated never runs its ``finally``:
        release its run's lease (recorded ``interrupted``) when it is collected."""
        if run.owner is not None:
            weakref.finalize(stream, self._leases.abort, run, GeneratorExit())
        return stream

    def _stream(self, run: Run) -> Iterator[Event | ExecutionResult]:
        assert run.observer is not None
        blocked = self._enter(run)
        try:
            yield from run.observer.take_pending()
            yield from self._lane_sync(run)
            result = self._finish(run)
        except BaseException as exc:
            self._leases.abort(run, exc)
            raise
        finally:
            self._leave(run, blocked)
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

    async def _astream(self, run: Run) -> AsyncIterator[Event | ExecutionResult]:
        assert run.observer is not None
        blocked = self._enter(run)
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
            self._leases.abort(run, exc)
            raise
        finally:
            self._leave(run, blocked)
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

    def stream_resume(
        self, run_id: str, flow: Flow | None = None, *, hooks: Sequence[Hook] = ()
    ) -> Iterator[Event | ExecutionResult]:
        """:meth:`resume` on the sync lane, yielding the resumed run's events as they
        happen, then its result, like :meth:`stream`.

        Misuse raises here, at the call (an unknown run, a changed flow, a run another
        owner holds...). Leaving the loop early stops the run again, recorded
        ``interrupted``: it can be resumed once more.
        """
        run = self._begin_resume(run_id, flow, hooks, streaming=True)
        return self._discardable(self._stream(run), run)

    def astream_resume(
        self, run_id: str, flow: Flow | None = None, *, hooks: Sequence[Hook] = ()
    ) -> AsyncIterator[Event | ExecutionResult]:
        """:meth:`stream_resume` on the async lane, like :meth:`astream`."""
        run = self._begin_resume(run_id, flow, hooks, streaming=True)
        return self._discardable(self._astream(run), run)

    def verify(
        self, run_id: str, flow: Flow | None = None, *, allow_side_effects: bool = False
    ) -> VerifyReport:
        """The replay check: run a recorded run again and compare it with its record.

        The run is read from the store without taking its lease (a live run may be
        verified), its flow found as :meth:`resume` finds it (``flow``, else the
        registry's version the run names), and the flow run again on the sync lane from
        the recorded inputs under the same run id (so ``current_call().idempotency_key``
        is the recorded call's), against a scratch in-memory store: nothing is written to
        this executor's store or step cache, and no hook sees the replay. Each recorded
        step, map instance and sub-flow step is compared with the replay's, status first,
        then outputs field by field, in canonical order; the first difference is the
        report's ``divergence`` (``None``: the run reproduces).

        Calls of ``idempotent=False`` tools are not made: the replay uses their recorded
        outcomes (``VerifyReport.reused``, not compared), and withholds a call the record
        holds no result for (``VerifyReport.withheld``: it fails with
        ``CallWithheldError``). ``allow_side_effects=True`` makes every call.

        Raises ``CheckpointNotFoundError`` for an unknown run, ``FlowNotFoundError`` when
        no flow is given and the registry lacks the run's, ``CheckpointMismatchError``
        when the flow or its tools changed, ``CheckpointCorruptError`` for a journal
        dagwright did not write, ``UsageError`` without a checkpointer.
        """
        from dagwright._verify import verify

        return verify(self, run_id, flow, allow_side_effects=allow_side_effects)

    def recover(self, max_attempts: int = 3, *, max_workers: int = 4) -> RecoveryReport:
        """Resume every stored run whose owner is gone, ``max_workers`` at a time.

        A candidate is a run of the checkpointer whose status is ``running`` or
        ``interrupted`` and whose lease is free or gone (its process died, or it stopped
        renewing it); its flow is found in the registry as :meth:`resume` finds it. Each
        resume counts as one recovery, journaled once the run's lease is taken; a run
        already recovered ``max_attempts`` times is recorded ``dead`` instead and never
        taken again. Runs that cannot be resumed (unknown or changed flow, a store
        fault...) are reported, never raised; a run another owner takes meanwhile is
        skipped. ``KeyboardInterrupt`` stops the runs in flight (recorded
        ``interrupted``) and propagates. See :mod:`dagwright._recover`.

        ``UsageError`` without a checkpointer, or for a ``max_attempts`` or
        ``max_workers`` that is not an int >= 1.
        """
        self._check_open()
        from dagwright._recover import recover

        return recover(self, max_attempts, max_workers=max_workers)

    def _recovery_stream(self, run_id: str, attempts: int) -> Iterator[Event | ExecutionResult]:
        """:meth:`stream_resume` of ``run_id`` from the registry, taken for ``recover``
        (``Leases.acquire`` with ``attempts``: ``DeadRun`` when they are used up)."""
        run = self._begin_resume(run_id, None, (), streaming=True, attempts=attempts)
        return self._discardable(self._stream(run), run)

    @property
    def checkpointer(self) -> Checkpointer | None:
        """Where runs are journaled, if anywhere."""
        return self._checkpointer

    def _lane_sync(self, run: Run) -> Generator[Event, None, None]:
        """The sync lane driving ``run`` (a generator of streamed events)."""
        return drive_sync(
            run.machine, self._tools, self._max_concurrency, self._runner, run.observer,
            run.saver, self._cache,
        )  # fmt: skip

    def _lane_async(self, run: Run) -> AsyncGenerator[Event, None]:
        """The async lane driving ``run`` (an async generator of streamed events)."""
        from dagwright.lanes.aio import drive_async

        return drive_async(
            run.machine, self._tools, self._max_concurrency, self._runner, run.observer,
            run.saver, self._cache,
        )  # fmt: skip

    def _complete(self, run: Run) -> ExecutionResult:
        blocked = self._enter(run)
        try:
            for _ in self._lane_sync(run):
                pass
            return self._finish(run)
        except BaseException as exc:
            self._leases.abort(run, exc)
            raise
        finally:
            self._leave(run, blocked)

    async def _acomplete(self, run: Run) -> ExecutionResult:
        blocked = self._enter(run)
        try:
            async for _ in self._lane_async(run):
                pass
            return self._finish(run)
        except BaseException as exc:
            self._leases.abort(run, exc)
            raise
        finally:
            self._leave(run, blocked)

    def _enter(self, run: Run) -> WorkerPool | None:
        """Count ``run`` as in flight while a lane drives it (``ExecutorClosedError`` once
        closed). Every driver stops its run cleanly on any exception (a
        ``KeyboardInterrupt``, a store fault, a stream closed early) with
        ``Leases.abort`` and ends with :meth:`_leave`.

        No lock: the run is added before ``_closed`` is read, and ``close()`` sets
        ``_closed`` before it reads the runs, so either ``close()`` waits for this run
        or this run sees it closed.
        """
        run.thread = threading.get_ident()
        self._driving.add(run)
        if self._closed:
            self._leave(run, None)
            error = ExecutorClosedError(
                "this FlowExecutor was closed before the run could start",
                hint="start runs before close(), or use a new FlowExecutor",
            )
            self._leases.abort(run, error)
            raise error
        # A pool worker driving a nested run lets its pool start another meanwhile.
        return block_worker()

    def _leave(self, run: Run, blocked: WorkerPool | None) -> None:
        """``run`` is no longer driven; the last one to end after ``close()`` shuts down."""
        if blocked is not None:
            blocked.unblock()
        self._driving.discard(run)
        if not self._closed:
            return
        with self._lock:
            self._runs_changed.notify_all()  # close() may be waiting
            if self._driving:
                return
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)
        self._leases.stop()

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
    ) -> Run:
        check_run_id(run_id, optional=True)
        self._check_open()
        # One snapshot of the flow and its status: a status change after this does not
        # reach this run (its plan holds its sub-flows too).
        flow, status = resolve_flow(self._registry, flow_or_name)
        check_runnable(flow, status, self._registry)
        compiled = self._compile(flow)
        data = prepare_inputs(compiled, inputs)
        run_id = run_id if run_id is not None else new_run_id()
        owner = None
        if self._checkpointer is not None:
            plan, now = compiled.plan, time.time()
            header = RunHeader(
                run_id, plan.flow_name, plan.flow_version, plan.digest, data, "running", now, now
            )
            owner = self._leases.begin(self._checkpointer, header)
        log_deprecated(flow, status, run_id)
        return self._start(compiled, data, run_id, hooks, streaming, None, owner)

    def _begin_resume(
        self,
        run_id: str,
        flow: Flow | None,
        hooks: Sequence[Hook],
        *,
        streaming: bool,
        attempts: int | None = None,
    ) -> Run:
        self._check_open()
        check_run_id(run_id, optional=False)
        checkpointer = need_checkpointer(self._checkpointer, "resume")
        if flow is not None and not isinstance(flow, Flow):
            raise flow_ref_error(flow, names=False)
        header = checkpointer.header(run_id)
        compiled = self._recorded_flow(header, flow)
        header, restore, owner = self._leases.acquire(checkpointer, run_id, attempts=attempts)
        return self._start(compiled, dict(header.inputs), run_id, hooks, streaming, restore, owner)

    def _recorded_flow(
        self, header: RunHeader, flow: Flow | None, *, verb: str = "resume"
    ) -> CompiledFlow:
        """The compiled flow of a recorded run: ``flow``, else the registry's version the
        header names (whatever its status: a run that started on a version retired since
        resumes); ``CheckpointMismatchError`` when the flow or its tools changed."""
        if flow is None:
            flow = self._registry.get(header.flow_name, header.flow_version)
        compiled = self._compile(flow, resuming=True)
        if compiled.plan.digest != header.flow_digest:
            also = ", or start a new run" if verb == "resume" else ""
            raise CheckpointMismatchError(
                f"run {header.run_id!r} was checkpointed with another definition of flow "
                f"{header.flow_name!r} v{header.flow_version} (or other tool schemas) than "
                f"the one given now ({compiled.flow.name!r} v{compiled.flow.version})",
                hint=f"{verb} with the flow and tools the run started with{also}",
            )
        return compiled

    def _start(
        self,
        compiled: CompiledFlow,
        data: dict[str, Any],
        run_id: str,
        hooks: Sequence[Hook],
        streaming: bool,
        restore: Restore | None,
        owner: Owner | None,
    ) -> Run:
        all_hooks = (*self._hooks, *hooks) if hooks else self._hooks
        return Run.start(
            compiled, data, run_id, all_hooks, streaming, restore, self._checkpointer, owner
        )

    def _finish(self, run: Run) -> ExecutionResult:
        if run.checkpointer is not None:
            self._leases.finish(run, "succeeded" if run.machine.success else "failed")
        return run.result()

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
            while wait and any(run.thread != me for run in list(self._driving)):
                self._runs_changed.wait()
            if self._driving:
                return  # this thread drives a run: the last run to end shuts down
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self._leases.stop()

    def __enter__(self) -> FlowExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

"""One run in flight, and the leases an executor's runs hold.

A :class:`Run` is what a run needs while a lane drives it; nothing of it lives on the
executor. :class:`Leases` takes a run's lease in the store (``begin`` for a new run,
``acquire`` for a resume), has its heartbeat renew it, and releases it when the run
ends: :meth:`Leases.finish` with the run's final status, :meth:`Leases.abort` when it
stopped without finishing.

``recover`` takes a run through :meth:`Leases.acquire` with ``attempts``: the run is taken
only while it is still ``running`` or ``interrupted`` (see ``acquire_if`` in
:mod:`dagwright.checkpoint.protocol`), its recoveries are counted in the journal loaded
under the lease, and either one more is journaled before anything runs or, with all
``attempts`` used, the run is recorded ``dead`` (:class:`DeadRun`).

An owner is marked live in this process (``lease.hold``) *before* its lease exists, so
no other owner in the process ever sees a fresh lease as abandoned, and unmarked
(``lease.drop``) when it releases the lease, so a lease left behind by a store fault is
taken over at once by the next resume in this process.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from dagwright._execution.journal import Restore, recovery_entry
from dagwright._execution.scheduler import RunMachine
from dagwright._logging import enabled_for, get_logger
from dagwright.checkpoint.lease import DEFAULT_LEASE_S, Heartbeat, Owner, drop, hold
from dagwright.checkpoint.protocol import Checkpointer, RunHeader, RunStatus, status_refused
from dagwright.compiler import CompiledFlow
from dagwright.errors import ExecutorClosedError
from dagwright.results import ExecutionResult

if TYPE_CHECKING:
    from dagwright.events import Hook
    from dagwright.lanes.observe import Observer

_INTERRUPTIONS = (KeyboardInterrupt, SystemExit, GeneratorExit, ExecutorClosedError)


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` stopped a run from outside its tools' failures (an interrupt, an
    exit, a closed stream or executor, a cancelled task): the run is recorded
    interrupted. asyncio is not imported for the check: a ``CancelledError`` exists
    only once something imported it."""
    if isinstance(exc, _INTERRUPTIONS):
        return True
    aio = sys.modules.get("asyncio")
    return aio is not None and isinstance(exc, aio.CancelledError)


RECOVERABLE: tuple[RunStatus, ...] = ("running", "interrupted")
"""The statuses of a run ``recover`` may take: it did not finish and is not ``dead``."""


class DeadRun(Exception):
    """``Leases.acquire`` with ``attempts``: the run had been recovered ``recoveries``
    times already (at least ``attempts``), so it was recorded ``dead`` instead of taken.
    Internal: ``recover`` reports it and never lets it out."""

    def __init__(self, run_id: str, recoveries: int) -> None:
        super().__init__(f"run {run_id!r} was recovered {recoveries} time(s): it is dead")
        self.run_id = run_id
        self.recoveries = recoveries


def new_run_id() -> str:
    """A fresh run id: 128 random bits in hex, unique without asking any store."""
    return os.urandom(16).hex()


class Run:
    """What one run needs while it goes."""

    __slots__ = (
        "checkpointer",
        "compiled",
        "held",
        "machine",
        "observer",
        "owner",
        "run_id",
        "thread",
    )

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
        self.thread = 0  # the ident of the thread driving it, while one does

    @classmethod
    def start(
        cls,
        compiled: CompiledFlow,
        data: dict[str, Any],
        run_id: str,
        hooks: tuple[Hook, ...],
        streaming: bool,
        restore: Restore | None,
        checkpointer: Checkpointer | None,
        owner: Owner | None,
    ) -> Run:
        """A new run's machine, and its observer with ``RunStarted`` emitted when any
        hook or a stream wants events (none is built otherwise)."""
        observer = None
        # Events are noted and delivered only when someone takes them: a hook, a stream,
        # or the DEBUG log. Otherwise the run pays nothing for them (not even an import).
        if hooks or streaming or enabled_for(logging.DEBUG):
            from dagwright.events import RunStarted
            from dagwright.lanes.observe import Observer

            observer = Observer(run_id, hooks, streaming=streaming)
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
            journal=checkpointer is not None,
            restore=restore,
            run_id=run_id,
        )
        return cls(compiled, machine, observer, run_id, checkpointer, owner)

    def result(self) -> ExecutionResult:
        """The finished run's result; its observer emits ``RunFinished``."""
        machine, plan = self.machine, self.compiled.plan
        result = ExecutionResult(
            self.run_id,
            plan.flow_name,
            plan.flow_version,
            machine.success,
            machine.context(),
            machine.records(),
            machine.error,
            cause=machine.cause,
        )
        if self.observer is not None:
            from dagwright.events import RunFinished

            self.observer.emit(
                RunFinished(
                    run_id=self.run_id,
                    time=time.monotonic(),
                    success=result.success,
                    error=result.error,
                )
            )
        return result

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


class Leases:
    """The leases of one executor's runs, and the heartbeat that renews them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heartbeat: Heartbeat | None = None

    def begin(self, checkpointer: Checkpointer, header: RunHeader) -> Owner:
        """Create a run in the store, leased to a new owner (``RunExistsError``...)."""
        owner = Owner.new()
        hold(owner)
        try:
            checkpointer.begin(header, owner)
        except BaseException:
            drop(owner)
            raise
        self._renew(checkpointer, header.run_id, owner)
        return owner

    def acquire(
        self, checkpointer: Checkpointer, run_id: str, *, attempts: int | None = None
    ) -> tuple[RunHeader, Restore, Owner]:
        """Lease an existing run to a new owner (``RunLockedError`` while a live owner
        holds it) and read its journal: only once the lease is ours is what an earlier
        owner wrote all there is.

        With ``attempts`` (``recover``'s ``max_attempts``), the run is taken only while
        its status is in :data:`RECOVERABLE` (``RunLockedError`` otherwise: another owner
        ended it meanwhile), and its recovery entries are counted in the journal just
        loaded. Fewer than ``attempts``: one more is journaled, before anything runs.
        Otherwise the run is recorded ``dead``, its lease released, and :class:`DeadRun`
        raised. Counting under the lease is what makes two recoverers racing for one run
        count and resume it once: the loser gets ``RunLockedError`` before it reads.
        """
        owner = Owner.new()
        hold(owner)
        try:
            if attempts is None:
                header = checkpointer.acquire(run_id, owner, time.time())
            else:
                header = _take_recoverable(checkpointer, run_id, owner, time.time())
            restore = Restore.from_entries(checkpointer.load(run_id)[1])
            if attempts is not None:
                if restore.recoveries >= attempts:
                    checkpointer.finish(run_id, "dead", time.time(), owner)
                    raise DeadRun(run_id, restore.recoveries)
                checkpointer.append(run_id, [recovery_entry(time.time())], owner)
        except BaseException:
            drop(owner)
            raise
        self._renew(checkpointer, run_id, owner)
        return header, restore, owner

    def finish(self, run: Run, status: RunStatus) -> None:
        """Journal what is left, record ``status`` and release the lease."""
        checkpointer, owner = run.checkpointer, run.owner
        if checkpointer is None or owner is None:
            return
        run.save(run.machine)
        checkpointer.finish(run.run_id, status, time.time(), owner)
        self.release(run)

    def abort(self, run: Run, exc: BaseException) -> None:
        """A run stopped without finishing: release its lease. When it was interrupted
        (not broken by a store fault or an internal error, which write nothing more),
        journal what it completed and record it ``interrupted``."""
        if run.checkpointer is None or not run.held:
            return
        if interrupted(exc):
            try:
                self.finish(run, "interrupted")
            except Exception as error:
                log = get_logger(run_id=run.run_id)
                log.warning("run_not_marked_interrupted", error=str(error))
        self.release(run)

    def release(self, run: Run) -> None:
        """Stop renewing the run's lease and mark its owner gone (idempotent)."""
        if run.owner is None or not run.held:
            return
        run.held = False
        heartbeat = self._heartbeat
        if heartbeat is not None:
            heartbeat.remove(run.owner.token)
        drop(run.owner)

    def stop(self) -> None:
        """Stop the heartbeat (the executor is closed and no run is in flight)."""
        with self._lock:
            heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.stop()

    def _renew(self, checkpointer: Checkpointer, run_id: str, owner: Owner) -> None:
        with self._lock:
            heartbeat = self._heartbeat
            if heartbeat is None:
                heartbeat = self._heartbeat = Heartbeat()
        lease_s = float(getattr(checkpointer, "lease_s", DEFAULT_LEASE_S))
        heartbeat.add(owner.token, lambda now: checkpointer.renew(run_id, owner, now), lease_s)


def _take_recoverable(
    checkpointer: Checkpointer, run_id: str, owner: Owner, at: float
) -> RunHeader:
    """Lease ``run_id`` only while its status is in :data:`RECOVERABLE`: in one atomic
    step with the store's ``acquire_if``; else (a checkpointer without it) the status is
    read first, then the run acquired."""
    acquire_if = getattr(checkpointer, "acquire_if", None)
    if callable(acquire_if):
        return cast("RunHeader", acquire_if(run_id, owner, at, RECOVERABLE))
    status = checkpointer.header(run_id).status
    if status not in RECOVERABLE:
        raise status_refused(run_id, status, RECOVERABLE, path=_where(checkpointer))
    return checkpointer.acquire(run_id, owner, at)


def _where(checkpointer: Checkpointer) -> str | None:
    path = getattr(checkpointer, "path", None)
    return None if path is None else str(path)

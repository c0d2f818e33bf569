"""Recovery: resume every stored run whose owner is gone, and give up on the hopeless.

``FlowExecutor.recover(max_attempts, max_workers=)`` delegates here. Theory of
operation:

* **Candidates.** A run of the executor's checkpointer is a candidate when its status is
  ``running`` or ``interrupted`` (it never finished and is not ``dead``) and its owner is
  gone: nobody holds its lease, or :func:`~dagwright.checkpoint.lease.is_gone` says the
  lease may be taken over (its expiry passed; its process on this host no longer
  exists; or its owner is in this process and no longer holds the run). A run a live
  owner is driving, here or in another process, is not a candidate and is not touched.
  Candidates are taken oldest first (``started_at``, then run id), as the store lists
  them; a run whose header the store cannot read (``RunList.unreadable``) is none.
* **A bounded pool.** ``max_workers`` daemon threads take the candidates in that order;
  each resumes one run at a time on the sync lane, with the flow found in the registry
  by the run's flow name and version, exactly as ``resume`` finds it (every run of the
  pool shares the executor's worker pool and ``max_concurrency``).
* **Counting under the lease.** Each resume ``recover`` starts is one recovery,
  journaled as a ``recovery`` entry right after the run's lease is taken and before
  anything runs. The count is read from the journal loaded *under the lease* (and the
  run is taken only while its status is still ``running`` or ``interrupted``, checked in
  the same atomic step as the take: ``acquire_if``). So of two ``recover`` calls racing
  for a run, in one process or two, exactly one takes it and counts it; the other gets
  ``RunLockedError`` before reading anything and reports the run *skipped*. A count read
  before the lease could be stale by the time the run is taken: two recoverers would
  each count the same attempt, or resume a run the other just finished.
* **Dead runs.** A run already recovered ``max_attempts`` times is not resumed again:
  under its lease it is recorded ``dead`` and its lease released. ``dead`` is never a
  candidate, so later ``recover`` calls leave it alone; a ``resume`` by hand still
  finishes it. A run that crashes its process every time thus ends ``dead`` after
  ``max_attempts`` recoveries instead of being retried forever.
* **Errors stay per run.** A run whose flow is not in the registry
  (``FlowNotFoundError``), whose flow or tools changed (``CheckpointMismatchError``), or
  that cannot be resumed for another coded reason (a ``DagwrightError``) is reported
  with that error's code and message; nothing of it was run or counted when the refusal
  came before its lease. The other runs still recover.
* **Logs.** Each outcome is logged at INFO (``run_recovering``, ``run_dead``,
  ``run_not_recovered``, with the run id): the report is where a caller reads them.
* **Interrupts.** ``KeyboardInterrupt`` (and any exception that is not a dagwright
  error) stops the whole call: no further run starts, and the runs in flight stop at
  their next event (they are driven as streams for this), recorded ``interrupted``, so
  a later ``recover`` takes them again. Then the exception propagates. A second
  ``KeyboardInterrupt`` while the call waits for them leaves them to their daemon
  threads: a process that then exits leaves them ``running`` with a lease whose owner
  is gone, which a later ``recover`` takes over just the same.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from dagwright._logging import get_logger
from dagwright._misuse import need_checkpointer
from dagwright._runs import RECOVERABLE, DeadRun
from dagwright.checkpoint.lease import is_gone
from dagwright.checkpoint.protocol import Checkpointer, RunHeader
from dagwright.errors import CheckpointCorruptError, DagwrightError, RunLockedError, UsageError
from dagwright.results import ExecutionResult

if TYPE_CHECKING:
    from dagwright.events import Event
    from dagwright.executor import FlowExecutor

__all__ = ["RecoveryFailure", "RecoveryReport", "recover"]


class RecoveryFailure(NamedTuple):
    """A run ``recover`` could not resume: its id and the error's ``code`` and
    ``message`` (``FlowNotFoundError``, ``CheckpointMismatchError``, a store fault...)."""

    run_id: str
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Plain JSON data: ``run_id``, ``code``, ``message``."""
        return {"run_id": self.run_id, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class RecoveryReport:
    """What one ``FlowExecutor.recover`` call did.

    ``runs`` are the candidates it found (runs ``running`` or ``interrupted`` whose owner
    was gone), headers as listed, oldest first (``started_at``, then run id); each
    ended in exactly one of: ``results`` (resumed to the end, succeeded or failed, in
    that same order), ``dead`` (already recovered ``max_attempts`` times: recorded
    ``dead`` by this call, not resumed), ``skipped`` (another owner took the run, or
    ended it, between the listing and this call's take: not touched) or ``errors``
    (could not be resumed: an unknown or changed flow, a store fault...). Every tuple
    of run ids follows the order of ``runs``.
    """

    results: tuple[ExecutionResult, ...] = ()
    dead: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    errors: tuple[RecoveryFailure, ...] = ()
    runs: tuple[RunHeader, ...] = ()

    @property
    def recovered(self) -> tuple[str, ...]:
        """The ids of the resumed runs that succeeded."""
        return tuple(result.run_id for result in self.results if result.success)

    @property
    def ok(self) -> bool:
        """Whether every resumed run succeeded and none became dead or errored (skipped
        runs are someone else's: they do not count against it)."""
        return all(r.success for r in self.results) and not self.dead and not self.errors

    def outcome(self, run_id: str) -> Literal["succeeded", "failed", "dead", "skipped", "error"]:
        """``"succeeded"`` / ``"failed"`` (resumed, with that result), ``"dead"``,
        ``"skipped"`` or ``"error"`` for a run of :attr:`runs`; ``KeyError`` for another."""
        return self._outcomes()[run_id]

    def _outcomes(self) -> dict[str, Literal["succeeded", "failed", "dead", "skipped", "error"]]:
        found: dict[str, Literal["succeeded", "failed", "dead", "skipped", "error"]] = {}
        for result in self.results:
            found[result.run_id] = "succeeded" if result.success else "failed"
        found.update(dict.fromkeys(self.dead, "dead"))
        found.update(dict.fromkeys(self.skipped, "skipped"))
        found.update((failure.run_id, "error") for failure in self.errors)
        return found

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: ``ok``; ``runs``, one ``{"run_id", "flow_name",
        "flow_version", "outcome", "code", "message"}`` per candidate in order (``code``
        and ``message`` of an error or a failed run, else ``None``); ``results``
        (``ExecutionResult.to_dict()`` each); ``dead`` and ``skipped`` (run ids);
        ``errors`` (``RecoveryFailure.to_dict()`` each)."""
        outcomes = self._outcomes()
        failures = {failure.run_id: failure for failure in self.errors}
        results = {result.run_id: result for result in self.results}
        runs = []
        for header in self.runs:
            code = message = None
            failure, result = failures.get(header.run_id), results.get(header.run_id)
            if failure is not None:
                code, message = failure.code, failure.message
            elif result is not None and result.error is not None:
                code, message = result.error.code, result.error.message
            runs.append(
                {
                    "run_id": header.run_id,
                    "flow_name": header.flow_name,
                    "flow_version": header.flow_version,
                    "outcome": outcomes[header.run_id],
                    "code": code,
                    "message": message,
                }
            )
        return {
            "ok": self.ok,
            "runs": runs,
            "results": [result.to_dict() for result in self.results],
            "dead": list(self.dead),
            "skipped": list(self.skipped),
            "errors": [failure.to_dict() for failure in self.errors],
        }


def recover(
    executor: FlowExecutor,
    max_attempts: int,
    *,
    max_workers: int,
    stop: threading.Event | None = None,
) -> RecoveryReport:
    """``FlowExecutor.recover``: see the module's docstring. ``stop`` is the event the
    call sets when it stops (a fresh one when not given; given, a caller can see it)."""
    _check_count("max_attempts", max_attempts, "how many times a run may be recovered")
    _check_count("max_workers", max_workers, "how many runs to resume at once")
    checkpointer = need_checkpointer(executor.checkpointer, "recover")
    candidates = _candidates(checkpointer, time.time())
    if not candidates:
        return RecoveryReport()
    stop = stop if stop is not None else threading.Event()
    workers = _Workers(executor, [h.run_id for h in candidates], max_attempts, stop)
    workers.start(min(max_workers, len(candidates)))
    try:
        workers.done.wait()
        if workers.error is not None:
            raise workers.error
    except BaseException:
        stop.set()  # runs in flight stop at their next event, recorded interrupted
        workers.join()  # a second Ctrl-C here leaves them: daemon threads, leases gone
        raise
    return _report(candidates, workers.outcomes)


def _check_count(name: str, value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(
            f"{name} must be an int >= 1, got {type(value).__name__} {value!r}",
            hint=f"pass {what}, e.g. {name}={3 if name == 'max_attempts' else 4}",
        )


def _candidates(checkpointer: Checkpointer, now: float) -> list[RunHeader]:
    """The stored runs to recover, oldest first: unfinished, not dead, owner gone."""
    found = []
    for header in checkpointer.runs():
        if header.status not in RECOVERABLE:
            continue
        try:
            lease = checkpointer.lease(header.run_id)
        except CheckpointCorruptError:
            # A lease row that cannot be read: the take decides (held until it expires).
            found.append(header)
            continue
        if lease is None or is_gone(lease, now):
            found.append(header)
    return found


_Outcome = ExecutionResult | DagwrightError | str | None


class _Workers:
    """The bounded pool: daemon threads that take the runs in order, one at a time each,
    until none is left or ``stop`` is set. ``outcomes`` by position; ``error``, the
    first exception a worker raised (it set ``stop`` before it could take another run);
    ``done`` is set at the first such error or when every worker has ended. Daemon
    threads, so a caller that stops waiting for them (a second Ctrl-C) does not keep its
    process alive: their runs' owner dies with it, and a later ``recover`` takes them."""

    def __init__(
        self, executor: FlowExecutor, run_ids: list[str], attempts: int, stop: threading.Event
    ) -> None:
        self._executor = executor
        self._run_ids = run_ids
        self._attempts = attempts
        self._stop = stop
        self._lock = threading.Lock()
        self._next = 0
        self._running = 0
        self._threads: list[threading.Thread] = []
        self.outcomes: list[_Outcome] = [None] * len(run_ids)
        self.error: BaseException | None = None
        self.done = threading.Event()

    def start(self, size: int) -> None:
        self._running = size
        for number in range(size):
            thread = threading.Thread(
                target=self._serve, name=f"dagwright-recover_{number}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def _take(self) -> int | None:
        with self._lock:
            if self._stop.is_set() or self._next == len(self._run_ids):
                return None
            self._next += 1
            return self._next - 1

    def _serve(self) -> None:
        try:
            while (index := self._take()) is not None:
                run_id = self._run_ids[index]
                self.outcomes[index] = _recover_one(
                    self._executor, run_id, self._attempts, self._stop
                )
        except BaseException as exc:  # handed to the caller's thread, raised there
            with self._lock:
                self.error = self.error or exc
            self.done.set()
        finally:
            with self._lock:
                self._running -= 1
                last = self._running == 0
            if last:
                self.done.set()


_STOPPED = "stopped"
"""A run left when the call was stopped: the call raises, so no report holds it."""


def _recover_one(
    executor: FlowExecutor, run_id: str, attempts: int, stop: threading.Event
) -> ExecutionResult | DagwrightError | str:
    """Resume one run: its result, the coded error that ended the attempt, or
    ``"dead"``, ``"skipped"`` or :data:`_STOPPED`. Anything else raises (and stops the
    whole call)."""
    try:
        return _resume(executor, run_id, attempts, stop)
    except BaseException:
        # Set here, before this worker takes the next run: that one sees it and stays.
        stop.set()
        raise


def _resume(
    executor: FlowExecutor, run_id: str, attempts: int, stop: threading.Event
) -> ExecutionResult | DagwrightError | str:
    log = get_logger(run_id=run_id)
    if stop.is_set():
        return _STOPPED
    try:
        stream: Iterator[Event | ExecutionResult] = executor._recovery_stream(run_id, attempts)
    except DeadRun as dead:
        log.info("run_dead", recoveries=dead.recoveries, max_attempts=attempts)
        return "dead"
    except RunLockedError:
        return "skipped"  # another owner took the run, or ended it, since the listing
    except DagwrightError as error:
        log.info("run_not_recovered", code=error.code, error=error.message)
        return error
    log.info("run_recovering", max_attempts=attempts)
    try:
        for item in stream:
            if isinstance(item, ExecutionResult):
                return item
            if stop.is_set():
                break
    except DagwrightError as error:
        log.info("run_not_recovered", code=error.code, error=error.message)
        return error
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # a run not finished is stopped and recorded interrupted
    return _STOPPED


def _report(candidates: list[RunHeader], outcomes: list[_Outcome]) -> RecoveryReport:
    results: list[ExecutionResult] = []
    errors: list[RecoveryFailure] = []
    dead: list[str] = []
    skipped: list[str] = []
    for header, outcome in zip(candidates, outcomes, strict=True):
        if isinstance(outcome, ExecutionResult):
            results.append(outcome)
        elif isinstance(outcome, DagwrightError):
            errors.append(RecoveryFailure(header.run_id, outcome.code, outcome.message))
        elif outcome == "dead":
            dead.append(header.run_id)
        else:
            assert outcome == "skipped", outcome  # a stopped call raises, never reports
            skipped.append(header.run_id)
    return RecoveryReport(
        results=tuple(results),
        dead=tuple(dead),
        skipped=tuple(skipped),
        errors=tuple(errors),
        runs=tuple(candidates),
    )

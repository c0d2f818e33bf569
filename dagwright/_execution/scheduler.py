"""The run state machine: one per run, pumped by a lane.

Rules
=====
1. A step is *activated* once every predecessor is terminal and its frame is not halted.
2. Activation settles what needs no tool call at once: a step whose skip sources were
   all skipped, or whose ``when`` is false, is skipped; a step whose required inputs have
   no value fails (or is skipped, under ``on_error="skip"``).
3. Otherwise a tool step queues one :class:`Unit` (one tool call); a sub-flow step opens
   a child *frame*; a map step opens a *fan-out*, which queues at most its
   ``max_concurrency`` instances at a time, in index order, and queues the next as soon
   as one ends (no head-of-line blocking). Map instances of a sub-flow are frames too.
4. The lane ``take``\\ s units, runs them, and reports each exactly once: ``complete``,
   ``fail`` or ``cancel``. The machine alone decides retries, fallbacks, ``on_error``,
   skip propagation and what halts.
5. A failure that nothing absorbs (``on_error="skip"`` and ``error_policy="collect"``
   absorb) *halts* its frame, and the frame above it when that failure will fail the
   step that opened it. A halted frame starts nothing: its queued units are dropped when
   taken, its successors never activate. Units already taken are still reported and
   recorded as they end.
6. A frame closes when none of its activated steps is open. Closing reports to what
   opened it: the run (root), a sub-flow step, or a map instance.
7. Records and outputs are stored by step index (and instance index), so records, the
   final context and the digest come out in canonical order, never completion order.

Theory of operation
===================
The machine is pure: no clock, threads, I/O or randomness. Lanes pass the times they
measured with each report. Work that settles without a tool call (skips, frame closes,
fan-out refills) cascades through a worklist inside the machine rather than recursion, so
a chain of a thousand skipped steps costs a loop, not a stack. ``open`` counts each
frame's activated but unfinished steps; newly ready successors are counted before the
finishing step is subtracted, so a frame never looks empty while work is pending.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from dagwright._execution.binding import MISSING, bind, lookup
from dagwright._execution.fanout import FanoutRules
from dagwright._execution.journal import (
    INTERRUPTED_HINT,
    Restore,
    attempt_span,
    bare_record,
    cancelled_error,
    children_span,
    failure_entry,
    intent_entry,
    interrupted_error,
    missing_input_error,
    step_entry,
    step_target,
    subflow_error,
    withheld_error,
)
from dagwright._execution.merge import merge_step_outputs
from dagwright._execution.plan import MAP, Plan, StepPlan
from dagwright._execution.predicates import PredicateEvaluationError
from dagwright._execution.trackers import (
    ACTIVE,
    CANCELLED,
    DONE,
    END_NOTE,
    FAILED,
    NOT_RUN,
    NOTE_CACHED,
    NOTE_FALLBACK,
    NOTE_RETRIED,
    NOTE_STARTED,
    SKIPPED,
    STATUS_NAME,
    Fanout,
    Frame,
    Unit,
    halted,
)
from dagwright.errors import (
    PredicateError,
    RunnerError,
    StepInterruptedError,
    ToolInputError,
    ToolUnavailableError,
)
from dagwright.flows import RetryPolicy
from dagwright.results import AttemptRecord, ErrorInfo, StepRecord

# A final failure, by the step's on_error: (state it ends in, whether it halts the frame).
# Pre-call failures (missing input, predicate error) of a fallback step fail: the fallback
# tool would receive the same unusable inputs.
_ON_FAILURE: dict[str, tuple[int, bool]] = {
    "fail": (FAILED, True),
    "fallback": (FAILED, True),
    "skip": (SKIPPED, False),
}

# Steps that will not run again, and so go to the checkpoint journal as done.
_JOURNALED = frozenset({DONE, SKIPPED})
# Steps that ended without being done: journaled as failure entries, for readers only
# (a resume runs them again).
_FAILURES = frozenset({FAILED, CANCELLED})

# Failures that come back the same on every attempt: the inputs, a tool the workers
# cannot load, a runner that cannot take calls.
_NOT_RETRIED_BY_DEFAULT = frozenset(
    {ToolInputError.__name__, RunnerError.__name__, ToolUnavailableError.__name__}
)


# The class names of a StepInterruptedError, as a lane reports an exception's.
_INTERRUPTED = tuple(cls.__name__ for cls in StepInterruptedError.__mro__)


def retryable(policy: RetryPolicy, error_names: tuple[str, ...]) -> bool:
    """Whether an exception with these class names (its MRO) is retried under ``policy``.

    Invalid inputs, a tool the workers cannot load and a runner that cannot take calls
    fail the same way every time, so they are retried only when ``retry_on`` names the
    class explicitly (``ToolInputError``, ``ToolUnavailableError``, ``RunnerError``). An
    interrupted non-idempotent call is never retried: a retry is the very repeat it
    avoids (``on_interrupted="retry"`` asks for one).
    """
    wanted = policy.retry_on
    if error_names and error_names[0] == _INTERRUPTED[0]:
        return False
    if error_names and error_names[0] in _NOT_RETRIED_BY_DEFAULT:
        return error_names[0] in wanted
    return any(name in wanted for name in error_names)


class RunMachine(FanoutRules):
    """The state of one run; see the module docstring for its rules.

    Lanes call :meth:`take` for units to run and report each with :meth:`complete`,
    :meth:`fail` or :meth:`cancel`, until :attr:`finished`. Then :meth:`records`,
    :meth:`context`, :attr:`success`, :attr:`error` and :attr:`cause` describe the run.
    With ``side_effects=False`` (a replay) no call of an ``idempotent=False`` tool is made:
    each fails with ``CallWithheldError`` instead (see :meth:`_withhold`).
    """

    def __init__(
        self,
        plan: Plan,
        inputs: dict[str, Any],
        *,
        observe: bool = False,
        journal: bool = False,
        restore: Restore | None = None,
        run_id: str = "",
        side_effects: bool = True,
    ) -> None:
        self.plan = plan
        self.run_id = run_id
        # Journal entries for a checkpointer (None: not checkpointed), drained by the lane
        # and written before it takes new work; see journal.py for their shape.
        self.journal: list[dict[str, Any]] | None = [] if journal else None
        # False for a replay: calls of non-idempotent tools are withheld (see _intend).
        self.side_effects = side_effects
        # Whether calls of non-idempotent tools are looked at when taken: to journal
        # their intents, or to withhold them (see _intend).
        self.at_most_once = (journal or not side_effects) and plan.intents
        # What a resumed run already did: those steps and instances never run again.
        self.restore = restore
        # What happened, in order, for a lane to turn into events (None: nobody listens,
        # and nothing is noted). Each note is (kind, frame, step_id, index, attempt, tool,
        # payload); see the NOTE_* kinds in trackers.
        self.notes: list[tuple[Any, ...]] | None = [] if observe else None
        self.queue: deque[Unit] = deque()
        self.in_flight = 0
        self.finished = False
        # Set by the first halt; until then no frame can be halted and the checks that
        # walk frame chains are skipped on the hot path.
        self.halting = False
        self._pending: deque[tuple[Frame, int]] = deque()
        self._refill: deque[Fanout] = deque()
        self.root = self._open_frame(plan, inputs, None, -1, None, None)
        self._drain()

    # ---- what lanes call -------------------------------------------------------------

    def take(self, limit: int) -> list[Unit]:
        """Up to ``limit`` units to start now, in the order they became ready."""
        taken: list[Unit] = []
        queue = self.queue
        while True:
            start = len(taken)
            while queue and len(taken) < limit:
                unit = queue.popleft()
                if self.is_halted(unit):
                    # Dropping can end a step whose failure is absorbed, releasing new work.
                    self._drop(unit)
                    self._drain()
                else:
                    taken.append(unit)
            self.in_flight += len(taken) - start
            if not self.at_most_once:
                break
            taken[start:] = self._intend(taken[start:])
            if len(taken) >= limit or not queue:
                break  # else an interrupted call failed instead of starting, releasing work
        notes = self.notes
        if notes is not None:
            for unit in taken:
                notes.append(
                    (NOTE_STARTED, unit.frame, unit.step.id, unit.index, unit.attempt, unit.tool,
                     None)
                )  # fmt: skip
        return taken

    def complete(
        self,
        unit: Unit,
        outputs: dict[str, Any],
        started_at: float,
        ended_at: float,
        cached: bool = False,
    ) -> None:
        """Report that ``unit``'s call returned ``outputs`` (validated, JSON-mode);
        ``cached`` when the step cache gave them and no call was made."""
        self.in_flight -= 1
        attempt = AttemptRecord(unit.attempt, "completed", unit.tool, None, started_at, ended_at)
        step = unit.step
        if unit.attempts:
            unit.attempts.append(attempt)
            attempts = tuple(unit.attempts)
            start = attempts[0].started_at
        else:  # the common case: it worked the first time
            attempts, start = (attempt,), started_at
        fallback = unit.tool if unit.is_fallback else None
        if unit.fanout is not None:
            record = StepRecord(
                step.id, "completed", step.target, None, unit.inputs, outputs, attempts,
                None, unit.index, (), fallback, start, ended_at, cached,
            )  # fmt: skip
            self._instance_ended(unit.fanout, unit.index or 0, DONE, outputs, record, None)
        else:
            written = (
                outputs if step.writes_all else {key: outputs[name] for key, name in step.writes}
            )
            record = StepRecord(
                step.id, "completed", step.target, None, unit.inputs, written, attempts,
                None, None, (), fallback, start, ended_at, cached,
            )  # fmt: skip
            self._settle(unit.frame, step.index, DONE, written, record)
        self._drain()

    def fail(
        self,
        unit: Unit,
        error: ErrorInfo,
        error_names: tuple[str, ...],
        started_at: float | None,
        ended_at: float | None,
        cause: BaseException | None = None,
    ) -> None:
        """Report that ``unit``'s call failed; ``error_names`` is the exception's MRO names.

        The machine retries it (the unit is queued again with ``attempt`` and ``delay``
        set), calls the fallback tool, or records the failure. ``cause`` is the exception
        itself, kept by reference (never inspected) for :attr:`cause`.
        """
        self.in_flight -= 1
        step = unit.step
        error = ErrorInfo(
            error.code, error.type, error.message, step.id, unit.index, error.traceback
        )
        unit.attempts.append(
            AttemptRecord(unit.attempt, "failed", unit.tool, error, started_at, ended_at)
        )
        if not self.is_halted(unit) and not unit.is_fallback:
            policy = step.retry
            if (
                policy is not None
                and unit.attempt + 1 < policy.max_attempts
                and retryable(policy, error_names)
            ):
                unit.attempt += 1
                unit.delay = policy.delay_before(unit.attempt)
                if self.notes is not None:
                    self.notes.append(
                        (NOTE_RETRIED, unit.frame, step.id, unit.index, unit.attempt - 1,
                         unit.tool, (error, unit.delay))
                    )  # fmt: skip
                self.queue.append(unit)
                return
            if step.fallback is not None:
                if self.notes is not None:
                    self.notes.append(
                        (NOTE_FALLBACK, unit.frame, step.id, unit.index, unit.attempt,
                         unit.tool, (error, step.fallback))
                    )  # fmt: skip
                unit.attempt += 1
                unit.delay = 0.0
                unit.is_fallback = True
                unit.tool = step.fallback
                self.queue.append(unit)
                return
        self._unit_ended(unit, FAILED, error, cause)
        self._drain()

    def cancel(self, unit: Unit, started_at: float | None, ended_at: float | None) -> None:
        """Report that ``unit``'s call was cancelled before it returned."""
        self.in_flight -= 1
        unit.attempts.append(
            AttemptRecord(unit.attempt, "cancelled", unit.tool, None, started_at, ended_at)
        )
        self._unit_ended(unit, CANCELLED, cancelled_error(unit.step, unit.index))
        self._drain()

    def is_halted(self, unit: Unit) -> bool:
        """True when ``unit`` must not start (or, in flight, should be cancelled)."""
        if not self.halting:
            return False
        return (unit.fanout is not None and unit.fanout.stopping) or halted(unit.frame)

    # ---- what the run produced -------------------------------------------------------

    @property
    def success(self) -> bool:
        """True when the run finished with no failure."""
        return self.finished and self.root.failure is None and not self.root.incomplete

    @property
    def error(self) -> ErrorInfo | None:
        """The failure that ended the run, if any."""
        return self.root.failure

    @property
    def cause(self) -> BaseException | None:
        """The exception behind :attr:`error` (the innermost tool's), if one was reported."""
        return self.root.cause

    def records(self) -> tuple[StepRecord, ...]:
        """The run's step records in canonical order."""
        return self.root.record_list()

    def context(self) -> dict[str, Any]:
        """The final context: flow inputs, then every step's writes in canonical order."""
        return merge_step_outputs(self.root.inputs, self.root.outputs)

    # ---- internals -------------------------------------------------------------------

    def _open_frame(
        self,
        plan: Plan,
        inputs: dict[str, Any],
        parent: Frame | None,
        parent_step: int,
        fanout: Fanout | None,
        index: int | None,
    ) -> Frame:
        frame = Frame(plan, inputs, parent, parent_step, fanout, index, self.run_id)
        frame.open = len(plan.roots)
        for i in plan.roots:
            self._pending.append((frame, i))
        if frame.open == 0:
            self._close(frame)
        return frame

    def _drain(self) -> None:
        pending, refill = self._pending, self._refill
        while pending or refill:
            while pending:
                frame, i = pending.popleft()
                if self.halting and halted(frame):
                    frame.state[i] = NOT_RUN
                    frame.incomplete = True
                    self._step_left(frame)
                else:
                    frame.state[i] = ACTIVE
                    self._activate(frame, frame.plan.steps[i])
            while refill:
                self._launch(refill.popleft())

    def _activate(self, frame: Frame, step: StepPlan) -> None:
        if self.restore is not None:
            saved = self.restore.steps.get((frame.path, step.id))
            if saved is not None:
                done = saved.status == "completed"
                written = dict(saved.outputs) if done else None
                self._settle(frame, step.index, DONE if done else SKIPPED, written, saved, True)
                return
        state = frame.state
        if step.skip_sources and all(state[j] == SKIPPED for j in step.skip_sources):
            self._settle(frame, step.index, SKIPPED, None, bare_record(step, "skipped"))
            return
        if step.when is not None:
            values = {}
            for name, source in step.when_sources:
                value = lookup(source, frame.outputs, frame.inputs)
                values[name] = None if value is MISSING else value
            try:
                go = step.when.evaluate(values)
            except PredicateEvaluationError as exc:
                error = ErrorInfo(
                    PredicateError.code,
                    PredicateError.__name__,
                    f"`when` {step.when.source!r} could not be evaluated: {exc}",
                    step.id,
                )
                self._step_failed(frame, step, error, {}, (), ())
                return
            if not go:
                self._settle(frame, step.index, SKIPPED, None, bare_record(step, "skipped"))
                return
        if step.kind == MAP:
            self._open_fanout(frame, step)
            return
        inputs, missing = bind(step.bindings, frame.outputs, frame.inputs)
        if missing:
            self._step_failed(frame, step, missing_input_error(step, missing), inputs, (), ())
        elif step.subplan is not None:
            if self.notes is not None:
                self.notes.append((NOTE_STARTED, frame, step.id, None, 0, step.target, None))
            self._open_frame(step.subplan, inputs, frame, step.index, None, None)
        else:
            self.queue.append(Unit(frame, step, None, None, inputs))

    def _settle(
        self,
        frame: Frame,
        i: int,
        state: int,
        written: dict[str, Any] | None,
        record: StepRecord | None,
        restored: bool = False,
    ) -> None:
        """Step ``i`` reached a terminal ``state``: record it and release its successors.

        A completed or skipped step is journaled (unless it was ``restored`` from the
        journal): it will not run again. A failed or cancelled one is journaled as a
        failure entry, which a resume does not read: it runs the step again.
        """
        frame.state[i] = state
        frame.records[i] = record
        if record is not None and not restored:
            if self.notes is not None:
                self._note_end(frame, record, state, written)
            if self.journal is not None and frame.journaled:
                if state in _JOURNALED:
                    self.journal.append(step_entry(frame.path, record))
                elif state in _FAILURES:
                    self.journal.append(failure_entry(frame.path, record))
        if written is not None:
            frame.outputs[i] = written
        if state == CANCELLED:
            frame.incomplete = True
        if not (self.halting and halted(frame)):
            waiting = frame.waiting
            for j in frame.plan.steps[i].successors:
                waiting[j] -= 1
                if waiting[j] == 0:
                    self._pending.append((frame, j))
                    frame.open += 1
        frame.open -= 1
        if frame.open == 0:
            self._close(frame)

    def _step_left(self, frame: Frame) -> None:
        frame.open -= 1
        if frame.open == 0:
            self._close(frame)

    def _step_failed(
        self,
        frame: Frame,
        step: StepPlan,
        error: ErrorInfo,
        inputs: dict[str, Any],
        attempts: tuple[AttemptRecord, ...],
        children: tuple[StepRecord, ...],
        fallback: str | None = None,
        cause: BaseException | None = None,
    ) -> None:
        """A step's final failure: ``on_error`` decides between failed and skipped."""
        state, halts = _ON_FAILURE[step.on_error]
        start, end = attempt_span(attempts) if attempts else children_span(children)
        record = StepRecord(
            step.id, STATUS_NAME[state], *step_target(step), inputs, {}, attempts, error,
            None, children, fallback, start, end,
        )  # fmt: skip
        if halts:
            if frame.failure is None:
                frame.failure, frame.cause = error, cause
            self._halt(frame)
        self._settle(frame, step.index, state, None, record)

    def _halt(self, frame: Frame) -> None:
        """Stop starting work in ``frame``, and above it where this failure will spread."""
        self.halting = True
        frame.stopping = True
        parent = frame.parent
        if parent is None:
            return
        fanout = frame.fanout
        if fanout is not None:
            if fanout.step.error_policy == "fail_fast":
                fanout.stopping = True
                self._halt(fanout.frame)
        elif parent.plan.steps[frame.parent_step].on_error != "skip":
            self._halt(parent)

    def _unit_ended(
        self, unit: Unit, state: int, error: ErrorInfo, cause: BaseException | None = None
    ) -> None:
        step = unit.step
        attempts = tuple(unit.attempts)
        fallback = unit.tool if unit.is_fallback else None
        if unit.fanout is not None:
            start, end = attempt_span(attempts)
            record = StepRecord(
                step.id, STATUS_NAME[state], step.target, None, unit.inputs, {}, attempts,
                error, unit.index, (), fallback, start, end,
            )  # fmt: skip
            self._instance_ended(unit.fanout, unit.index or 0, state, None, record, error, cause)
        elif state == FAILED:
            self._step_failed(unit.frame, step, error, unit.inputs, attempts, (), fallback, cause)
        else:
            start, end = attempt_span(attempts)
            record = StepRecord(
                step.id, STATUS_NAME[state], step.target, None, unit.inputs, {}, attempts,
                error, None, (), fallback, start, end,
            )  # fmt: skip
            self._settle(unit.frame, step.index, state, None, record)

    def _drop(self, unit: Unit) -> None:
        """A queued unit of a halted frame: it never starts (or never retries)."""
        if unit.attempts:  # it failed before and waited for a retry: it ends cancelled
            self.in_flight += 1
            self.cancel(unit, None, None)
            return
        if unit.fanout is not None:
            self._instance_ended(unit.fanout, unit.index or 0, NOT_RUN, None, None, None)
        else:
            unit.frame.state[unit.step.index] = NOT_RUN
            unit.frame.incomplete = True
            self._step_left(unit.frame)

    def _close(self, frame: Frame) -> None:
        """Every activated step of ``frame`` ended: report to what opened it."""
        if frame.parent is None:
            self.finished = True
            return
        if frame.fanout is not None:
            self._instance_closed(frame, frame.fanout)
            return
        children = frame.record_list()
        parent = frame.parent
        step = parent.plan.steps[frame.parent_step]
        if frame.failure is not None:
            error = subflow_error(step, frame.failure, None)
            self._step_failed(parent, step, error, frame.inputs, (), children, None, frame.cause)
            return
        start, end = children_span(children)
        if frame.incomplete:
            record = StepRecord(
                step.id, "cancelled", None, step.target, frame.inputs, {}, (),
                cancelled_error(step, None), None, children, None, start, end,
            )  # fmt: skip
            self._settle(parent, step.index, CANCELLED, None, record)
            return
        outputs = frame.subflow_outputs()
        written = {key: outputs[name] for key, name in step.writes if name in outputs}
        record = StepRecord(
            step.id, "completed", None, step.target, frame.inputs, written, (), None, None,
            children, None, start, end,
        )  # fmt: skip
        self._settle(parent, step.index, DONE, written, record)

    def _note_end(
        self, frame: Frame, record: StepRecord, state: int, written: dict[str, Any] | None
    ) -> None:
        assert self.notes is not None
        attempt = record.attempts[-1].number if record.attempts else 0
        payload = written if state == DONE else record.error
        # The tool that produced the outcome: the fallback tool once it was called.
        tool = record.fallback or record.tool or record.flow
        kind = NOTE_CACHED if record.cached else END_NOTE[state]
        self.notes.append((kind, frame, record.step_id, record.index, attempt, tool, payload))

    def _intend(self, taken: list[Unit]) -> list[Unit]:
        """Journal an intent for each call of a non-idempotent tool about to start (the
        lane writes it before the call). A call an earlier session made without recording
        its result is not started: it fails with ``StepInterruptedError`` (``on_error``
        applies), unless its step says ``on_interrupted="retry"``. Without
        ``side_effects`` no such call starts: each is withheld (see :meth:`_withhold`)."""
        journal = self.journal
        doubtful = self.restore.intents if self.restore is not None else None
        kept: list[Unit] = []
        for unit in taken:
            step = unit.step
            if unit.tool not in step.intent_tools:
                kept.append(unit)
                continue
            if not self.side_effects:
                self._withhold(unit)
                continue
            assert journal is not None
            path = unit.frame.path
            if doubtful:
                earlier = doubtful.pop((path, step.id, unit.index), None)
                if earlier is not None and step.on_interrupted != "retry":
                    fallback = step.fallback
                    if fallback is not None and earlier.get("tool") == fallback:
                        # The fallback's call is the one in doubt: it is not made again.
                        unit.is_fallback, unit.tool = True, fallback
                    error = interrupted_error(step, unit.index, earlier)
                    cause = StepInterruptedError(error.message, hint=INTERRUPTED_HINT)
                    self.fail(unit, error, _INTERRUPTED, None, None, cause)
                    continue
            journal.append(intent_entry(path, step.id, unit.index, unit.tool, unit.attempt))
            kept.append(unit)
        return kept

    def _withhold(self, unit: Unit) -> None:
        """A replay does not make a call of a non-idempotent tool: the unit fails at once
        with ``CallWithheldError``, with no attempt recorded (none was made) and no retry
        or fallback (the call was not tried, it did not fail); ``on_error`` applies. The
        replay check gives a replay the recorded outcomes of the calls it can reuse, so
        only calls with no recorded result reach this."""
        self.in_flight -= 1  # it was counted when taken
        self._unit_ended(unit, FAILED, withheld_error(unit.step, unit.index, unit.tool))
        self._drain()

    def stop(self) -> None:
        """Halt the whole run: nothing new starts (the lane stopped listening)."""
        self._halt(self.root)

    # ---- small helpers -----------------------------------------------------------------

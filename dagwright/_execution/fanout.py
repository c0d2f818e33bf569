"""The fan-out rules of the run state machine: map steps and their instances.

Mixed into :class:`~dagwright._execution.scheduler.RunMachine`; the scheduler's rules
(its module docstring) apply. A map resolves ``over`` once, then keeps at most its
``max_concurrency`` instances in flight, starting them in index order and refilling a
slot as soon as any instance ends, so a slow early instance never idles free slots.
Results and records are stored by index and assembled in item order at the end.
Instances are created lazily: a map over 100,000 items holds its results, not 100,000
pending units. On resume, instances recorded in the journal are filled in from their
records and never run again.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from dagwright._execution.binding import MISSING, bind, lookup
from dagwright._execution.journal import (
    Restore,
    cancelled_error,
    children_span,
    collect_error,
    count_mismatch_error,
    failure_entry,
    instance_entry,
    missing_input_error,
    step_target,
    subflow_error,
)
from dagwright._execution.plan import Plan, StepPlan
from dagwright._execution.trackers import (
    CANCELLED,
    DONE,
    FAILED,
    NOTE_STARTED,
    STATUS_NAME,
    Fanout,
    Frame,
    Unit,
    halted,
)
from dagwright.errors import ToolInputError
from dagwright.results import AttemptRecord, ErrorInfo, StepRecord


class FanoutRules:
    """Map-step rules; a mixin of ``RunMachine``, which provides what is declared below."""

    if TYPE_CHECKING:
        queue: deque[Unit]
        notes: list[tuple[Any, ...]] | None
        journal: list[dict[str, Any]] | None
        restore: Restore | None
        halting: bool
        _refill: deque[Fanout]

        def _open_frame(
            self,
            plan: Plan,
            inputs: dict[str, Any],
            parent: Frame | None,
            parent_step: int,
            fanout: Fanout | None,
            index: int | None,
        ) -> Frame: ...

        def _settle(
            self,
            frame: Frame,
            i: int,
            state: int,
            written: dict[str, Any] | None,
            record: StepRecord | None,
            restored: bool = False,
        ) -> None: ...

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
        ) -> None: ...

        def _halt(self, frame: Frame) -> None: ...

        def _note_end(
            self, frame: Frame, record: StepRecord, state: int, written: dict[str, Any] | None
        ) -> None: ...

    def _open_fanout(self, frame: Frame, step: StepPlan) -> None:
        assert step.over is not None
        if self.notes is not None:
            self.notes.append((NOTE_STARTED, frame, step.id, None, 0, step.target, None))
        items = lookup(step.over, frame.outputs, frame.inputs)
        shared, missing = bind(step.bindings, frame.outputs, frame.inputs)
        if items is MISSING or not isinstance(items, list):
            got = "no value" if items is MISSING else f"a {type(items).__name__}"
            error = ErrorInfo(
                ToolInputError.code,
                ToolInputError.__name__,
                f"`over` {step.over.key!r} of map step {step.id!r} resolved to {got}, not a list",
                step.id,
            )
            self._step_failed(frame, step, error, shared, (), ())
        elif missing:
            self._step_failed(frame, step, missing_input_error(step, missing), shared, (), ())
        else:
            fanout = Fanout(frame, step, items, shared)
            if self.restore is not None:
                saved = self.restore.instances.get((frame.path, step.id))
                if saved is not None:
                    count, fanout.restored = saved
                    if count != len(items):
                        error = count_mismatch_error(step, count, len(items))
                        self._step_failed(frame, step, error, shared, (), ())
                        return
            if items:
                self._launch(fanout)
            else:
                self._fanout_settled(fanout)

    def _launch(self, fanout: Fanout) -> None:
        """Start instances in index order until the map's concurrency bound is reached."""
        step, items = fanout.step, fanout.items
        limit, item = step.max_concurrency, step.item or ""
        restored = fanout.restored
        while fanout.running < limit and fanout.next < len(items) and not fanout.stopping:
            index = fanout.next
            fanout.next += 1
            if restored is not None and index in restored:  # done in an earlier session
                record = restored[index]
                fanout.records[index] = record
                if record.status == "completed":
                    fanout.outputs[index] = dict(record.outputs)
                else:
                    fanout.errors[index] = collect_error(record)
                continue
            fanout.running += 1
            inputs = dict(fanout.shared)
            inputs[item] = items[index]
            if step.subplan is not None:
                if self.notes is not None:
                    self.notes.append(
                        (NOTE_STARTED, fanout.frame, step.id, index, 0, step.target, None)
                    )
                self._open_frame(step.subplan, inputs, fanout.frame, step.index, fanout, index)
            else:
                self.queue.append(Unit(fanout.frame, step, fanout, index, inputs))
        if fanout.running == 0 and fanout.next == len(items):  # every rest was restored
            self._fanout_settled(fanout)

    def _instance_ended(
        self,
        fanout: Fanout,
        index: int,
        state: int,
        outputs: dict[str, Any] | None,
        record: StepRecord | None,
        error: ErrorInfo | None,
        cause: BaseException | None = None,
    ) -> None:
        """Instance ``index`` ended; a fail-fast failure keeps ``cause`` for the map step."""
        fanout.running -= 1
        fanout.records[index] = record
        if record is not None:
            if self.notes is not None:
                self._note_end(fanout.frame, record, state, outputs)
            if self.journal is not None and fanout.frame.journaled:
                # Done, or failed under collect: the instance never runs again. Failed
                # under fail_fast, or cancelled: a failure entry, and a resume reruns it.
                path, count = fanout.frame.path, len(fanout.items)
                if state == DONE or (state == FAILED and fanout.step.error_policy == "collect"):
                    self.journal.append(instance_entry(path, count, record))
                elif state in (FAILED, CANCELLED):
                    self.journal.append(failure_entry(path, record, count))
        if state == DONE:
            fanout.outputs[index] = outputs
        elif state == FAILED and error is not None:
            if fanout.step.error_policy == "collect":
                fanout.errors[index] = {
                    "index": index,
                    "error_type": error.type,
                    "message": error.message,
                }
            elif fanout.failure is None:
                fanout.failure, fanout.cause = error, cause
                fanout.stopping = True
                self.halting = True
                self._halt(fanout.frame)
        else:
            fanout.incomplete = True
        if fanout.running == 0 and (
            fanout.next == len(fanout.items) or self._fanout_halted(fanout)
        ):
            self._fanout_settled(fanout)
        elif not fanout.stopping and fanout.next < len(fanout.items):
            self._refill.append(fanout)

    def _instance_closed(self, frame: Frame, fanout: Fanout) -> None:
        """The sub-flow frame of map instance ``frame.index`` closed: end the instance."""
        children = frame.record_list()
        step, index = fanout.step, frame.index or 0
        if frame.failure is not None:
            error = subflow_error(step, frame.failure, index)
            state, outputs = FAILED, None
        elif frame.incomplete:
            error, state, outputs = cancelled_error(step, index), CANCELLED, None
        else:
            error, state, outputs = None, DONE, frame.subflow_outputs()
        start, end = children_span(children)
        record = StepRecord(
            step.id, STATUS_NAME[state], None, step.target, frame.inputs, outputs or {},
            (), error, index, children, None, start, end,
        )  # fmt: skip
        self._instance_ended(fanout, index, state, outputs, record, error, frame.cause)

    def _fanout_halted(self, fanout: Fanout) -> bool:
        return fanout.stopping or halted(fanout.frame)

    def _fanout_settled(self, fanout: Fanout) -> None:
        step, frame = fanout.step, fanout.frame
        children = tuple(r for r in fanout.records if r is not None)
        inputs = {**fanout.shared, "over": fanout.items}
        if fanout.failure is not None:
            self._step_failed(frame, step, fanout.failure, inputs, (), children, None, fanout.cause)
            return
        start, end = children_span(children)
        if fanout.incomplete or fanout.next < len(fanout.items):
            record = StepRecord(
                step.id, "cancelled", *step_target(step), inputs, {}, (),
                cancelled_error(step, None), None, children, None, start, end,
            )  # fmt: skip
            self._settle(frame, step.index, CANCELLED, None, record)
            return
        written: dict[str, Any] = {
            step.results_key or "": [o for o in fanout.outputs if o is not None]
        }
        if step.errors_key is not None:
            written[step.errors_key] = [fanout.errors[i] for i in sorted(fanout.errors)]
        record = StepRecord(
            step.id, "completed", *step_target(step), inputs, written, (), None, None,
            children, None, start, end,
        )  # fmt: skip
        self._settle(frame, step.index, DONE, written, record)

"""What a run records, and the state restored from records.

Every record the scheduler writes is built here, so the shape of a skipped step, a
cancelled one or a failed sub-flow is decided in one place.

A checkpoint journal is an append-only list of JSON entries, one per unit of work that
will not run again:

* ``{"kind": "step", "path": [...], "step": id, "record": {...}}``: a step completed or
  was skipped (a sub-flow or map step: with its children's records);
* ``{"kind": "instance", "path": [...], "step": id, "index": i, "count": n,
  "record": {...}}``: map instance ``i`` of ``n`` completed, or failed under ``collect``
  (its error record is derived from the record). The result and the "completed" mark
  are one entry, so an instance is either recorded with its result or not at all;
* ``{"kind": "failure", "path": [...], "step": id, "record": {...}}`` (with ``"index"``
  and ``"count"`` for a map instance): a step or instance ended ``failed`` or
  ``cancelled``, with its whole record (attempts, error and traceback, times). It is
  information only: a failed or cancelled unit is not done, so :class:`Restore` never
  reads it and a resume runs the unit again, journaling its new outcome after it.

``path`` locates the frame: ``[]`` for the run, then for each enclosing sub-flow the id
of the step that called it. A map instance is the unit of recovery: it is recorded
whole, with its result, or it re-runs from its start; so nothing inside a map instance's
sub-flow is journaled on its own. The steps inside a plain sub-flow step are.
:class:`Restore` indexes a loaded journal for the scheduler. Readers of a journal take,
per unit, a completion entry over any failure entry, else the latest failure entry: the
unit's last outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dagwright._execution.plan import StepPlan
from dagwright.errors import (
    CheckpointMismatchError,
    StepCancelledError,
    SubflowError,
    ToolInputError,
)
from dagwright.results import AttemptRecord, ErrorInfo, StepRecord, StepStatus


def attempt_span(attempts: list[AttemptRecord] | tuple[AttemptRecord, ...]) -> tuple[Any, Any]:
    if not attempts:
        return None, None
    return attempts[0].started_at, attempts[-1].ended_at


def children_span(children: tuple[StepRecord, ...]) -> tuple[float | None, float | None]:
    starts = [c.started_at for c in children if c.started_at is not None]
    ends = [c.ended_at for c in children if c.ended_at is not None]
    return (min(starts) if starts else None, max(ends) if ends else None)


def step_target(step: StepPlan) -> tuple[str | None, str | None]:
    return (None, step.target) if step.subplan is not None else (step.target, None)


def bare_record(step: StepPlan, status: StepStatus) -> StepRecord:
    tool, flow = step_target(step)
    return StepRecord(step.id, status, tool, flow)


def missing_input_error(step: StepPlan, missing: list[str]) -> ErrorInfo:
    return ErrorInfo(
        ToolInputError.code,
        ToolInputError.__name__,
        f"required input field(s) {', '.join(map(repr, missing))} of step {step.id!r} "
        "have no value: every step that writes them was skipped and no flow input "
        "holds them",
        step.id,
    )


def cancelled_error(step: StepPlan, index: int | None) -> ErrorInfo:
    return ErrorInfo(
        StepCancelledError.code,
        StepCancelledError.__name__,
        "cancelled because the run stopped after a failure",
        step.id,
        index,
    )


def subflow_error(step: StepPlan, inner: ErrorInfo, index: int | None) -> ErrorInfo:
    """A sub-flow step's (or instance's) failure; it keeps the inner failure's traceback."""
    where = f"[{inner.index}]" if inner.index is not None else ""
    return ErrorInfo(
        SubflowError.code,
        SubflowError.__name__,
        f"sub-flow {step.target!r} failed at step {inner.step_id!r}{where}: "
        f"[{inner.code}] {inner.type}: {inner.message}",
        step.id,
        index,
        inner.traceback,
    )


Path = tuple[str | int, ...]


def step_entry(path: Path, record: StepRecord) -> dict[str, Any]:
    """The journal entry of a step that completed or was skipped."""
    return {"kind": "step", "path": list(path), "step": record.step_id, "record": record.to_dict()}


def instance_entry(path: Path, count: int, record: StepRecord) -> dict[str, Any]:
    """The journal entry of a map instance that completed (or failed under ``collect``)."""
    return {
        "kind": "instance",
        "path": list(path),
        "step": record.step_id,
        "index": record.index,
        "count": count,
        "record": record.to_dict(),
    }


FAILURE = "failure"
"""The ``kind`` of a failure entry (see :func:`failure_entry`)."""


def failure_entry(path: Path, record: StepRecord, count: int | None = None) -> dict[str, Any]:
    """The journal entry of a step (or, with the map's item ``count``, a map instance)
    that ended failed or cancelled: a record to read back, never a completion."""
    entry: dict[str, Any] = {
        "kind": FAILURE,
        "path": list(path),
        "step": record.step_id,
        "record": record.to_dict(),
    }
    if count is not None:
        entry["index"] = record.index
        entry["count"] = count
    return entry


@dataclass(slots=True)
class Restore:
    """A loaded journal, indexed by frame path and step id for the scheduler."""

    steps: dict[tuple[Path, str], StepRecord] = field(default_factory=dict)
    instances: dict[tuple[Path, str], tuple[int, dict[int, StepRecord]]] = field(
        default_factory=dict
    )

    @classmethod
    def from_entries(cls, entries: Iterable[Mapping[str, Any]]) -> Restore:
        """Index journal entries; an entry seen twice counts once (the last one).

        Failure entries are skipped unread: what failed or was cancelled runs again.
        """
        restore = cls()
        for entry in entries:
            if entry["kind"] == FAILURE:
                continue
            key = (tuple(entry["path"]), entry["step"])
            record = StepRecord.from_dict(entry["record"])
            if entry["kind"] == "step":
                restore.steps[key] = record
            elif entry["kind"] == "instance":
                count, done = restore.instances.setdefault(key, (entry["count"], {}))
                if entry["count"] != count:  # the item list changed between sessions
                    restore.instances[key] = (-1, done)
                done[entry["index"]] = record
        return restore


def collect_error(record: StepRecord) -> dict[str, Any]:
    """The ``errors`` element of an instance that failed under ``collect``."""
    error = record.error
    assert error is not None and record.index is not None
    return {"index": record.index, "error_type": error.type, "message": error.message}


def count_mismatch_error(step: StepPlan, saved: int, now: int) -> ErrorInfo:
    """A map whose resolved item count differs from the one its checkpoint saved."""
    return ErrorInfo(
        CheckpointMismatchError.code,
        CheckpointMismatchError.__name__,
        f"map step {step.id!r} resolved {now} item(s), but its checkpoint saved {saved}: "
        "the items changed since the run started, so saved results cannot be matched to them",
        step.id,
    )

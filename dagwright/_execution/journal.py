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

* ``{"kind": "intent", "path": [...], "step": id, "tool": name, "attempt": n}`` (with
  ``"index"`` for a map instance): a call of an ``idempotent=False`` tool is about to be
  made. It is durable before the call starts. The unit's next completion or failure
  entry settles it (see :func:`settles`: a failure because the call was in doubt does
  not); an intent still unsettled when a resume loads the journal marks a
  call that may have happened without its result being recorded (see
  :attr:`Restore.intents`). Intents are written in every frame, journaled or not (inside
  a map instance's sub-flow too), because a call's side effect is never undone;
* ``{"kind": "recovery", "at": t}``: ``recover`` resumed the run (at epoch ``t``); how
  many times it did decides when the run is ``dead`` (:attr:`Restore.recoveries`).

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
    CallWithheldError,
    CheckpointMismatchError,
    StepCancelledError,
    StepInterruptedError,
    StepTimeoutError,
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


INTERRUPTED_HINT = (
    "find out whether the call took effect; if the tool can deduplicate on "
    "current_call().idempotency_key, set on_interrupted='retry' on the step to call it again"
)


def interrupted_error(step: StepPlan, index: int | None, intent: Mapping[str, Any]) -> ErrorInfo:
    """A call an earlier session made (``intent``) with no result recorded: not made again."""
    return ErrorInfo(
        StepInterruptedError.code,
        StepInterruptedError.__name__,
        f"tool {intent.get('tool')!r} (attempt {intent.get('attempt')}) was called by an "
        "earlier session of this run, which stopped before the call's result was recorded; "
        "the tool is marked idempotent=False, so the call is not made again",
        step.id,
        index,
    )


def withheld_error(step: StepPlan, index: int | None, tool: str) -> ErrorInfo:
    """A call of a non-idempotent tool that a replay does not make (no result to reuse)."""
    return ErrorInfo(
        CallWithheldError.code,
        CallWithheldError.__name__,
        f"tool {tool!r} is marked idempotent=False and the recorded run holds no result of "
        "this call to use instead, so the replay check did not make it (verify with "
        "allow_side_effects=True makes it)",
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
INTENT = "intent"
"""The ``kind`` of an intent entry (see :func:`intent_entry`)."""
RECOVERY = "recovery"
"""The ``kind`` of a recovery entry (see :func:`recovery_entry`)."""

Call = tuple[Path, str, int | None]
"""A call's place: its frame's path, the step id and the map index (``None`` outside a
map instance of a tool)."""


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


def intent_entry(
    path: Path, step_id: str, index: int | None, tool: str, attempt: int
) -> dict[str, Any]:
    """The journal entry written, and made durable, before a non-idempotent call."""
    entry: dict[str, Any] = {
        "kind": INTENT,
        "path": list(path),
        "step": step_id,
        "tool": tool,
        "attempt": attempt,
    }
    if index is not None:
        entry["index"] = index
    return entry


def recovery_entry(at: float) -> dict[str, Any]:
    """The journal entry ``recover`` writes when it resumes a run (epoch seconds ``at``)."""
    return {"kind": RECOVERY, "at": at}


def settles(entry: Mapping[str, Any]) -> bool:
    """Whether ``entry``, recorded after a call's intent, settles that call: whether the
    call's outcome is known.

    A completion does. A failure does when the last call made returned or raised; not
    when it timed out (a sync call past its deadline is abandoned, not stopped: it may
    still take effect) or was cancelled while it ran, and never once a resume found the
    call in doubt (a ``StepInterruptedError`` among the attempts: the call stays in doubt,
    so no later resume makes it either). Attempts cancelled before they started (a retry
    that never came) are passed over.
    """
    if entry["kind"] != FAILURE:
        return True
    attempts = entry["record"].get("attempts") or ()
    codes = [(attempt.get("error") or {}).get("code") for attempt in attempts]
    if StepInterruptedError.code in codes:
        return False
    for attempt, code in zip(reversed(attempts), reversed(codes), strict=True):
        if attempt.get("status") == "cancelled":
            if attempt.get("started_at") is None:
                continue  # dropped before it started: the call before it decides
            return False
        return bool(code != StepTimeoutError.code)
    return True


@dataclass(slots=True)
class Restore:
    """A loaded journal, indexed by frame path and step id for the scheduler."""

    steps: dict[tuple[Path, str], StepRecord] = field(default_factory=dict)
    instances: dict[tuple[Path, str], tuple[int, dict[int, StepRecord]]] = field(
        default_factory=dict
    )
    recoveries: int = 0
    """How many recovery entries the journal holds: the times ``recover`` resumed the run."""
    intents: dict[Call, Mapping[str, Any]] = field(default_factory=dict)
    """Calls of non-idempotent tools whose intent no later entry settled: made, perhaps,
    by an earlier session, with no outcome recorded. Each maps to its last intent."""

    @classmethod
    def from_entries(cls, entries: Iterable[Mapping[str, Any]]) -> Restore:
        """Index journal entries; an entry seen twice counts once (the last one).

        Failure entries are read only to settle intents: what failed or was cancelled
        runs again. Recovery entries are only counted.
        """
        restore = cls()
        intents = restore.intents
        for entry in entries:
            kind = entry["kind"]
            if kind == INTENT:
                intents[(tuple(entry["path"]), entry["step"], entry.get("index"))] = entry
                continue
            if kind == RECOVERY:
                restore.recoveries += 1
                continue
            if intents and settles(entry):
                intents.pop((tuple(entry["path"]), entry["step"], entry.get("index")), None)
            if kind == FAILURE:
                continue
            key = (tuple(entry["path"]), entry["step"])
            record = StepRecord.from_dict(entry["record"])
            if kind == "step":
                restore.steps[key] = record
            elif kind == "instance":
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

"""What a run records: record and error builders shared by the scheduler's rules.

Every record the scheduler writes is built here, so the shape of a skipped step, a
cancelled one or a failed sub-flow is decided in one place. (Checkpoint journals record
the same objects.)
"""

from __future__ import annotations

from typing import Any

from dagwright._execution.plan import StepPlan
from dagwright.errors import StepCancelledError, SubflowError, ToolInputError
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
    where = f"[{inner.index}]" if inner.index is not None else ""
    return ErrorInfo(
        SubflowError.code,
        SubflowError.__name__,
        f"sub-flow {step.target!r} failed at step {inner.step_id!r}{where}: "
        f"[{inner.code}] {inner.type}: {inner.message}",
        step.id,
        index,
    )

"""Mutable trackers of a running flow: units of work, frames and fan-outs.

The scheduler owns these and mutates them; nothing outside ``_execution`` does. They
hold only what a run needs while it is going: records, once built, are frozen
(:mod:`dagwright.results`) and kept apart.
"""

from __future__ import annotations

from typing import Any

from dagwright._execution.merge import merge_step_outputs
from dagwright._execution.plan import Plan, StepPlan
from dagwright.results import AttemptRecord, ErrorInfo, StepRecord, StepStatus

# Step states inside a frame.
PENDING, ACTIVE, DONE, SKIPPED, FAILED, CANCELLED, NOT_RUN = range(7)

# What a machine notes for its lane to report, when someone listens. The payload of a
# NOTE_STARTED is a map step's resolved item count (None for any other start). A
# NOTE_CACHED is a NOTE_COMPLETED whose outputs came from the step cache.
(
    NOTE_STARTED,
    NOTE_COMPLETED,
    NOTE_FAILED,
    NOTE_SKIPPED,
    NOTE_RETRIED,
    NOTE_CANCELLED,
    NOTE_FALLBACK,
    NOTE_CACHED,
) = range(8)

STATUS_NAME: dict[int, StepStatus] = {
    DONE: "completed",
    SKIPPED: "skipped",
    FAILED: "failed",
    CANCELLED: "cancelled",
}


END_NOTE: dict[int, int] = {
    DONE: NOTE_COMPLETED,
    SKIPPED: NOTE_SKIPPED,
    FAILED: NOTE_FAILED,
    CANCELLED: NOTE_CANCELLED,
}


class Unit:
    """One tool call handed to a lane: call ``tool`` with ``inputs`` after ``delay`` seconds.

    ``attempt`` numbers the call (from 0); ``index`` is the map instance index or ``None``.
    The same unit comes back through ``take`` for each retry or fallback call.
    """

    __slots__ = (
        "attempt",
        "attempts",
        "delay",
        "fanout",
        "frame",
        "index",
        "inputs",
        "is_fallback",
        "step",
        "tool",
    )

    def __init__(
        self,
        frame: Frame,
        step: StepPlan,
        fanout: Fanout | None,
        index: int | None,
        inputs: dict[str, Any],
    ) -> None:
        self.frame = frame
        self.step = step
        self.fanout = fanout
        self.index = index
        self.tool = step.target
        self.inputs = inputs
        self.attempt = 0
        self.delay = 0.0
        self.is_fallback = False
        self.attempts: list[AttemptRecord] = []

    @property
    def step_id(self) -> str:
        """The id of the step this call belongs to."""
        return self.step.id

    @property
    def timeout_s(self) -> float | None:
        """The step's timeout for this call, if any."""
        return self.step.timeout_s

    def __repr__(self) -> str:
        where = "" if self.index is None else f"[{self.index}]"
        return f"<Unit {self.step.id}{where} {self.tool} attempt={self.attempt}>"


class Frame:
    """The mutable tracker of one flow execution: the run itself, a sub-flow, an instance.

    ``outputs[i]`` is what step ``i`` wrote, ``records[i]`` its record, ``state[i]`` its
    state, ``waiting[i]`` how many predecessors are not terminal yet. ``open`` counts
    activated steps not yet ended; ``stopping`` is set when a failure halts the frame.
    ``failure`` is the first failure that halted it and ``cause`` the exception behind
    that failure, when one was reported with it.
    """

    __slots__ = (
        "cause",
        "failure",
        "fanout",
        "incomplete",
        "index",
        "inputs",
        "journaled",
        "open",
        "outputs",
        "parent",
        "parent_step",
        "path",
        "plan",
        "records",
        "run_id",
        "state",
        "stopping",
        "waiting",
    )

    def __init__(
        self,
        plan: Plan,
        inputs: dict[str, Any],
        parent: Frame | None,
        parent_step: int,
        fanout: Fanout | None,
        index: int | None,
        run_id: str = "",
    ) -> None:
        n = len(plan.steps)
        self.plan = plan
        self.run_id = run_id  # the run this frame belongs to (call contexts name it)
        self.inputs = inputs
        self.parent = parent
        self.parent_step = parent_step
        self.fanout = fanout
        self.index = index
        # A map instance is recorded whole or re-run from its start: nothing inside its
        # frame (or below it) is journaled on its own.
        self.journaled: bool = parent is None or (parent.journaled and fanout is None)
        if parent is None:
            self.path: tuple[str | int, ...] = ()
        else:
            caller = parent.plan.steps[parent_step].id
            self.path = parent.path + ((caller,) if index is None else (caller, index))
        self.outputs: list[dict[str, Any] | None] = [None] * n
        self.records: list[StepRecord | None] = [None] * n
        self.state = [PENDING] * n
        self.waiting = list(plan.indegrees)
        self.open = 0
        self.stopping = False
        self.incomplete = False
        self.failure: ErrorInfo | None = None
        self.cause: BaseException | None = None

    def record_list(self) -> tuple[StepRecord, ...]:
        """The records so far, in canonical order."""
        return tuple(r for r in self.records if r is not None)

    def subflow_outputs(self) -> dict[str, Any]:
        """What this frame returns as a sub-flow: its plan's ``output_keys``.

        Never the frame's inputs, unless the sub-flow's ``output_schema`` names them.
        """
        plan = self.plan
        base = self.inputs if plan.output_schema is not None else {}
        context = merge_step_outputs(base, self.outputs)
        return {key: context[key] for key in plan.output_keys if key in context}


class Fanout:
    """The mutable tracker of one running map step (``failure`` and ``cause``: the first
    instance failure under fail-fast, as in :class:`Frame`)."""

    __slots__ = (
        "cause",
        "errors",
        "failure",
        "frame",
        "incomplete",
        "items",
        "next",
        "outputs",
        "records",
        "restored",
        "running",
        "shared",
        "step",
        "stopping",
    )

    def __init__(
        self, frame: Frame, step: StepPlan, items: list[Any], shared: dict[str, Any]
    ) -> None:
        n = len(items)
        self.frame = frame
        self.step = step
        self.items = items
        self.shared = shared
        self.next = 0
        self.running = 0
        self.outputs: list[dict[str, Any] | None] = [None] * n
        self.records: list[StepRecord | None] = [None] * n
        self.errors: dict[int, dict[str, Any]] = {}
        self.restored: dict[int, StepRecord] | None = None
        self.failure: ErrorInfo | None = None
        self.cause: BaseException | None = None
        self.stopping = False
        self.incomplete = False


def halted(frame: Frame | None) -> bool:
    """True when ``frame`` or a frame above it (or its fan-out) stopped starting work."""
    while frame is not None:
        if frame.stopping or (frame.fanout is not None and frame.fanout.stopping):
            return True
        frame = frame.parent
    return False


def frame_path(frame: Frame) -> tuple[str | int, ...]:
    """Where ``frame`` sits in the run: the ids (and map indices) of the steps above it."""
    return frame.path

"""What one measured run says: time in tools, calls in flight, the critical path.

Definitions (``docs/how-to/profile-a-flow.md`` explains them for users):

* A **call** is one attempt of a tool made by the run, at any depth (top-level steps,
  map instances, sub-flow steps, fallbacks); its duration is its attempt record's
  ``ended_at - started_at``, which the lanes measure around the tool call: validating
  the input, the function, validating the output. A step-cache hit makes no call.
* **Tool time** is the sum of the calls' durations.
* **Peak in flight** is the most calls whose intervals overlap at one instant.
* A step's **duration** is its record's ``ended_at - started_at``: first attempt start
  to last attempt end for a tool step (retry waits included), first instance start to
  last instance end for a map step; 0 for a step with no times (skipped).
* The **critical path** is the chain of steps, following the flow's dependencies
  (``depends_on``, and the previous step in a linear flow), whose durations add up to
  the most. A sub-flow step is replaced by the critical path of its own steps, so the
  time a sub-flow spends between its steps counts as overhead; a map step counts with
  its duration. No scheduler could finish the run faster than that path's length.
* **Overhead** is the run's wall time minus the critical path's length: what the run
  took beyond its longest chain of steps (starting, handing a finished step's outputs
  to the next, finishing), never negative for consistent records; **per step** it is
  divided by the number of steps on the path.
* **Utilisation** is tool time / (wall time x ``max_concurrency``): the share of the
  executor's call slots that tools kept busy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dagwright.profiling._timeline import TimelineBar, timeline

if TYPE_CHECKING:
    from dagwright.compiler import CompiledFlow
    from dagwright.results import ExecutionResult, StepRecord


@dataclass(frozen=True, slots=True)
class Dependencies:
    """A flow's step dependencies by step id, and those of the sub-flows it calls (by the
    name its steps call them with)."""

    steps: Mapping[str, tuple[str, ...]]
    subflows: Mapping[str, Dependencies]

    @classmethod
    def of(cls, compiled: CompiledFlow) -> Dependencies:
        """The dependencies of a compiled flow, sub-flows included."""
        flow = compiled.flow
        # A linear flow's canonical order is its declaration order (each step waits for
        # the one before), so it gives the default ids of its steps.
        ids = list(compiled.canonical_order) if flow.linear else [str(s.id) for s in flow.steps]
        steps: dict[str, tuple[str, ...]] = {}
        for position, (step_id, step) in enumerate(zip(ids, flow.steps, strict=True)):
            deps = list(step.depends_on)
            if flow.linear and position > 0:
                deps.append(ids[position - 1])
            steps[step_id] = tuple(dict.fromkeys(deps))
        subflows = {name: cls.of(sub) for name, sub in compiled.subflows.items()}
        return cls(steps, subflows)


@dataclass(frozen=True, slots=True)
class RunSample:
    """One measured run: its wall time and what its records say (module docstring).

    ``critical_path`` holds the paths of the steps on the run's critical path, in order,
    and ``critical_path_s`` its length. ``calls`` counts the calls made, ``cache_hits``
    the records served by the step cache. ``timeline`` is the run's bars, relative to
    the moment the run was started.
    """

    wall_s: float
    tool_s: float
    critical_path: tuple[str, ...]
    critical_path_s: float
    peak_in_flight: int
    calls: int
    cache_hits: int
    max_concurrency: int
    digest: str
    started_at: float
    timeline: tuple[TimelineBar, ...] = field(repr=False, compare=False)

    @property
    def overhead_s(self) -> float:
        """Wall time minus the critical path's length."""
        return self.wall_s - self.critical_path_s

    @property
    def overhead_per_step_s(self) -> float:
        """:attr:`overhead_s` per step on the critical path (0 without steps)."""
        return self.overhead_s / len(self.critical_path) if self.critical_path else 0.0

    @property
    def utilisation(self) -> float:
        """Tool time / (wall time x ``max_concurrency``), in [0, 1]."""
        slots = self.wall_s * self.max_concurrency
        return self.tool_s / slots if slots > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: the fields (without the timeline) and the derived figures."""
        return {
            "wall_s": self.wall_s,
            "tool_s": self.tool_s,
            "critical_path": list(self.critical_path),
            "critical_path_s": self.critical_path_s,
            "overhead_s": self.overhead_s,
            "overhead_per_step_s": self.overhead_per_step_s,
            "utilisation": self.utilisation,
            "peak_in_flight": self.peak_in_flight,
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "digest": self.digest,
            "started_at": self.started_at,
        }


def sample(
    result: ExecutionResult,
    started: float,
    ended: float,
    dependencies: Dependencies,
    max_concurrency: int,
) -> RunSample:
    """Measure one run: ``started`` and ``ended`` are the wall-clock times (``time.time``,
    the records' clock) taken just before the run was started and just after it
    returned."""
    intervals = call_intervals(result.steps)
    entries = critical_path(result.steps, dependencies)
    return RunSample(
        wall_s=ended - started,
        tool_s=sum(end - start for start, end in intervals),
        critical_path=tuple(path for path, _ in entries),
        critical_path_s=sum(duration for _, duration in entries),
        peak_in_flight=peak_in_flight(intervals),
        calls=len(intervals),
        cache_hits=sum(1 for top in result.steps for r in top.walk() if r.cached),
        max_concurrency=max_concurrency,
        digest=result.digest,
        started_at=started,
        timeline=tuple(timeline(result, origin=started)),
    )


def call_intervals(records: Sequence[StepRecord]) -> list[tuple[float, float]]:
    """(start, end) of every call the records made, cache hits left out."""
    intervals = []
    for top in records:
        for record in top.walk():
            if record.cached:
                continue  # its one attempt is the cache lookup, not a call
            for attempt in record.attempts:
                if attempt.started_at is not None and attempt.ended_at is not None:
                    intervals.append((attempt.started_at, attempt.ended_at))
    return intervals


def peak_in_flight(intervals: Sequence[tuple[float, float]]) -> int:
    """The most intervals that overlap at one instant (one that ends as another starts
    does not overlap it)."""
    # Ends sort before starts at the same instant: (time, 0) < (time, 1).
    events = sorted([(s, 1) for s, _ in intervals] + [(e, 0) for _, e in intervals])
    now = peak = 0
    for _, starts in events:
        now += 1 if starts else -1
        peak = max(peak, now)
    return peak


def _span(record: StepRecord) -> float:
    if record.started_at is None or record.ended_at is None:
        return 0.0
    return max(0.0, record.ended_at - record.started_at)


def critical_path(
    records: Sequence[StepRecord], dependencies: Dependencies, parent: str | None = None
) -> list[tuple[str, float]]:
    """The critical path of sibling ``records`` (canonical order) as (path, duration)
    entries; a sub-flow step contributes its own steps' critical path. Ties go to the
    step first in canonical order."""
    position = {record.step_id: number for number, record in enumerate(records)}
    finish: dict[str, float] = {}
    previous: dict[str, str | None] = {}
    own: dict[str, list[tuple[str, float]]] = {}
    end_id: str | None = None
    for record in records:
        step_id = record.step_id
        path = step_id if parent is None else f"{parent}/{step_id}"
        inner = dependencies.subflows.get(record.flow) if record.flow is not None else None
        is_map = any(child.index is not None for child in record.children)
        if inner is not None and not is_map and record.children:
            own[step_id] = critical_path(record.children, inner, path)
        else:
            own[step_id] = [(path, _span(record))]
        before: str | None = None
        deps = [d for d in dependencies.steps.get(step_id, ()) if d in finish]
        for dep in sorted(deps, key=position.__getitem__):
            if before is None or finish[dep] > finish[before]:
                before = dep
        start = 0.0 if before is None else finish[before]
        finish[step_id] = start + sum(duration for _, duration in own[step_id])
        previous[step_id] = before
        if end_id is None or finish[step_id] > finish[end_id]:
            end_id = step_id
    steps: list[str] = []
    while end_id is not None:
        steps.append(end_id)
        end_id = previous[end_id]
    return [entry for step_id in reversed(steps) for entry in own[step_id]]

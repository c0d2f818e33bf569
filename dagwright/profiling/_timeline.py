"""A run's records as timeline bars: pure data, one bar per record, in canonical order.

This is what :meth:`dagwright.ExecutionResult.timeline` returns and what the HTML
timeline draws. A bar is made for every step record, every map instance and every step
of a sub-flow, depth-first (a record, then its children), which is the order the
records are kept in: canonical order, never completion order.

Paths name a bar within the run: a top-level step is its id (``search``), a step of a
sub-flow is ``<parent>/<id>`` (``summarize/extract``) and a map instance is
``<map>[<index>]`` (``fetch_all[2]``); they compose (``pages[0]/extract`` is the
``extract`` step of instance 0 of a map over a sub-flow).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from dagwright._execution.canonical import canonical_json

if TYPE_CHECKING:
    from dagwright.results import ExecutionResult, StepRecord, StepStatus

BarKind = Literal["tool", "map", "flow", "instance"]
DisplayStatus = Literal["completed", "cached", "failed", "skipped", "cancelled"]

DISPLAY_STATUSES: tuple[DisplayStatus, ...] = (
    "completed",
    "cached",
    "failed",
    "skipped",
    "cancelled",
)
"""The statuses a timeline shows, in legend order: a record's status, with a completed
record whose outputs came from the step cache shown as ``cached``."""


class TimelineBar(NamedTuple):
    """One record of a run on the timeline.

    ``path`` names the bar (see the module docstring), ``parent`` the bar it sits under
    (``None`` at the top level) and ``depth`` how deep it is (0 at the top level).
    ``kind`` is ``tool`` (a tool step), ``map`` (a map step, whose instances follow it),
    ``flow`` (a sub-flow step, whose steps follow it) or ``instance`` (one map
    instance); a map step that ran no instance is told from a tool step only by its
    children, so it shows as ``tool``. ``tool`` is the tool called (``None`` for a
    sub-flow step, which names its ``flow``).

    ``start`` and ``end`` are seconds from the run's start (``None`` for a record that
    never called anything, e.g. a skipped step); ``attempts`` is the number of calls
    made, ``cached`` whether the outputs came from the step cache. ``input_bytes`` is the
    size of the canonical JSON (UTF-8) of the record's bound inputs. ``error_code``,
    ``error_type`` and ``error_message`` are its error's, or ``None``.
    """

    path: str
    step_id: str
    index: int | None  # type: ignore[assignment]  # the map index, not tuple.index
    parent: str | None
    depth: int
    kind: BarKind
    tool: str | None
    flow: str | None
    status: StepStatus
    cached: bool
    start: float | None
    end: float | None
    attempts: int
    input_bytes: int
    error_code: str | None
    error_type: str | None
    error_message: str | None

    @property
    def duration(self) -> float | None:
        """``end - start`` in seconds, or ``None`` when the record has no times."""
        if self.start is None or self.end is None:
            return None
        return self.end - self.start

    @property
    def display_status(self) -> DisplayStatus:
        """The status a timeline colours the bar by: ``cached`` for a completed record
        whose outputs came from the step cache, else :attr:`status`."""
        if self.cached and self.status == "completed":
            return "cached"
        return self.status

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: every field, plus ``duration`` and ``display_status``."""
        data = self._asdict()
        data["duration"] = self.duration
        data["display_status"] = self.display_status
        return data


def run_origin(records: Iterable[StepRecord]) -> float | None:
    """The earliest start among ``records`` and their children, or ``None``."""
    starts = [r.started_at for top in records for r in top.walk() if r.started_at is not None]
    return min(starts) if starts else None


def timeline(result: ExecutionResult, origin: float | None = None) -> list[TimelineBar]:
    """The bars of ``result``'s records, in canonical order (see the module docstring).

    ``origin`` is the run's start as a wall-clock time (seconds since the epoch, as the
    records' times are); by default the earliest recorded start, so the first call
    starts at 0. ``dagwright.bench`` passes the time it started the run, so the time
    the run took before its first call shows too.
    """
    base = run_origin(result.steps) if origin is None else origin
    return list(_bars(result.steps, None, 0, 0.0 if base is None else base))


def _bars(
    records: Iterable[StepRecord], parent: str | None, depth: int, base: float
) -> Iterator[TimelineBar]:
    for record in records:
        path = _path(record, parent)
        yield _bar(record, path, parent, depth, base)
        if record.children:
            yield from _bars(record.children, path, depth + 1, base)


def _path(record: StepRecord, parent: str | None) -> str:
    if parent is None:
        return record.step_id
    if record.index is not None:
        return f"{parent}[{record.index}]"
    return f"{parent}/{record.step_id}"


def _kind(record: StepRecord) -> BarKind:
    if record.index is not None:
        return "instance"
    if any(child.index is not None for child in record.children):
        return "map"
    if record.flow is not None:
        return "flow"
    return "tool"


def _bar(record: StepRecord, path: str, parent: str | None, depth: int, base: float) -> TimelineBar:
    error = record.error
    start = None if record.started_at is None else record.started_at - base
    end = None if record.ended_at is None else record.ended_at - base
    return TimelineBar(
        path=path,
        step_id=record.step_id,
        index=record.index,
        parent=parent,
        depth=depth,
        kind=_kind(record),
        tool=record.tool,
        flow=record.flow,
        status=record.status,
        cached=record.cached,
        start=start,
        end=end,
        attempts=len(record.attempts),
        input_bytes=len(canonical_json(dict(record.inputs)).encode("utf-8")),
        error_code=None if error is None else error.code,
        error_type=None if error is None else error.type,
        error_message=None if error is None else error.message,
    )

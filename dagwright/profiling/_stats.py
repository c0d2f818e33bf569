"""Summaries over repeated runs: percentiles, and one row per step of the flow.

Percentiles interpolate linearly between the closest ranks (NumPy's default, and
``statistics.quantiles(method="inclusive")``): of n sorted values, the q-th is at rank
``(n - 1) * q / 100``; the p50 of an even count is the mean of the two middle values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from dagwright.profiling._timeline import DISPLAY_STATUSES, BarKind, TimelineBar

_INDEX = re.compile(r"\[\d+\]")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` (not empty), linearly interpolated."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class Spread(NamedTuple):
    """How one figure spread over the runs (or instances): p50, p95, min, max, mean."""

    p50: float
    p95: float
    min: float
    max: float
    mean: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        """The spread of ``values`` (at least one)."""
        data = list(values)
        return cls(
            percentile(data, 50),
            percentile(data, 95),
            min(data),
            max(data),
            math.fsum(data) / len(data),
        )

    def to_dict(self) -> dict[str, float]:
        """``{"p50": ..., "p95": ..., "min": ..., "max": ..., "mean": ...}``."""
        return dict(self._asdict())


@dataclass(frozen=True, slots=True)
class StepStats:
    """One row of a benchmark: a step, or all the instances of a map step, over the runs.

    ``path`` is the bars' path with map indices written ``[*]`` (``fetch_all[*]`` are
    all the instances of ``fetch_all``; ``summarize/extract`` a sub-flow's step).
    ``per_run`` is how many records the row covers per run on average (a map's
    instance count), ``duration`` the spread of their durations over all runs (``None``
    when none had times, e.g. always skipped), ``statuses`` how many of them ended in
    each display status (``cached`` for cache hits), ``attempts`` the calls they made.
    """

    path: str
    step_id: str
    depth: int
    kind: BarKind
    tool: str | None
    flow: str | None
    per_run: float
    duration: Spread | None
    statuses: Mapping[str, int]
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (``duration`` as :meth:`Spread.to_dict`, or ``None``)."""
        return {
            "path": self.path,
            "step_id": self.step_id,
            "depth": self.depth,
            "kind": self.kind,
            "tool": self.tool,
            "flow": self.flow,
            "per_run": self.per_run,
            "duration": None if self.duration is None else self.duration.to_dict(),
            "statuses": dict(self.statuses),
            "attempts": self.attempts,
        }


def pattern(path: str | None) -> str | None:
    """A bar's path with its map indices written ``[*]``."""
    return None if path is None else _INDEX.sub("[*]", path)


class _Row:
    __slots__ = ("attempts", "bar", "count", "durations", "statuses")

    def __init__(self, bar: TimelineBar) -> None:
        self.bar = bar
        self.count = 0
        self.attempts = 0
        self.durations: list[float] = []
        self.statuses = dict.fromkeys(DISPLAY_STATUSES, 0)

    def add(self, bar: TimelineBar) -> None:
        self.count += 1
        self.attempts += bar.attempts
        self.statuses[bar.display_status] += 1
        duration = bar.duration
        if duration is not None:
            self.durations.append(duration)


def step_stats(timelines: Sequence[Sequence[TimelineBar]]) -> tuple[StepStats, ...]:
    """The rows of the runs' ``timelines``: one per step path pattern, in the flow's
    canonical order (a row first seen in a later run goes after its parent's rows)."""
    rows: dict[str, _Row] = {}
    order: list[str] = []
    for number, bars in enumerate(timelines):
        for bar in bars:
            key = pattern(bar.path)
            assert key is not None
            row = rows.get(key)
            if row is None:
                row = rows[key] = _Row(bar)
                if number == 0:  # the first run's bars are in canonical order already
                    order.append(key)
                else:
                    _insert(order, key, pattern(bar.parent))
            row.add(bar)
    runs = max(1, len(timelines))
    stats = []
    for key in order:
        row = rows[key]
        bar = row.bar
        stats.append(
            StepStats(
                path=key,
                step_id=bar.step_id,
                depth=bar.depth,
                kind=bar.kind,
                tool=bar.tool,
                flow=bar.flow,
                per_run=row.count / runs,
                duration=Spread.of(row.durations) if row.durations else None,
                statuses={k: v for k, v in row.statuses.items() if v},
                attempts=row.attempts,
            )
        )
    return tuple(stats)


def _insert(order: list[str], key: str, parent: str | None) -> None:
    """Put ``key`` after the last row under ``parent`` (at the end for a top-level row)."""
    if parent is None or parent not in order:
        order.append(key)
        return
    at = order.index(parent) + 1
    while at < len(order) and _under(order[at], parent):
        at += 1
    order.insert(at, key)


def _under(key: str, parent: str) -> bool:
    return key.startswith(parent) and key[len(parent) : len(parent) + 1] in ("/", "[")

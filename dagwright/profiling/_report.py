"""``BenchReport``: the measured runs of one flow, summarised."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from dagwright.profiling._analysis import RunSample
from dagwright.profiling._stats import Spread, StepStats
from dagwright.profiling._timeline import TimelineBar

FORMAT_VERSION = 1
"""The version of :meth:`BenchReport.to_dict`'s shape; it changes only when a key's
meaning does (keys may be added)."""


@dataclass(frozen=True, slots=True)
class BenchReport:
    """What ``dagwright.bench`` measured: ``repeat`` runs of a flow after ``warmup``
    unmeasured ones, on an executor with ``max_concurrency`` call slots.

    ``runs`` are the measured runs in the order they ran (:class:`RunSample`), ``steps``
    one row per step and per map step's instances (:class:`StepStats`), ``digests`` the
    digest of every run, warm-up runs first. Every figure (wall time, tool time,
    critical path, overhead, utilisation) is defined in ``docs/how-to/profile-a-flow.md``
    and in :mod:`dagwright.profiling._analysis`; the properties give their spread over
    the measured runs.
    """

    flow_name: str
    flow_version: str
    repeat: int
    warmup: int
    max_concurrency: int
    runs: tuple[RunSample, ...]
    steps: tuple[StepStats, ...]
    digests: tuple[str, ...]

    # ---- figures -----------------------------------------------------------------------

    @property
    def wall(self) -> Spread:
        """The runs' wall times, in seconds."""
        return Spread.of(run.wall_s for run in self.runs)

    @property
    def tool_time(self) -> Spread:
        """The runs' tool times (the sum of their calls' durations), in seconds."""
        return Spread.of(run.tool_s for run in self.runs)

    @property
    def critical_path_length(self) -> Spread:
        """The lengths of the runs' critical paths, in seconds."""
        return Spread.of(run.critical_path_s for run in self.runs)

    @property
    def overhead(self) -> Spread:
        """Wall time minus critical path length, per run, in seconds."""
        return Spread.of(run.overhead_s for run in self.runs)

    @property
    def overhead_per_step(self) -> Spread:
        """Overhead per step on the run's critical path, in seconds."""
        return Spread.of(run.overhead_per_step_s for run in self.runs)

    @property
    def utilisation(self) -> Spread:
        """Tool time / (wall time x max_concurrency), per run."""
        return Spread.of(run.utilisation for run in self.runs)

    @property
    def peak_in_flight(self) -> Spread:
        """The most calls in flight at once, per run."""
        return Spread.of(run.peak_in_flight for run in self.runs)

    @property
    def critical_path(self) -> tuple[str, ...]:
        """The critical path most runs had (on a tie, the median run's if it is one of
        them, else the one seen first)."""
        return self._critical()[0]

    @property
    def critical_path_runs(self) -> int:
        """How many measured runs had :attr:`critical_path`."""
        return self._critical()[1]

    def _critical(self) -> tuple[tuple[str, ...], int]:
        counts = Counter(run.critical_path for run in self.runs)
        most = max(counts.values())
        median = self.median_run.critical_path
        if counts[median] == most:
            return median, most
        first = next(run.critical_path for run in self.runs if counts[run.critical_path] == most)
        return first, most

    @property
    def median_index(self) -> int:
        """The position in :attr:`runs` of the run with the median wall time (the lower
        median for an even count)."""
        ordered = sorted(range(len(self.runs)), key=lambda i: (self.runs[i].wall_s, i))
        return ordered[(len(ordered) - 1) // 2]

    @property
    def median_run(self) -> RunSample:
        """The run with the median wall time: the one the timeline shows."""
        return self.runs[self.median_index]

    @property
    def timeline(self) -> tuple[TimelineBar, ...]:
        """The median run's bars, relative to when it was started."""
        return self.median_run.timeline

    @property
    def deterministic(self) -> bool:
        """Whether every run, warm-up included, gave the same digest."""
        return len(set(self.digests)) == 1

    @property
    def warnings(self) -> tuple[str, ...]:
        """What a reader of the figures should know first (a nondeterministic flow)."""
        if self.deterministic:
            return ()
        distinct = len(set(self.digests))
        return (
            f"the flow is nondeterministic: its {len(self.digests)} runs gave {distinct} "
            "different digests (the figures are still of these runs)",
        )

    # ---- forms -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The whole report as plain JSON data (``dagwright bench --json``); the shape
        is documented in ``docs/how-to/profile-a-flow.md``."""
        return {
            "format_version": FORMAT_VERSION,
            "flow": self.flow_name,
            "version": self.flow_version,
            "repeat": self.repeat,
            "warmup": self.warmup,
            "max_concurrency": self.max_concurrency,
            "deterministic": self.deterministic,
            "digest": self.digests[0] if self.deterministic else None,
            "digests": list(dict.fromkeys(self.digests)),
            "warnings": list(self.warnings),
            "wall_s": self.wall.to_dict(),
            "tool_s": self.tool_time.to_dict(),
            "critical_path_s": self.critical_path_length.to_dict(),
            "overhead_s": self.overhead.to_dict(),
            "overhead_per_step_s": self.overhead_per_step.to_dict(),
            "utilisation": self.utilisation.to_dict(),
            "peak_in_flight": self.peak_in_flight.to_dict(),
            "critical_path": {"steps": list(self.critical_path), "runs": self.critical_path_runs},
            "steps": [row.to_dict() for row in self.steps],
            "runs": [run.to_dict() for run in self.runs],
            "median_run": self.median_index,
            "timeline": [bar.to_dict() for bar in self.timeline],
        }

    def render(self) -> str:
        """The report as aligned plain text (what ``dagwright bench`` prints)."""
        from dagwright.profiling._text import render_report

        return render_report(self)

    def timeline_html(self) -> str:
        """A self-contained HTML page (inline CSS and SVG, nothing fetched) with the
        Gantt chart of the median run: a bar per step, map instance and sub-flow step,
        coloured by status, the critical path outlined, a hover tooltip on each bar."""
        from dagwright.profiling._html import timeline_html
        from dagwright.profiling._text import duration

        run = self.median_run
        subtitle = (
            f"median of {len(self.runs)} runs: wall {duration(run.wall_s)}, "
            f"{run.calls} calls, peak {run.peak_in_flight} in flight, "
            f"max_concurrency {self.max_concurrency}, digest {run.digest[:16]}"
        )
        return timeline_html(
            run.timeline,
            title=f"{self.flow_name} v{self.flow_version}",
            subtitle=subtitle,
            wall_s=run.wall_s,
            highlight=frozenset(run.critical_path),
        )

    def write_timeline(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`timeline_html` to ``path`` atomically (a temporary file in the
        same directory, then renamed over ``path``): a reader never sees a partial page
        and a failed write leaves what was there. An ``OSError`` names ``path``."""
        from dagwright.io.files import _write_atomic

        target = os.fspath(path)
        try:
            _write_atomic(target, self.timeline_html())
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, target) from exc

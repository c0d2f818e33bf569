"""A benchmark report as aligned plain text, readable on a terminal and in a pipe."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagwright.profiling._report import BenchReport
    from dagwright.profiling._stats import Spread, StepStats


def duration(seconds: float | None) -> str:
    """``850us``, ``1.23ms``, ``2.345s``: three significant figures or so; ``-`` for
    ``None``."""
    if seconds is None:
        return "-"
    if abs(seconds) < 1e-3:
        return f"{seconds * 1e6:.0f}us"
    if abs(seconds) < 1.0:
        return f"{seconds * 1e3:.2f}ms"
    return f"{seconds:.3f}s"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart; the last column is never padded."""
    widths = [0] * max(len(row) for row in rows)
    for row in rows:
        for column, cell in enumerate(row):
            widths[column] = max(widths[column], len(cell))
    return ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in rows]


def _times(spread: Spread) -> list[str]:
    return [duration(spread.p50), duration(spread.p95), duration(spread.min), duration(spread.max)]


def _calls(row: StepStats) -> str:
    if row.kind == "map":
        return f"map {row.tool}" if row.tool is not None else f"map flow {row.flow}"
    if row.kind == "flow" or (row.tool is None and row.flow is not None):
        return f"flow {row.flow}"
    return row.tool or "-"


def _statuses(row: StepStats) -> str:
    return ", ".join(f"{count} {status}" for status, count in row.statuses.items())


def _per_run(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def render_report(report: BenchReport) -> str:
    """The text of ``report``: its header, the figures, the critical path, the steps."""
    runs = len(report.runs)
    lines = [
        f"bench {report.flow_name} v{report.flow_version}: {_count(runs, 'run')} after "
        f"{_count(report.warmup, 'warm-up run')}, max_concurrency {report.max_concurrency}"
    ]
    total = len(report.digests)
    if report.deterministic:
        lines.append(f"digest {report.digests[0]}, the same in all {total} runs")
    else:
        distinct = len(set(report.digests))
        lines.append(f"digests: {distinct} different in {total} runs: the flow is nondeterministic")
    lines.append("")
    wall = report.wall
    overhead = report.overhead
    slots = report.max_concurrency
    peak = report.peak_in_flight
    utilisation = report.utilisation
    share = overhead.p50 / wall.p50 if wall.p50 > 0 else 0.0
    on_path = len(report.median_run.critical_path)
    figures = [
        ["", "p50", "p95", "min", "max", ""],
        ["wall", *_times(wall), "executor.run, start to return"],
        ["in tools", *_times(report.tool_time), "sum of the calls' durations"],
        ["critical path", *_times(report.critical_path_length), "longest chain of steps"],
        ["overhead", *_times(overhead), f"wall - critical path ({_percent(share)} of wall)"],
        ["overhead/step", *_times(report.overhead_per_step), f"{on_path} steps on the path"],
        [
            "utilisation",
            *(_percent(v) for v in (utilisation.p50, utilisation.p95, utilisation.min)),
            _percent(utilisation.max),
            f"tool time / (wall x {slots})",
        ],
        [
            "peak in flight",
            *(f"{v:g}" for v in (peak.p50, peak.p95, peak.min, peak.max)),
            "calls at once",
        ],
    ]
    lines += _table(figures)
    lines.append("")
    path = " -> ".join(report.critical_path) or "(no steps)"
    lines.append(f"critical path ({report.critical_path_runs} of {runs} runs): {path}")
    lines.append("")
    rows = [["step", "calls", "per run", "p50", "p95", "max", "status"]]
    for row in report.steps:
        spread = row.duration
        times = ["-", "-", "-"] if spread is None else [*_times(spread)[:2], duration(spread.max)]
        label = "  " * row.depth + row.path
        rows.append([label, _calls(row), _per_run(row.per_run), *times, _statuses(row)])
    lines += _table(rows)
    return "\n".join(lines) + "\n"

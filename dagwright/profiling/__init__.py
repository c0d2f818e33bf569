"""Profiling flows: timelines of runs, and benchmarks of repeated runs.

* :func:`bench` runs a flow again and again on an executor and returns a
  :class:`BenchReport`: per step p50/p95 durations, wall time, time inside tools,
  the critical path, dagwright's overhead and the utilisation of the call slots, as
  text (:meth:`BenchReport.render`), JSON data (:meth:`BenchReport.to_dict`) or a
  self-contained HTML timeline (:meth:`BenchReport.timeline_html`).
* :func:`timeline` (also :meth:`dagwright.ExecutionResult.timeline`) gives one run's
  records as :class:`TimelineBar`s, pure data in canonical order, and
  :func:`timeline_html` draws any such bars (a failed run's too) as an HTML page.

``dagwright bench`` is the command-line client of :func:`bench`. The figures are
defined in ``docs/how-to/profile-a-flow.md``. Standard library only; ``import
dagwright`` loads this package on first use.
"""

from dagwright.profiling._analysis import RunSample
from dagwright.profiling._bench import bench
from dagwright.profiling._html import timeline_html
from dagwright.profiling._report import BenchReport
from dagwright.profiling._stats import Spread, StepStats
from dagwright.profiling._timeline import TimelineBar, timeline

__all__ = [
    "BenchReport",
    "RunSample",
    "Spread",
    "StepStats",
    "TimelineBar",
    "bench",
    "timeline",
    "timeline_html",
]

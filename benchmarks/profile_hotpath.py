"""Where a benchmark workload spends its time: ``python benchmarks/profile_hotpath.py WORKLOAD``.

Runs one workload of ``_workloads.py`` under ``cProfile`` (after a warm-up run, with the
plan already compiled) and prints the functions with the most own time, each with its
share of the total, then the same time grouped by package. cProfile adds a roughly
constant cost per Python call, so it overstates small pure-Python functions against C
code (pydantic-core); read the shares as a ranking, and the absolute times of
``compare.py`` as the truth.

Workloads: ``linear5``, ``linear100``, ``dag1000-c1``, ``dag1000-c8``, ``compile-cold``;
on the async lane (``loop.run_until_complete(executor.arun(...))`` on one event loop,
with the async tool ``ainc``): ``alinear5-c1``, ``alinear5-c8``, ``adag1000-c1``,
``adag1000-c8``. Only the calling thread is profiled: calls that a run sends to the
worker pool or to a private loop thread do not show.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(1, str(_ROOT))

import _workloads as w  # noqa: E402

from dagwright import FlowExecutor  # noqa: E402

WORKLOADS = (
    "linear5",
    "linear100",
    "dag1000-c1",
    "dag1000-c8",
    "compile-cold",
    "alinear5-c1",
    "alinear5-c8",
    "adag1000-c1",
    "adag1000-c8",
)


def _workload(
    name: str, executor: FlowExecutor, runs: int, loop: asyncio.AbstractEventLoop
) -> Callable[[], object]:
    if name.startswith("a"):
        if name.startswith("alinear5"):
            flow = w.linear(w.LINEAR_SHORT, "ainc")
            inputs = w.LINEAR_INPUTS
        else:
            flow = w.fan_dag(w.LEAVES, "ainc")
            inputs = w.DAG_INPUTS
        executor.compile(flow)
        return lambda: loop.run_until_complete(executor.arun(flow, inputs))
    if name.startswith("linear"):
        flow = w.linear(int(name.removeprefix("linear")))
        executor.compile(flow)
        return lambda: executor.run(flow, w.LINEAR_INPUTS)
    if name.startswith("dag1000"):
        dag = w.fan_dag(w.LEAVES)
        executor.compile(dag)
        return lambda: executor.run(dag, w.DAG_INPUTS)
    # A fresh flow object per compile, built before profiling starts.
    fresh = iter([w.fan_dag(w.LEAVES) for _ in range(runs + 1)])
    return lambda: w.compile_cold(next(fresh))


def _package(filename: str) -> str:
    """A coarse owner for a profiled function: dagwright module, library, or builtin."""
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins / C extensions"
    path = Path(filename)
    parts = path.parts
    if "asyncio" in parts:
        return "asyncio"
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    if "dagwright" in parts:
        inner = parts[parts.index("dagwright") :]
        return ".".join(inner).removesuffix(".py")
    if "benchmarks" in parts:
        return "benchmark tool bodies"
    return "stdlib"


def main(argv: list[str] | None = None) -> int:
    """Profile one workload and print the top functions and packages by own time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("--runs", type=int, default=0, help="runs to profile (default: auto)")
    parser.add_argument("--top", type=int, default=20, help="functions to list")
    args = parser.parse_args(argv)

    concurrency = 8 if args.workload.endswith("c8") else 1
    runs = args.runs or {"linear5": 2000, "linear100": 100}.get(
        args.workload.removesuffix("-c1").removesuffix("-c8").removeprefix("a"), 10
    )
    loop = asyncio.new_event_loop()
    with w.concurrency_executor(max_concurrency=concurrency) as executor:
        call = _workload(args.workload, executor, runs, loop)
        call()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(runs):
            call()
        profiler.disable()
    loop.close()

    stats = pstats.Stats(profiler)
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    print(f"{args.workload}: {runs} runs, {total / runs * 1e6:,.0f} us per run under cProfile")
    print(f"\n{'own %':>6} {'own us/run':>11} {'calls/run':>10}  function")
    rows = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)
    for (filename, line, func), (_, ncalls, tottime, *_rest) in rows[: args.top]:
        where = "" if filename.startswith("~") else f"{Path(filename).name}:{line} "
        print(
            f"{tottime / total:6.1%} {tottime / runs * 1e6:11.1f} {ncalls / runs:10.1f}  "
            f"{where}{func}"
        )
    by_package: dict[str, float] = defaultdict(float)
    for (filename, _line, _func), entry in raw.items():
        by_package[_package(filename)] += entry[2]
    print(f"\n{'own %':>6} {'own us/run':>11}  package / dagwright module")
    for name, tottime in sorted(by_package.items(), key=lambda item: item[1], reverse=True):
        print(f"{tottime / total:6.1%} {tottime / runs * 1e6:11.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

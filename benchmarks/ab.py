"""Compare two source trees of dagwright on the hot-path workloads, interleaved.

Usage::

    python benchmarks/ab.py BEFORE_TREE AFTER_TREE [--rounds 10] [--min-time 0.3]

Each round measures every workload in fresh processes, in the order before, after,
after, before, so a machine that drifts (a shared 2-core VM swings by 2x over seconds)
hits both trees alike; the round's ratio is after / before of those adjacent samples.
A process imports ``dagwright`` and ``benchmarks._workloads`` from its tree, warms up,
then times calls of one workload for ``--min-time`` seconds and prints its median. The
table gives each tree's median sample and the median of the rounds' ratios, of the
processes' medians and of their fastest runs (the least disturbed by the machine).

Workloads: ``linear5`` (a 5-step linear flow, sync lane, default executor) and
``dag1000`` (1000 leaves and a join, ``max_concurrency=8``), the figures the
performance targets in DESIGN section 7 are stated for.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

WORKLOADS = ("linear5", "dag1000")

_CHILD = r"""
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
from benchmarks import _workloads as w

name, min_time = sys.argv[2], float(sys.argv[3])
if name == "linear5":
    ex, flow, inputs = w.executor(8), w.linear(5), w.LINEAR_INPUTS
else:
    ex, flow, inputs = w.executor(8), w.fan_dag(), w.DAG_INPUTS
for _ in range(20):
    assert ex.run(flow, inputs).success
samples = []
deadline = time.perf_counter() + min_time
while time.perf_counter() < deadline or len(samples) < 5:
    start = time.perf_counter()
    ex.run(flow, inputs)
    samples.append(time.perf_counter() - start)
ex.close()
print(json.dumps({"median": statistics.median(samples), "min": min(samples), "n": len(samples)}))
"""


def sample(tree: Path, workload: str, min_time: float) -> tuple[float, float]:
    """One process's median and fastest seconds per run of ``workload`` with ``tree``'s
    dagwright."""
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tree), workload, str(min_time)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
        timeout=300,
    )
    data = json.loads(proc.stdout)
    return float(data["median"]), float(data["min"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--min-time", type=float, default=0.3)
    args = parser.parse_args(argv)
    before, after = args.before.resolve(), args.after.resolve()
    medians: dict[tuple[str, str], list[float]] = {}
    ratios: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for workload in WORKLOADS:
            b1 = sample(before, workload, args.min_time)
            a1 = sample(after, workload, args.min_time)
            a2 = sample(after, workload, args.min_time)
            b2 = sample(before, workload, args.min_time)
            medians.setdefault((workload, "before"), []).extend((b1[0], b2[0]))
            medians.setdefault((workload, "after"), []).extend((a1[0], a2[0]))
            for k, kind in enumerate(("median", "min")):
                ratio = (a1[k] + a2[k]) / (b1[k] + b2[k])
                ratios.setdefault((workload, kind), []).append(ratio)
    print("| workload | before (median) | after (median) | after / before: medians | fastest |")
    print("|---|---:|---:|---:|---:|")
    for workload in WORKLOADS:
        b = statistics.median(medians[(workload, "before")]) * 1e6
        a = statistics.median(medians[(workload, "after")]) * 1e6
        by_median = statistics.median(ratios[(workload, "median")])
        by_min = statistics.median(ratios[(workload, "min")])
        print(f"| {workload} | {b:.1f} us | {a:.1f} us | {by_median:.3f} | {by_min:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Step cache cost (pytest-benchmark): ``make bench``; ``python benchmarks/bench_cache.py``.

DESIGN.md section 7: a warm in-memory cache hit costs at most 0.5x running a 20 us tool.
The workload is a 10-step linear flow whose every step calls ``work20``, a cacheable
tool that spins for 20 us and adds one. Per step, interleaved in one process (A, B, C...,
A, B, C...), each sample the median of many runs:

* ``floor``: the same chain with ``work0``, which returns at once: what a step costs
  around its call (binding, validation, records), for reference;
* ``call``: no cache, the tool runs (the 20 us call with its validation and record);
* ``hit_memory`` / ``hit_sqlite``: a warm ``InMemoryStepCache`` / ``SQLiteStepCache``,
  every step a hit;
* ``miss_memory`` / ``miss_sqlite``: the same caches, each run with new inputs, so every
  step misses, runs the tool and stores its result (the in-memory cache at its default
  1024 entries, so it also evicts). ``miss - call`` is what caching costs a call that
  is not in the cache.

Run as a script it prints microseconds per step, the ratio ``hit_memory / call``
against its target, the cost of a hit and of a miss beyond ``floor`` and ``call``, and
a JSON line. The tool spins for 20 us of wall-clock time while dagwright's own work
slows down with a loaded machine, so the ratio is best on a quiet one.
"""

from __future__ import annotations

import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

if __name__ == "__main__":
    sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from dagwright import (
    ExecutionResult,
    Flow,
    FlowExecutor,
    InMemoryStepCache,
    SQLiteStepCache,
    Step,
    StepCache,
    tool,
)

STEPS = 10
SPIN_S = 20e-6
TARGET = 0.5


@tool(cacheable=True)
def work20(value: int) -> int:
    """Spin for 20 us, then add one: a small cacheable tool."""
    deadline = time.perf_counter() + SPIN_S
    while time.perf_counter() < deadline:
        pass
    return value + 1


@tool
def work0(value: int) -> int:
    """Add one at once."""
    return value + 1


def chain(tool_name: str) -> Flow:
    """``STEPS`` steps of ``tool_name``, each adding one to ``value``."""
    return Flow(
        name=f"{tool_name}_chain",
        steps=[Step(tool=tool_name, outputs={"value": tool_name}) for _ in range(STEPS)],
        on_context_collision="overwrite",
    )


FLOW = chain("work20")
FLOOR = chain("work0")


def executor(cache: StepCache | None) -> FlowExecutor:
    """A sequential executor (every step inline) with ``cache``."""
    ex = FlowExecutor([work20, work0], cache=cache, max_concurrency=1)
    ex.compile(FLOW)
    ex.compile(FLOOR)
    return ex


def _runner(ex: FlowExecutor, fresh: bool, flow: Flow = FLOW) -> Callable[[], ExecutionResult]:
    """A run of the chain: the same inputs every time, or (``fresh``) new ones each run."""
    if not fresh:
        return lambda: ex.run(flow, {"value": 0})
    counter = itertools.count(1_000_000)
    return lambda: ex.run(flow, {"value": next(counter) * 100})


def workloads(folder: Path) -> Iterator[tuple[str, Callable[[], ExecutionResult]]]:
    """The workloads, each warmed up, as (name, one run)."""
    sqlite_hit = SQLiteStepCache(folder / "hit.sqlite")
    sqlite_miss = SQLiteStepCache(folder / "miss.sqlite")
    cases = [
        ("floor", executor(None), False),
        ("call", executor(None), False),
        ("hit_memory", executor(InMemoryStepCache()), False),
        ("hit_sqlite", executor(sqlite_hit), False),
        ("miss_memory", executor(InMemoryStepCache()), True),
        ("miss_sqlite", executor(sqlite_miss), True),
    ]
    for name, ex, fresh in cases:
        run = _runner(ex, fresh, FLOOR if name == "floor" else FLOW)
        for _ in range(20):
            result = run()
            assert result.success and result.output["value"] % 100 == STEPS
        yield name, run


def measure(rounds: int = 15, runs: int = 100) -> dict[str, float]:
    """Median microseconds per step of each workload, over interleaved rounds."""
    with tempfile.TemporaryDirectory() as folder:
        cases = list(workloads(Path(folder)))
        samples: dict[str, list[float]] = {name: [] for name, _ in cases}
        for _ in range(rounds):
            for name, run in cases:
                times = []
                for _ in range(runs):
                    start = time.perf_counter()
                    run()
                    times.append(time.perf_counter() - start)
                samples[name].append(statistics.median(times) / STEPS * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> int:
    us = measure()
    ratio = us["hit_memory"] / us["call"]
    print(f"{'per step':<14}{'us':>9}")
    for name, value in us.items():
        print(f"{name:<14}{value:>9.2f}")
    print(f"a hit beyond the floor: memory {us['hit_memory'] - us['floor']:+.2f} us, "
          f"sqlite {us['hit_sqlite'] - us['floor']:+.2f} us")  # fmt: skip
    print(f"a miss beyond the call: memory {us['miss_memory'] - us['call']:+.2f} us, "
          f"sqlite {us['miss_sqlite'] - us['call']:+.2f} us")  # fmt: skip
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"hit_memory / call = {ratio:.3f} (target <= {TARGET}: {verdict})")
    print(json.dumps({"us_per_step": us, "hit_memory_ratio": ratio}))
    return 0


@pytest.fixture(scope="module")
def cases() -> Iterator[dict[str, Callable[[], ExecutionResult]]]:
    """The workloads, warmed up, sharing one scratch folder."""
    with tempfile.TemporaryDirectory() as name:
        yield dict(workloads(Path(name)))


@pytest.mark.benchmark(group="cache")
@pytest.mark.parametrize(
    "case", ["floor", "call", "hit_memory", "hit_sqlite", "miss_memory", "miss_sqlite"]
)
def test_cache(
    benchmark: BenchmarkFixture, cases: dict[str, Callable[[], ExecutionResult]], case: str
) -> None:
    """One run of the 10-step chain per round (see the module docstring)."""
    result = benchmark(cases[case])
    assert result.success


if __name__ == "__main__":
    sys.exit(main())

"""Core overhead benchmarks (pytest-benchmark): ``make bench``.

Every executor compiles its flow before the timed region (the executor caches plans), so
the run benchmarks time running only. The workloads:

* ``linear5`` and ``linear100``, whose difference / 95 is the per-step marginal cost;
* ``dag1000`` (root + 1000 leaves + join) at ``max_concurrency=8`` (the default) and 1;
* compile of the 1000-leaf DAG: cold (compile cache emptied, fresh flow object) and
  cached (``executor.compile(flow)``), for reference;
* ``pydantic_floor5``: the same five validations and dumps without dagwright.

DESIGN.md section 7 states its targets as ratios to that floor (and to ChainWeaver),
taken in one process: ``python benchmarks/compare.py`` measures and judges them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import _workloads as w
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from dagwright import CompiledFlow, DAGFlow, Flow, FlowExecutor


@pytest.fixture(scope="module")
def inline() -> Iterator[FlowExecutor]:
    """An executor running every step inline in the caller thread."""
    with w.executor(max_concurrency=1) as executor:
        yield executor


@pytest.fixture(scope="module")
def pooled() -> Iterator[FlowExecutor]:
    """An executor with the default ``max_concurrency=8`` thread pool."""
    with FlowExecutor(w.TOOLS) as executor:
        assert executor.max_concurrency == 8
        yield executor


@pytest.fixture(scope="module")
def dag() -> DAGFlow:
    """The 1000-leaf fan-out DAG."""
    return w.fan_dag(w.LEAVES)


def _bench_linear(benchmark: BenchmarkFixture, executor: FlowExecutor, steps: int) -> None:
    flow = w.linear(steps)
    executor.compile(flow)
    result = benchmark(executor.run, flow, w.LINEAR_INPUTS)
    assert result.success
    w.check_linear(result.output, steps)


@pytest.mark.benchmark(group="linear")
def test_linear5(benchmark: BenchmarkFixture, inline: FlowExecutor) -> None:
    """Five trivial validated steps, sync, inline (target <= 25 us)."""
    _bench_linear(benchmark, inline, w.LINEAR_SHORT)


@pytest.mark.benchmark(group="linear")
def test_linear100(benchmark: BenchmarkFixture, inline: FlowExecutor) -> None:
    """A hundred trivial validated steps (target <= 4 us marginal per step)."""
    _bench_linear(benchmark, inline, w.LINEAR_LONG)


@pytest.mark.benchmark(group="floor")
def test_pydantic_floor5(benchmark: BenchmarkFixture) -> None:
    """The five steps of linear5 done by hand with pydantic alone."""
    output = benchmark(w.pydantic_floor, w.LINEAR_SHORT)
    w.check_linear(output, w.LINEAR_SHORT)


def _bench_dag(benchmark: BenchmarkFixture, executor: FlowExecutor, flow: DAGFlow) -> None:
    executor.compile(flow)
    result = benchmark(executor.run, flow, w.DAG_INPUTS)
    assert result.success
    w.check_dag(result.output)


@pytest.mark.benchmark(group="dag1000")
def test_dag1000_concurrency8(
    benchmark: BenchmarkFixture, pooled: FlowExecutor, dag: DAGFlow
) -> None:
    """Root, 1000 leaves and a join on the default thread pool (target <= 5 ms)."""
    _bench_dag(benchmark, pooled, dag)


@pytest.mark.benchmark(group="dag1000")
def test_dag1000_concurrency1(
    benchmark: BenchmarkFixture, inline: FlowExecutor, dag: DAGFlow
) -> None:
    """Root, 1000 leaves and a join, every step inline (target <= 5 ms)."""
    _bench_dag(benchmark, inline, dag)


@pytest.mark.benchmark(group="compile")
def test_compile_dag1000_cold(benchmark: BenchmarkFixture) -> None:
    """Compile the 1000-leaf DAG from scratch: compile cache emptied, fresh flow object."""

    def fresh() -> tuple[tuple[Flow], dict[str, Any]]:
        return (w.fan_dag(w.LEAVES),), {}

    compiled: CompiledFlow = benchmark.pedantic(  # type: ignore[no-untyped-call]
        w.compile_cold, setup=fresh, rounds=15, warmup_rounds=1
    )
    assert len(compiled.canonical_order) == w.LEAVES + 2


@pytest.mark.benchmark(group="compile")
def test_compile_dag1000_cached(
    benchmark: BenchmarkFixture, inline: FlowExecutor, dag: DAGFlow
) -> None:
    """``executor.compile(flow)`` once the plan is cached: the per-run lookup."""
    first = inline.compile(dag)
    assert benchmark(inline.compile, dag) is first

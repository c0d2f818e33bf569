"""Concurrency benchmarks (pytest-benchmark), sync lane and async lane: ``make bench``.

Every workload runs on both lanes: ``executor.run`` (sync lane) and
``executor.arun`` (async lane). pytest-benchmark times plain callables, so the async lane
is timed as ``loop.run_until_complete(executor.arun(flow, inputs))`` on one event loop
created once per module (not ``asyncio.run`` per call, which would time creating and
closing a loop); that adds the loop's own round trip, 14-25 us on the benchmark machine.

The workloads and what they are held to (DESIGN.md section 7 judges the skewed DAG's
makespan, ``python benchmarks/compare.py --only skewed``; the others are this suite's):

* skewed DAG (``A`` 0.2 s | ``B`` 0.01 s -> ``C`` 0.2 s; ``D`` joins ``A`` and ``C``):
  makespan <= 1.05 x the 0.21 s critical path = 0.2205 s, in both lanes, with sync tools
  (``time.sleep``) and with async tools (``asyncio.sleep``);
* six independent 50 ms leaves and a join, default ``max_concurrency=8``: <= 0.055 s,
  both lanes, both kinds of tool;
* root + 1000 trivial async leaves + join, async lane: <= 10 ms (the sync lane, which
  runs async tools on a private loop thread, is timed for reference);
* a linear chain of 5 trivial async tools, async lane, ``max_concurrency=1`` and the
  default 8: <= 40 us per run (sync lane for reference).

The sleeping workloads use ``benchmark.pedantic`` with few rounds (each run sleeps for
its whole makespan).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import _workloads as w
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from dagwright import Flow, FlowExecutor

LANES = ("sync", "async")

# Test ids: test_skewed_dag[arun-sync_tools] is the async lane running sync tools.
_LANE_IDS = {"sync": "run", "async": "arun"}
lanes = pytest.mark.parametrize("lane", LANES, ids=_LANE_IDS.__getitem__)
tool_kinds = pytest.mark.parametrize("tools", w.KINDS, ids=lambda kind: f"{kind}_tools")


@pytest.fixture(scope="module")
def default() -> Iterator[FlowExecutor]:
    """An executor with the default ``max_concurrency=8``."""
    with FlowExecutor(w.CONCURRENCY_TOOLS) as executor:
        assert executor.max_concurrency == 8
        yield executor


@pytest.fixture(scope="module")
def sequential() -> Iterator[FlowExecutor]:
    """An executor with ``max_concurrency=1``."""
    with w.concurrency_executor(max_concurrency=1) as executor:
        yield executor


def _sleepy(benchmark: BenchmarkFixture, run: w.Runner, flow: Flow, inputs: dict[str, Any]) -> Any:
    """Time a sleeping run (a few rounds) and return its output, checking it succeeded."""
    result = w.run_slowly(benchmark, run, flow, inputs)
    assert result.success, result.error
    return result.output


@pytest.mark.benchmark(group="skewed-dag")
@tool_kinds
@lanes
def test_skewed_dag(
    benchmark: BenchmarkFixture,
    default: FlowExecutor,
    loop: asyncio.AbstractEventLoop,
    lane: str,
    tools: w.Kind,
) -> None:
    """A 0.2 s | 0.01 s -> 0.2 s, then a join: makespan <= 0.2205 s (critical path 0.21 s)."""
    flow = w.skewed_dag(tools)
    default.compile(flow)
    w.check_skewed(_sleepy(benchmark, w.runner(default, lane, loop), flow, w.SKEW_INPUTS))


@pytest.mark.benchmark(group="six-leaves")
@tool_kinds
@lanes
def test_six_leaves(
    benchmark: BenchmarkFixture,
    default: FlowExecutor,
    loop: asyncio.AbstractEventLoop,
    lane: str,
    tools: w.Kind,
) -> None:
    """Six independent 50 ms steps and a join, max_concurrency=8: <= 0.055 s."""
    flow = w.six_leaves(tools)
    default.compile(flow)
    w.check_six(_sleepy(benchmark, w.runner(default, lane, loop), flow, w.SIX_INPUTS))


@pytest.fixture(scope="module")
def async_dag() -> Flow:
    """Root + 1000 trivial async leaves + join."""
    return w.fan_dag(w.LEAVES, "ainc")


@pytest.mark.benchmark(group="async-dag1000")
@pytest.mark.parametrize("concurrency", [8, 1], ids=lambda c: f"c{c}")
@lanes
def test_async_dag1000(
    benchmark: BenchmarkFixture,
    default: FlowExecutor,
    sequential: FlowExecutor,
    loop: asyncio.AbstractEventLoop,
    async_dag: Flow,
    lane: str,
    concurrency: int,
) -> None:
    """Root + 1000 trivial async leaves + join: async lane <= 10 ms (sync lane: reference)."""
    executor = default if concurrency == 8 else sequential
    executor.compile(async_dag)
    result = benchmark(w.runner(executor, lane, loop), async_dag, w.DAG_INPUTS)
    assert result.success, result.error
    w.check_dag(result.output)


@pytest.mark.benchmark(group="async-linear5")
@pytest.mark.parametrize("concurrency", [1, 8], ids=lambda c: f"c{c}")
@lanes
def test_async_linear5(
    benchmark: BenchmarkFixture,
    default: FlowExecutor,
    sequential: FlowExecutor,
    loop: asyncio.AbstractEventLoop,
    lane: str,
    concurrency: int,
) -> None:
    """Five trivial async steps: async lane <= 40 us per run (sync lane: reference)."""
    executor = default if concurrency == 8 else sequential
    flow = w.linear(w.LINEAR_SHORT, "ainc")
    executor.compile(flow)
    result = benchmark(w.runner(executor, lane, loop), flow, w.LINEAR_INPUTS)
    assert result.success, result.error
    w.check_linear(result.output, w.LINEAR_SHORT)

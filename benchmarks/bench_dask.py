"""Dask runner benchmarks (pytest-benchmark): ``make bench`` (the ``dask`` extra, in ``dev``).

Both workloads run on one ``distributed.LocalCluster`` per module
(``_workloads.LOCAL_CLUSTER``: 2 single-threaded worker processes) through one
``DaskRunner``; each executor compiles its flow before the timed region.

* ``dask-map1000``: ``bench_map``'s 1000 trivial ``echo`` items through ``DaskRunner``,
  executor and map step at ``max_concurrency=1000`` (every item ready in one round), and
  the same 1000 validated calls made with ``client.map(..., pure=False)`` and
  ``client.gather`` directly (``_floor.dask_map``). DESIGN.md section 7: dagwright <= 1.5x
  the direct calls; ``compare.py``'s ``dask`` figure judges it, interleaved.
* ``crunch16``: ``_workloads.crunch_flow()``, 16 CPU-bound pure-Python items of about
  0.1 s each at ``max_concurrency=16``, on the executor's thread pool (the GIL runs one
  item at a time) and through ``DaskRunner`` (two worker processes run two at a time).
  The speed-up t(threads) / t(Dask) is reported by ``compare.py``'s ``dask-speedup``
  figure; on 2 cores its ideal is 2x.

Every workload uses ``benchmark.pedantic`` with a few rounds: a run lasts from a fraction
of a second to seconds. Results are checked after every benchmark.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import _floor
import _workloads as w
import bench_map
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from dagwright import ExecutionResult, FlowExecutor
from dagwright.runners import DaskRunner  # imports Dask only when a runner is made

distributed: Any = importlib.import_module("distributed")  # untyped: typed as Any here

ROUNDS = 5


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A client of a local cluster of 2 single-threaded worker processes."""
    w.share_benchmark_path()
    with (
        distributed.LocalCluster(**w.LOCAL_CLUSTER) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        yield dask_client


@pytest.fixture(scope="module")
def runner(client: Any) -> Iterator[DaskRunner]:
    """One ``DaskRunner`` for the module's executors (closed before the client)."""
    with DaskRunner(client) as dask_runner:
        yield dask_runner


def _slowly(benchmark: BenchmarkFixture, run: Any, *args: Any) -> Any:
    return benchmark.pedantic(  # type: ignore[no-untyped-call]
        run, args=args, rounds=ROUNDS, iterations=1, warmup_rounds=1
    )


@pytest.mark.benchmark(group="dask-map1000")
def test_dask_map1000(benchmark: BenchmarkFixture, runner: DaskRunner) -> None:
    """1000 trivial items through DaskRunner, max_concurrency=1000 (<= 1.5x the floor)."""
    flow = bench_map.map_flow("echo", max_concurrency=bench_map.ITEMS)
    with FlowExecutor(
        bench_map.MAP_TOOLS, runner=runner, max_concurrency=bench_map.ITEMS
    ) as executor:
        executor.compile(flow)
        result = _slowly(benchmark, executor.run, flow, bench_map.MAP1000_INPUTS)
    bench_map.check_map(result, bench_map.MAP1000_EXPECTED)


@pytest.mark.benchmark(group="dask-map1000")
def test_dask_map1000_floor(benchmark: BenchmarkFixture, client: Any) -> None:
    """The same 1000 validated calls with ``client.map`` + ``client.gather`` directly."""
    items = list(bench_map.MAP1000_INPUTS["xs"])
    assert _slowly(benchmark, _floor.dask_map, client, items) == bench_map.MAP1000_EXPECTED


@pytest.fixture(scope="module")
def crunched() -> list[dict[str, Any]]:
    """What ``crunch_flow()`` must write to ``out``, computed by hand."""
    return [_floor.crunch_item(rounds) for rounds in w.CPU_INPUTS["xs"]]


def _check_crunch(result: ExecutionResult, expected: list[dict[str, Any]]) -> None:
    assert result.success, result.error
    assert result.output["out"] == expected


@pytest.mark.benchmark(group="crunch16")
def test_crunch16_threads(benchmark: BenchmarkFixture, crunched: list[dict[str, Any]]) -> None:
    """16 CPU-bound items on the executor's 16 threads: the GIL runs one at a time."""
    flow = w.crunch_flow()
    with FlowExecutor(w.CPU_TOOLS, max_concurrency=w.CPU_ITEMS) as executor:
        executor.compile(flow)
        result = _slowly(benchmark, executor.run, flow, w.CPU_INPUTS)
    _check_crunch(result, crunched)


@pytest.mark.benchmark(group="crunch16")
def test_crunch16_dask(
    benchmark: BenchmarkFixture, runner: DaskRunner, crunched: list[dict[str, Any]]
) -> None:
    """The same items through DaskRunner: two worker processes, two items at a time."""
    flow = w.crunch_flow()
    with FlowExecutor(w.CPU_TOOLS, runner=runner, max_concurrency=w.CPU_ITEMS) as executor:
        executor.compile(flow)
        result = _slowly(benchmark, executor.run, flow, w.CPU_INPUTS)
    _check_crunch(result, crunched)

"""Map (fan-out) benchmarks (pytest-benchmark), sync lane and async lane: ``make bench``.

Every workload is a ``Flow`` with one ``MapStep(id="all", over="xs", tool=..., item=...,
results="out")``; the flow input ``xs`` is the list of items and ``out`` the list of
per-item outputs, in item order (checked after every benchmark). Executors compile the
flow before the timed region. The async lane is timed as
``loop.run_until_complete(executor.arun(flow, inputs))`` on one event loop per module, as
in ``bench_dag_concurrency.py`` (the loop's own round trip, about 14 us, is noise here).

Workloads and targets:

* ``map1000``: 1000 trivial items, ``echo(x: int) -> Echo(value=x)`` (input and output
  validated by pydantic), map ``max_concurrency=8``, executor ``max_concurrency=8``:
  sync lane with the sync ``echo`` <= 10 ms per run (10 us per item); async lane with
  the async ``aecho`` <= 20 ms per run (20 us per item); async lane with the sync
  ``echo`` (each call goes to the executor's worker pool) is held to the same 20 us per
  item. For reference: the sync lane with executor ``max_concurrency=1`` (every
  instance inline in the calling thread, the map's bound of 8 capped by the executor's 1),
  and the pydantic floor (``test_map1000_floor``: the 1000 validations, calls and dumps by hand,
  no dagwright). The targets were set on a machine where a validated step costs 1.5 us:
  10 us per item is 6.7x that floor, 20 us per item 13.3x.
* ``map-six``: six 50 ms items (``time.sleep`` in ``nap``, ``asyncio.sleep`` in ``anap``),
  map ``max_concurrency=6``: makespan <= 0.055 s, both lanes, both kinds of tool.
* ``map-ten``: ten 20 ms items with the defaults (map and executor ``max_concurrency=8``),
  the line compared with ChainWeaver 0.14.1, whose ``contrib.tools.map_list`` runs the
  items one at a time (0.205 s). Ideal here: two waves of 20 ms = 0.040 s.

The sleeping workloads use ``benchmark.pedantic`` with few rounds (each run sleeps for its
whole makespan). The tools, flows, inputs and targets are module-level names so that
other scripts (``compare.py``) can import them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from _workloads import LEAF_S, SIX, anap, nap, run_slowly, runner
from pydantic import BaseModel
from pytest_benchmark.fixture import BenchmarkFixture

from dagwright import ExecutionResult, Flow, FlowExecutor, MapStep, Tool, tool

ITEMS = 1000
MAP_CONCURRENCY = 8
TEN = 10
TEN_ITEM_S = 0.02

# Targets (microseconds per item for map1000, seconds of makespan for the sleepy maps).
TARGET_MAP_SYNC_US_PER_ITEM = 10.0
TARGET_MAP_ASYNC_US_PER_ITEM = 20.0
# ChainWeaver 0.14.1, contrib ``map_list`` over 10 x 20 ms items (one at a time).
CHAINWEAVER_TEN_S = 0.205
# Ten items at the default map concurrency of 8: two waves.
IDEAL_TEN_S = -(-TEN // MAP_CONCURRENCY) * TEN_ITEM_S

Lane = Literal["sync", "async"]
Kind = Literal["sync", "async"]
LANES: tuple[Lane, ...] = ("sync", "async")
KINDS: tuple[Kind, ...] = ("sync", "async")


class Echo(BaseModel):
    """What ``echo`` returns: its item."""

    value: int


def echo_value(x: int) -> Echo:
    """Return the item."""
    return Echo(value=x)


async def echo_value_async(x: int) -> Echo:
    """Return the item, as a coroutine (never suspends)."""
    return Echo(value=x)


echo: Tool = tool(name="echo")(echo_value)
aecho: Tool = tool(name="aecho")(echo_value_async)
MAP_TOOLS: tuple[Tool, ...] = (echo, aecho, nap, anap)


def map_flow(tool_name: str, item: str = "x", max_concurrency: int = MAP_CONCURRENCY) -> Flow:
    """One map step applying ``tool_name`` to every element of ``xs``, into ``out``."""
    return Flow(
        f"map-{tool_name}-c{max_concurrency}",
        [
            MapStep(
                id="all",
                over="xs",
                tool=tool_name,
                item=item,
                results="out",
                max_concurrency=max_concurrency,
                error_policy="fail_fast",
            )
        ],
    )


def trivial_flow(kind: Kind) -> Flow:
    """The ``map1000`` flow: ``echo`` (sync) or ``aecho`` (async), map concurrency 8."""
    return map_flow("echo" if kind == "sync" else "aecho")


def sleepy_flow(kind: Kind, max_concurrency: int) -> Flow:
    """A map of ``nap`` (sync) or ``anap`` (async) over ``xs`` (seconds to sleep)."""
    return map_flow("nap" if kind == "sync" else "anap", "seconds", max_concurrency)


MAP1000_INPUTS: dict[str, Any] = {"xs": list(range(ITEMS))}
SIX_INPUTS: dict[str, Any] = {"xs": [LEAF_S] * SIX}
TEN_INPUTS: dict[str, Any] = {"xs": [TEN_ITEM_S] * TEN}


def check_map(result: ExecutionResult, expected: list[dict[str, Any]]) -> None:
    """Fail loudly unless the run succeeded and wrote ``expected`` to ``out``, in order."""
    if not result.success:
        raise AssertionError(f"map run failed: {result.error}")
    if result.output.get("out") != expected:
        got = result.output.get("out")
        raise AssertionError(f"map wrote {got!r:.200}, expected {len(expected)} items in order")


MAP1000_EXPECTED = [{"value": i} for i in range(ITEMS)]


@pytest.fixture(scope="module")
def default() -> Iterator[FlowExecutor]:
    """An executor with the default ``max_concurrency=8``."""
    with FlowExecutor(MAP_TOOLS) as executor:
        assert executor.max_concurrency == 8
        yield executor


@pytest.fixture(scope="module")
def sequential() -> Iterator[FlowExecutor]:
    """An executor with ``max_concurrency=1``: every instance inline, one at a time."""
    with FlowExecutor(MAP_TOOLS, max_concurrency=1) as executor:
        yield executor


# (lane, tool kind, executor max_concurrency); the map's own bound is 8 in every case.
MAP1000_CASES = [
    pytest.param("sync", "sync", 8, id="sync-lane-sync-tool-c8"),
    pytest.param("async", "async", 8, id="async-lane-async-tool-c8"),
    pytest.param("async", "sync", 8, id="async-lane-sync-tool-c8"),
    pytest.param("sync", "sync", 1, id="sync-lane-sync-tool-c1"),
]


@pytest.mark.benchmark(group="map1000")
@pytest.mark.parametrize(("lane", "kind", "concurrency"), MAP1000_CASES)
def test_map1000(
    benchmark: BenchmarkFixture,
    default: FlowExecutor,
    sequential: FlowExecutor,
    loop: asyncio.AbstractEventLoop,
    lane: Lane,
    kind: Kind,
    concurrency: int,
) -> None:
    """1000 trivial items: sync lane <= 10 ms per run, async lane <= 20 ms (c1: reference)."""
    executor = default if concurrency == 8 else sequential
    flow = trivial_flow(kind)
    executor.compile(flow)
    result = benchmark(runner(executor, lane, loop), flow, MAP1000_INPUTS)
    check_map(result, MAP1000_EXPECTED)


_ECHO_INPUT = echo.input_schema


def pydantic_floor(items: list[int]) -> list[dict[str, Any]]:
    """The per-item work of ``map1000`` without dagwright: validate, call, dump."""
    return [
        echo_value(_ECHO_INPUT.model_validate({"x": x}).x).model_dump(mode="json")  # type: ignore[attr-defined]
        for x in items
    ]


@pytest.mark.benchmark(group="map1000")
def test_map1000_floor(benchmark: BenchmarkFixture) -> None:
    """The 1000 items validated, called and dumped by hand with pydantic alone."""
    assert benchmark(pydantic_floor, MAP1000_INPUTS["xs"]) == MAP1000_EXPECTED


@pytest.mark.benchmark(group="map-six")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lane", LANES)
def test_map_six(
    benchmark: BenchmarkFixture,
    default: FlowExecutor,
    loop: asyncio.AbstractEventLoop,
    lane: Lane,
    kind: Kind,
) -> None:
    """Six 50 ms items, map max_concurrency=6: makespan <= 0.055 s."""
    flow = sleepy_flow(kind, SIX)
    default.compile(flow)
    result = run_slowly(benchmark, runner(default, lane, loop), flow, SIX_INPUTS)
    check_map(result, [{"slept": LEAF_S}] * SIX)


@pytest.mark.benchmark(group="map-ten")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lane", LANES)
def test_map_ten(
    benchmark: BenchmarkFixture,
    default: FlowExecutor,
    loop: asyncio.AbstractEventLoop,
    lane: Lane,
    kind: Kind,
) -> None:
    """Ten 20 ms items, default concurrency 8: ideal 0.040 s (ChainWeaver: 0.205 s)."""
    flow = sleepy_flow(kind, MAP_CONCURRENCY)
    default.compile(flow)
    result = run_slowly(benchmark, runner(default, lane, loop), flow, TEN_INPUTS)
    check_map(result, [{"slept": TEN_ITEM_S}] * TEN)

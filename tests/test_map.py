"""MapStep fan-out in both lanes: order, bounds, head-of-line, error policies, nesting.

Orders and bounds are forced and observed with events and barriers, never timed.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import (
    DAGFlow,
    Flow,
    FlowExecutor,
    FlowRegistry,
    MapStep,
    RetryPolicy,
    Step,
    tool,
)
from dagwright.events import Event, StepCancelled, StepCompleted, StepStarted
from tests.conftest import Lane
from tests.overlap import Overlap


class Echo(BaseModel):
    value: int


@tool
def echo(x: int) -> Echo:
    """Returns its item."""
    return Echo(value=x)


@tool
def picky(x: int) -> Echo:
    """Fails on multiples of three."""
    if x % 3 == 0:
        raise ValueError(f"no {x}")
    return Echo(value=x)


def one_map(**kw: Any) -> Flow:
    spec: dict[str, Any] = {
        "id": "all",
        "over": "xs",
        "tool": "echo",
        "item": "x",
        "results": "out",
    }
    spec.update(kw)
    return Flow("m", [MapStep(**spec)])


def test_results_in_item_order_when_completion_order_is_reversed(lane: Lane) -> None:
    n = 6
    done = [threading.Event() for _ in range(n + 1)]
    done[n].set()
    completions: list[int] = []

    @tool
    def backwards(x: int) -> Echo:
        """Item i ends only after item i + 1 ended: completion order is n-1, ..., 0."""
        assert done[x + 1].wait(10)
        completions.append(x)
        done[x].set()
        return Echo(value=x * 10)

    flow = one_map(tool="backwards", max_concurrency=n)
    with FlowExecutor([backwards], max_concurrency=n) as ex:
        result = lane(ex, flow, {"xs": list(range(n))})
    assert result.success, result.error
    assert completions == list(reversed(range(n)))
    assert result.output["out"] == [{"value": i * 10} for i in range(n)]
    assert [c.index for c in result.step("all").children] == list(range(n))


def test_empty_list_gives_empty_results(lane: Lane) -> None:
    with FlowExecutor([echo]) as ex:
        result = lane(ex, one_map(errors="errs"), {"xs": []})
    assert result.success and result.output["out"] == [] and result.output["errs"] == []


def test_over_must_resolve_to_a_list_at_run_time(lane: Lane) -> None:
    with FlowExecutor([echo]) as ex:
        result = lane(ex, one_map(), {"xs": "not a list"})
    assert not result.success
    assert result.error is not None and result.error.code == "DW-E102"
    assert "not a list" in result.error.message


@pytest.mark.parametrize("k", [2, 3])
def test_map_bound_is_exact_sync_tools(lane: Lane, k: int) -> None:
    overlap = Overlap(k)

    @tool
    def meet(x: int) -> Echo:
        """k instances must overlap to pass the barrier."""
        overlap.meet()
        return Echo(value=x)

    with FlowExecutor([meet], max_concurrency=8) as ex:
        result = lane(ex, one_map(tool="meet", max_concurrency=k), {"xs": list(range(3 * k))})
    assert result.success, result.error
    assert overlap.peak == k


def test_map_bound_is_exact_async_tools() -> None:
    overlap = Overlap(3)

    @tool
    async def meet(x: int) -> Echo:
        """3 instances must overlap to pass the barrier."""
        await overlap.ameet()
        return Echo(value=x)

    with FlowExecutor([meet], max_concurrency=8) as ex:
        flow = one_map(tool="meet", max_concurrency=3)
        result = asyncio.run(ex.arun(flow, {"xs": list(range(9))}))
    assert result.success, result.error
    assert overlap.peak == 3


def test_executor_bound_covers_map_instances_and_steps(lane: Lane) -> None:
    """The executor's max_concurrency bounds instances plus other steps together."""
    overlap = Overlap(2)

    @tool
    def meet(x: int) -> Echo:
        """Two calls must overlap; never more than two at once."""
        overlap.meet()
        return Echo(value=x)

    flow = DAGFlow(
        "shared",
        [
            MapStep(id="all", over="xs", tool="meet", item="x", results="out", max_concurrency=8),
            Step(id="solo", tool="meet", inputs={"x": "y"}, outputs={"solo": "value"}),
        ],
    )
    with FlowExecutor([meet], max_concurrency=2) as ex:
        result = lane(ex, flow, {"xs": list(range(7)), "y": 99})
    assert result.success, result.error
    assert overlap.peak == 2


def test_no_head_of_line_blocking(lane: Lane) -> None:
    """A slow instance 0 must not keep free slots idle: item 3 starts while 0 runs."""
    third_started = threading.Event()
    events: list[Event] = []

    @tool
    def slow_first(x: int) -> Echo:
        """Instance 0 waits until instance 3 has started."""
        if x == 0:
            assert third_started.wait(10), "instance 3 never started while 0 was running"
        if x == 3:
            third_started.set()
        return Echo(value=x)

    flow = one_map(tool="slow_first", max_concurrency=2)
    with FlowExecutor([slow_first], max_concurrency=4) as ex:
        result = lane(ex, flow, {"xs": [0, 1, 2, 3]}, hooks=[events.append])
    assert result.success, result.error
    order = [(type(e).__name__, getattr(e, "index", None)) for e in events]
    assert order.index(("StepStarted", 3)) < order.index(("StepCompleted", 0))
    starts = [e.index for e in events if isinstance(e, StepStarted) and e.index is not None]
    assert starts == [0, 1, 2, 3]  # instances start in index order


def test_collect_keeps_going_and_records_errors_in_index_order(lane: Lane) -> None:
    flow = one_map(tool="picky", errors="errs", error_policy="collect", max_concurrency=2)
    with FlowExecutor([picky], max_concurrency=4) as ex:
        result = lane(ex, flow, {"xs": [0, 1, 2, 3, 4, 5, 6]})
    assert result.success
    # failures at the first, a middle and the last index
    assert result.output["out"] == [{"value": v} for v in (1, 2, 4, 5)]
    assert result.output["errs"] == [
        {"index": 0, "error_type": "ValueError", "message": "no 0"},
        {"index": 3, "error_type": "ValueError", "message": "no 3"},
        {"index": 6, "error_type": "ValueError", "message": "no 6"},
    ]
    statuses = [c.status for c in result.step("all").children]
    assert statuses == [
        "failed",
        "completed",
        "completed",
        "failed",
        "completed",
        "completed",
        "failed",
    ]


def test_fail_fast_sync_starts_no_new_instance() -> None:
    started: list[int] = []

    @tool
    def fails_at_two(x: int) -> Echo:
        """Fails on item 2."""
        started.append(x)
        if x == 2:
            raise ValueError("two")
        return Echo(value=x)

    with FlowExecutor([fails_at_two], max_concurrency=1) as ex:
        result = ex.run(one_map(tool="fails_at_two"), {"xs": [0, 1, 2, 3, 4]})
    assert not result.success
    assert result.error is not None and result.error.type == "ValueError"
    assert started == [0, 1, 2]
    assert result.step("all").status == "failed"


def test_fail_fast_async_cancels_running_instances() -> None:
    finished = threading.Event()
    events: list[Event] = []

    @tool
    async def slow_or_fail(x: int) -> Echo:
        """Item 0 would take a minute; item 1 fails."""
        if x == 0:
            await asyncio.sleep(60)
            finished.set()
        if x == 1:
            await asyncio.sleep(0)
            raise ValueError("one")
        return Echo(value=x)

    flow = one_map(tool="slow_or_fail", max_concurrency=2)
    with FlowExecutor([slow_or_fail], max_concurrency=4) as ex:
        result = asyncio.run(ex.arun(flow, {"xs": [0, 1, 2, 3]}, hooks=[events.append]))
    assert not result.success
    record = result.step("all")
    assert record.status == "failed"
    assert {c.index: c.status for c in record.children} == {0: "cancelled", 1: "failed"}
    assert [e.index for e in events if isinstance(e, StepCancelled)] == [0]
    assert not any(isinstance(e, StepStarted) and e.index in (2, 3) for e in events)
    assert not finished.is_set()


def test_retries_apply_per_instance_with_their_own_attempts(lane: Lane) -> None:
    failed_once: set[int] = set()
    lock = threading.Lock()

    @tool
    def once(x: int) -> Echo:
        """Each odd item fails on its first attempt."""
        with lock:
            first = x % 2 == 1 and x not in failed_once
            failed_once.add(x)
        if first:
            raise ConnectionError(f"blip {x}")
        return Echo(value=x)

    flow = one_map(tool="once", retry=RetryPolicy(max_attempts=2))
    with FlowExecutor([once], max_concurrency=4) as ex:
        result = lane(ex, flow, {"xs": [0, 1, 2, 3]})
    assert result.success, result.error
    attempts = {c.index: [a.number for a in c.attempts] for c in result.step("all").children}
    assert attempts == {0: [0], 1: [0, 1], 2: [0], 3: [0, 1]}


def test_map_over_a_sub_flow_and_nested_maps(lane: Lane) -> None:
    registry = FlowRegistry()
    registry.register(
        Flow("inner", [MapStep(id="each", over="row", tool="echo", item="x", results="values")])
    )
    outer = DAGFlow(
        "outer", [MapStep(id="rows", over="grid", flow="inner", item="row", results="table")]
    )
    events: list[Event] = []
    with FlowExecutor([echo], registry=registry, max_concurrency=4) as ex:
        result = lane(ex, outer, {"grid": [[1, 2], [3], []]}, hooks=[events.append])
    assert result.success, result.error
    assert result.output["table"] == [
        {"values": [{"value": 1}, {"value": 2}]},
        {"values": [{"value": 3}]},
        {"values": []},
    ]
    rows = result.step("rows")
    assert [c.index for c in rows.children] == [0, 1, 2]
    first = rows.children[0]
    assert first.flow == "inner"
    assert [c.index for c in first.children[0].children] == [0, 1]
    inner = [
        (e.path, e.index) for e in events if isinstance(e, StepCompleted) and e.step_id == "each"
    ]
    # nested instances are identified by their index path
    assert sorted(inner, key=repr) == sorted(
        [(("rows", 0), 0), (("rows", 0), 1), (("rows", 0), None), (("rows", 1), 0),
         (("rows", 1), None), (("rows", 2), None)],
        key=repr,
    )  # fmt: skip

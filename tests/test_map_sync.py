"""MapStep fan-out on the sync lane: order, error policies, empty lists, sub-flows."""

from __future__ import annotations

import threading
import time

import pytest
from pydantic import BaseModel

from dagwright import DAGFlow, Flow, FlowExecutor, FlowRegistry, MapStep, tool


class Echo(BaseModel):
    value: int


@tool
def slow_echo(x: int) -> Echo:
    """Returns x; later items finish first."""
    time.sleep((5 - x) * 0.002 if x < 5 else 0)
    return Echo(value=x)


@tool
def picky(x: int) -> Echo:
    """Fails on multiples of three."""
    if x % 3 == 0:
        raise ValueError(f"no {x}")
    return Echo(value=x)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_results_in_item_order_whatever_the_completion_order(concurrency: int) -> None:
    flow = Flow("m", [MapStep(id="all", over="xs", tool="slow_echo", item="x", results="out")])
    with FlowExecutor([slow_echo], max_concurrency=concurrency) as ex:
        result = ex.run(flow, {"xs": [0, 1, 2, 3, 4, 5]})
    assert result.success
    assert result.output["out"] == [{"value": i} for i in range(6)]
    record = result.step("all")
    assert [c.index for c in record.children] == list(range(6))


def test_empty_list_gives_empty_results() -> None:
    flow = Flow("m", [MapStep(id="all", over="xs", tool="slow_echo", item="x", results="out")])
    with FlowExecutor([slow_echo]) as ex:
        result = ex.run(flow, {"xs": []})
    assert result.success and result.output["out"] == []


def test_collect_keeps_going_and_records_errors_in_index_order() -> None:
    flow = Flow(
        "m",
        [
            MapStep(
                id="all", over="xs", tool="picky", item="x", results="out", errors="errs",
                error_policy="collect", max_concurrency=2,
            )
        ],
    )  # fmt: skip
    with FlowExecutor([picky], max_concurrency=4) as ex:
        result = ex.run(flow, {"xs": [0, 1, 2, 3, 4, 5, 6]})
    assert result.success
    assert result.output["out"] == [{"value": v} for v in (1, 2, 4, 5)]
    assert [e["index"] for e in result.output["errs"]] == [0, 3, 6]
    assert result.output["errs"][0] == {"index": 0, "error_type": "ValueError", "message": "no 0"}


def test_fail_fast_fails_the_step_with_the_first_failure() -> None:
    flow = Flow("m", [MapStep(id="all", over="xs", tool="picky", item="x", results="out")])
    with FlowExecutor([picky], max_concurrency=1) as ex:
        result = ex.run(flow, {"xs": [1, 2, 3, 4, 5]})
    assert not result.success
    assert result.error is not None and result.error.type == "ValueError"
    record = result.step("all")
    assert record.status == "failed"
    # sequential: items after the failing one never started
    assert [c.index for c in record.children] == [0, 1, 2]


def test_map_concurrency_bound_is_exact() -> None:
    k = 3
    barrier = threading.Barrier(k, timeout=10)
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    @tool
    def meet(x: int) -> Echo:
        """k instances must overlap to pass the barrier."""
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        barrier.wait()
        with lock:
            state["now"] -= 1
        return Echo(value=x)

    flow = Flow(
        "m", [MapStep(id="all", over="xs", tool="meet", item="x", results="out", max_concurrency=k)]
    )
    with FlowExecutor([meet], max_concurrency=8) as ex:
        result = ex.run(flow, {"xs": list(range(3 * k))})
    assert result.success, result.error
    assert state["peak"] == k


def test_map_over_a_sub_flow_and_nested_maps() -> None:
    registry = FlowRegistry()
    registry.register(
        Flow(
            "inner",
            [MapStep(id="each", over="row", tool="slow_echo", item="x", results="values")],
        )
    )
    outer = DAGFlow(
        "outer", [MapStep(id="rows", over="grid", flow="inner", item="row", results="table")]
    )
    with FlowExecutor([slow_echo], registry=registry, max_concurrency=4) as ex:
        result = ex.run(outer, {"grid": [[1, 2], [3], []]})
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

"""A map step's ``StepStarted`` carries its resolved item count, in both lanes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import (
    Flow,
    FlowExecutor,
    FlowRegistry,
    InMemoryCheckpointer,
    MapStep,
    Step,
    tool,
)
from dagwright.events import Event, StepCompleted, StepStarted
from tests.conftest import Lane, double

FAIL_ON: set[int] = set()


class Echo(BaseModel):
    value: int


@tool
def echo(x: int) -> Echo:
    """Returns its item (fails for the items in FAIL_ON)."""
    if x in FAIL_ON:
        raise ValueError(f"not {x}")
    return Echo(value=x)


def starts(events: list[Event]) -> list[tuple[str, tuple[str | int, ...], int | None, Any]]:
    return [
        (e.step_id, e.path, e.index, e.item_count) for e in events if isinstance(e, StepStarted)
    ]


def test_a_maps_start_carries_its_item_count_and_nothing_else_does(lane: Lane) -> None:
    events: list[Event] = []
    flow = Flow(
        "m",
        [
            Step(id="d", tool="double"),
            MapStep(id="all", over="xs", tool="echo", item="x", results="out", max_concurrency=1),
        ],
    )
    with FlowExecutor([double, echo]) as ex:
        result = lane(ex, flow, {"n": 1, "xs": [4, 5, 6]}, hooks=[events.append])
    assert result.success, result.error
    assert starts(events) == [
        ("d", (), None, None),
        ("all", (), None, 3),
        ("all", (), 0, None),
        ("all", (), 1, None),
        ("all", (), 2, None),
    ]


def test_the_count_of_an_over_given_as_a_json_pointer(lane: Lane) -> None:
    events: list[Event] = []
    flow = Flow("p", [MapStep(id="all", over="/batch/items", tool="echo", item="x", results="out")])
    with FlowExecutor([echo]) as ex:
        result = lane(ex, flow, {"batch": {"items": [1, 2, 3, 4, 5]}}, hooks=[events.append])
    assert result.success, result.error
    assert [count for step, _, index, count in starts(events) if index is None] == [5]


def test_an_empty_list_counts_zero_and_a_non_list_counts_none(lane: Lane) -> None:
    flow = Flow("e", [MapStep(id="all", over="xs", tool="echo", item="x", results="out")])
    for xs, count, success in (([], 0, True), ({"a": 1}, None, False)):
        events: list[Event] = []
        with FlowExecutor([echo]) as ex:
            result = lane(ex, flow, {"xs": xs}, hooks=[events.append])
        assert result.success is success
        assert starts(events) == [("all", (), None, count)]


def test_a_map_inside_a_sub_flow_and_inside_a_map_instance(lane: Lane) -> None:
    registry = FlowRegistry()
    registry.register(
        Flow("inner", [MapStep(id="each", over="ys", tool="echo", item="x", results="out")])
    )
    flow = Flow(
        "outer",
        [MapStep(id="rows", over="rows", flow="inner", item="ys", results="done",
                 max_concurrency=1)],
    )  # fmt: skip
    events: list[Event] = []
    with FlowExecutor([echo], registry=registry) as ex:
        result = lane(ex, flow, {"rows": [[1, 2], [3]]}, hooks=[events.append])
    assert result.success, result.error
    maps = [(s, p, c) for s, p, i, c in starts(events) if i is None]
    assert maps == [("rows", (), 2), ("each", ("rows", 0), 2), ("each", ("rows", 1), 1)]


def _resume_events(lane_name: str, ex: FlowExecutor, flow: Flow) -> list[Event | Any]:
    if lane_name == "sync":
        return list(ex.stream_resume("r1", flow))

    async def collect() -> list[Event | Any]:
        return [item async for item in ex.astream_resume("r1", flow)]

    return asyncio.run(collect())


@pytest.mark.timeout(60)
def test_a_resumed_map_counts_every_item_also_the_restored_ones(lane: Lane) -> None:
    flow = Flow(
        "r", [MapStep(id="all", over="xs", tool="echo", item="x", results="out", max_concurrency=1)]
    )
    store = InMemoryCheckpointer()
    FAIL_ON.clear()
    FAIL_ON.add(3)
    try:
        with FlowExecutor([echo], checkpointer=store) as ex:
            failed = lane(ex, flow, {"xs": [1, 2, 3, 4, 5]}, run_id="r1")
        assert not failed.success
    finally:
        FAIL_ON.clear()
    with FlowExecutor([echo], checkpointer=store) as ex:
        items = _resume_events(lane.lane, ex, flow)  # type: ignore[attr-defined]
    result = items[-1]
    assert result.success, result.error
    events = [item for item in items if isinstance(item, Event)]
    # instances 0 and 1 are restored (no events); the map still counts all five items
    assert starts(events) == [
        ("all", (), None, 5),
        ("all", (), 2, None),
        ("all", (), 3, None),
        ("all", (), 4, None),
    ]
    ended = [e.index for e in events if isinstance(e, StepCompleted) and e.index is not None]
    assert ended == [2, 3, 4]
    assert result.output["out"] == [{"value": x} for x in [1, 2, 3, 4, 5]]

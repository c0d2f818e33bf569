"""Isolation: a tool gets its own inputs, hooks and streams get read-only views."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import DAGFlow, ExecutionResult, Flow, FlowExecutor, Literal, MapStep, Step, tool
from dagwright.checkpoint import InMemoryCheckpointer
from dagwright.events import Event, StepCompleted
from tests.conftest import Lane


class Doc(BaseModel):
    doc: dict[str, Any]


class Items(BaseModel):
    items: list[Any]


class Seen(BaseModel):
    seen: Any


@tool
def make() -> Doc:
    """A nested document."""
    return Doc(doc={"tags": ["a"], "meta": {"n": 1}})


@tool
def vandal(doc: dict[str, Any]) -> Seen:
    """Mutate the input in place, at every level."""
    doc["tags"].append("vandal")
    doc["meta"]["n"] = 99
    doc["new"] = True
    return Seen(seen=len(doc))


@tool
def reader(doc: dict[str, Any]) -> Items:
    """Report what it sees."""
    return Items(items=[doc["tags"], doc["meta"]["n"], "new" in doc])


@tool
def grow(items: Any) -> Items:
    """Append to the list input and return it."""
    items.append(len(items) + 1)
    return Items(items=items)


@pytest.mark.timeout(30)
def test_a_mutating_tool_changes_nothing_upstream_or_downstream(lane: Lane) -> None:
    store = InMemoryCheckpointer()
    flow = DAGFlow(
        "iso",
        [
            Step(id="make", tool="make"),
            Step(id="vandal", tool="vandal", depends_on=["make"]),
            Step(id="reader", tool="reader", depends_on=["vandal"]),
        ],
    )
    with FlowExecutor([make, vandal, reader], checkpointer=store) as ex:
        result = lane(ex, flow, {})
    assert result.success, result.error
    original = {"tags": ["a"], "meta": {"n": 1}}
    assert result.step("make").outputs == {"doc": original}
    assert result.step("vandal").inputs == {"doc": original}
    assert result.output["doc"] == original
    assert result.output["items"] == [["a"], 1, False]
    _, entries = store.load(result.run_id)
    assert entries[0]["record"]["outputs"] == {"doc": original}


@pytest.mark.timeout(30)
def test_a_literal_is_the_same_in_every_run(lane: Lane) -> None:
    flow = Flow("lit", [Step(tool="grow", inputs={"items": Literal([0])})])
    with FlowExecutor([grow]) as ex:
        outputs = [lane(ex, flow, {}).output["items"] for _ in range(3)]
    assert outputs == [[0, 2], [0, 2], [0, 2]]
    literal = flow.steps[0].inputs["items"]
    assert isinstance(literal, Literal) and literal.value == [0]


@pytest.mark.timeout(30)
def test_run_inputs_are_not_changed_by_a_tool(lane: Lane) -> None:
    given = {"items": [1, 2]}
    with FlowExecutor([grow]) as ex:
        result = lane(ex, Flow("in", [Step(tool="grow")]), given)
    assert given == {"items": [1, 2]}
    assert result.step("grow").inputs == {"items": [1, 2]}


@pytest.mark.timeout(30)
def test_hooks_get_read_only_outputs(lane: Lane) -> None:
    def meddle(event: Event) -> None:
        if isinstance(event, StepCompleted) and event.step_id == "make":
            event.outputs["doc"]["tags"].append("hook")
            event.outputs["doc"]["meta"]["n"] = -1
            event.outputs["extra"] = 1  # type: ignore[index]

    flow = DAGFlow(
        "hooked",
        [Step(id="make", tool="make"), Step(id="reader", tool="reader", depends_on=["make"])],
    )
    with FlowExecutor([make, reader], hooks=[meddle]) as ex:
        result = lane(ex, flow, {})
    assert result.success, result.error
    assert result.output["items"] == [["a"], 1, False]
    assert result.step("make").outputs == {"doc": {"tags": ["a"], "meta": {"n": 1}}}


@pytest.mark.timeout(30)
def test_stream_events_are_views_of_copies() -> None:
    flow = DAGFlow(
        "streamed",
        [Step(id="make", tool="make"), Step(id="reader", tool="reader", depends_on=["make"])],
    )
    last: Any = None
    with FlowExecutor([make, reader]) as ex:
        for last in ex.stream(flow, {}):
            if isinstance(last, StepCompleted) and last.step_id == "make":
                with pytest.raises(TypeError):
                    last.outputs["doc"] = {}  # type: ignore[index]
                last.outputs["doc"]["tags"].clear()
    assert isinstance(last, ExecutionResult) and last.success
    assert last.output["items"] == [["a"], 1, False]


class Nested(BaseModel):
    xs: list[int]


@tool
def grow_typed(items: list[int], table: dict[str, list[int]], nested: Nested) -> Items:
    """Mutate typed container inputs: pydantic built them afresh, so nothing is shared."""
    items.append(9)
    table["a"].append(9)
    nested.xs.append(9)
    return Items(items=[items, table, nested.xs])


@pytest.mark.timeout(30)
def test_typed_container_inputs_are_the_tools_own(lane: Lane) -> None:
    given = {"items": [1], "table": {"a": [2]}, "nested": {"xs": [3]}}
    flow = Flow(
        "typed",
        [
            Step(tool="grow_typed", outputs={"first": "items"}),
            Step(id="again", tool="grow_typed", outputs={"second": "items"}),
        ],
    )
    with FlowExecutor([grow_typed]) as ex:
        result = lane(ex, flow, given)
        second = lane(ex, flow, given)
    assert result.success, result.error
    assert given == {"items": [1], "table": {"a": [2]}, "nested": {"xs": [3]}}
    assert result.step("again").inputs == given
    assert result.output["first"] == result.output["second"] == [[1, 9], {"a": [2, 9]}, [3, 9]]
    assert second.digest == result.digest


@tool
def poke(item: Any) -> Seen:
    """Mutate a map item in place."""
    item["hits"].append(1)
    return Seen(seen=len(item["hits"]))


@pytest.mark.timeout(30)
def test_map_instances_get_their_own_items(lane: Lane) -> None:
    shared = {"hits": []}
    flow = Flow("m", [MapStep(id="each", over="xs", tool="poke", item="item", results="rs")])
    with FlowExecutor([poke]) as ex:
        result = lane(ex, flow, {"xs": [shared, shared, {"hits": [0]}]})
    assert result.success, result.error
    assert [r["seen"] for r in result.output["rs"]] == [1, 1, 2]
    assert result.output["xs"] == [{"hits": []}, {"hits": []}, {"hits": [0]}]

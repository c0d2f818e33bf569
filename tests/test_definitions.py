"""Definitions: literals are JSON values, step ids are checked, never renamed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import DAGFlow, Flow, FlowExecutor, Literal, MapStep, Step, tool
from dagwright._execution.binding import MISSING, follow_pointer
from dagwright.errors import FlowCompileError, FlowDefinitionError
from tests.conftest import Lane


class Echoed(BaseModel):
    out: Any


@tool
def echo(x: Any) -> Echoed:
    """Return the input."""
    return Echoed(out=x)


def _flow(value: Any) -> Flow:
    return Flow("lit", [Step(tool="echo", inputs={"x": Literal(value)})])


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), -float("inf"), [1.0, float("nan")], {"a": {1}}]
)
def test_a_literal_with_no_json_form_is_refused(value: Any) -> None:
    with pytest.raises(FlowDefinitionError) as caught:
        Literal(value)
    assert caught.value.code == "DW-E006" and caught.value.hint


def test_a_self_containing_literal_is_refused() -> None:
    value: list[Any] = []
    value.append(value)
    with pytest.raises(FlowDefinitionError):
        Literal(value)


def test_file_form_literals_are_checked_too() -> None:
    with pytest.raises(FlowDefinitionError):
        Step(tool="echo", inputs={"x": {"literal": float("nan")}})


def test_tuples_become_lists() -> None:
    assert Literal((1, (2, 3))).value == [1, [2, 3]]
    assert Literal((1, 2)) == Literal([1, 2])
    assert _flow((1, 2)).definition_digest == _flow([1, 2]).definition_digest
    assert _flow(None).definition_digest != _flow(0).definition_digest
    assert _flow(0).definition_digest != _flow(False).definition_digest


def test_flows_differing_only_in_a_literal_have_their_own_plans(lane: Lane) -> None:
    with FlowExecutor([echo]) as ex:
        outs = [lane(ex, _flow(v), {}).output["out"] for v in (None, 0, False, 0.0, None, 0)]
    assert outs == [None, 0, False, 0.0, None, 0]
    assert [type(v) for v in outs[:4]] == [type(None), int, bool, float]


def test_a_tuple_literal_reaches_the_tool_as_a_list(lane: Lane) -> None:
    with FlowExecutor([echo]) as ex:
        assert lane(ex, _flow((1, 2)), {}).output["out"] == [1, 2]


@pytest.mark.parametrize("bad", ["", "<step 1>", "a b", " x", ".x", "-x", "x/y", "é", "x\n"])
def test_invalid_step_ids_are_refused(bad: str) -> None:
    for make in (
        lambda: Step(id=bad, tool="echo"),
        lambda: MapStep(id=bad, tool="echo", over="xs", item="x", results="r"),
    ):
        with pytest.raises(FlowDefinitionError) as caught:
            make()
        assert caught.value.code == "DW-E006" and caught.value.hint


@pytest.mark.parametrize("good", ["a", "_", "0", "step-2", "v1.2_x", "A9"])
def test_valid_step_ids_are_kept(good: str) -> None:
    flow = DAGFlow("ids", [Step(id=good, tool="echo")])
    assert flow.steps[0].id == good


def test_default_ids_are_unchanged(lane: Lane) -> None:
    flow = Flow("d", [Step(tool="echo", inputs={"x": Literal(i)}) for i in range(3)])
    with FlowExecutor([echo]) as ex:
        result = lane(ex, flow, {})
    assert [r.step_id for r in result.steps] == ["echo", "echo-2", "echo-3"]


def test_a_sub_flow_name_that_is_no_id_needs_an_explicit_id() -> None:
    with pytest.raises(FlowDefinitionError, match="explicit id"):
        Flow("outer", [Step(flow="my flow")])
    assert Flow("outer", [Step(id="sub", flow="my flow")]).steps[0].id == "sub"


@pytest.mark.parametrize("token", ["²", "\u0661", "01", "-", "x"])
def test_a_pointer_token_that_is_no_index_finds_nothing_in_a_list(token: str) -> None:
    assert follow_pointer({"items": [10, 20]}, ("items", token)) is MISSING
    assert follow_pointer({"items": [10, 20]}, ("items", "1")) == 20


def test_a_non_ascii_index_is_a_compile_error(lane: Lane) -> None:
    flow = Flow("p", [Step(tool="echo", inputs={"x": "/items/\u0661"})])
    with FlowExecutor([echo]) as ex, pytest.raises(FlowCompileError, match="DW208"):
        lane(ex, flow, {"items": [1, 2]})

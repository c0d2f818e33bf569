"""How an MCP tool's description maps onto a dagwright Tool, without a server."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp.types import ToolAnnotations

from dagwright import ToolSpec
from dagwright.mcp._schemas import idempotent, input_model, output_model, tool_name

VALID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


@given(st.text(max_size=40))
def test_every_server_name_maps_to_a_valid_tool_name(name: str) -> None:
    mapped = tool_name(name)
    assert VALID.match(mapped)
    assert ToolSpec(name=mapped, input_json_schema={}, output_json_schema={}).name == mapped
    if VALID.match(name):
        assert mapped == name  # valid names are kept


@given(st.from_regex(VALID, fullmatch=True))
def test_valid_names_are_kept(name: str) -> None:
    assert tool_name(name) == name


@pytest.mark.parametrize(
    ("hints", "expected"),
    [
        (None, True),
        ({}, True),
        ({"read_only_hint": True}, True),
        ({"idempotent_hint": True}, True),
        ({"idempotent_hint": True, "destructive_hint": True}, True),
        ({"idempotent_hint": False, "read_only_hint": True}, False),
        ({"destructive_hint": True}, False),
        ({"read_only_hint": False}, False),
        ({"read_only_hint": False, "idempotent_hint": True}, True),
        ({"destructive_hint": False}, True),
    ],
)
def test_the_idempotency_rule(hints: dict[str, bool] | None, expected: bool) -> None:
    annotations = None if hints is None else ToolAnnotations(**hints)
    assert idempotent(annotations) is expected


def test_a_non_object_output_schema_is_wrapped_in_result() -> None:
    model, kind = output_model("count", {"type": "integer"}, server="s")
    assert kind == "wrapped"
    assert model.model_json_schema() == {
        "type": "object",
        "properties": {"result": {"type": "integer"}},
        "required": ["result"],
    }
    assert model.model_validate({"result": 3}).model_dump() == {"result": 3}


def test_property_names_pydantic_cannot_hold_still_pass_as_values() -> None:
    schema = {
        "type": "object",
        "properties": {"class": {}, "x-y": {}, "model_dump": {}, "ok": {"type": "integer"}},
        "required": ["ok"],
    }
    model = input_model("odd", schema, server="s")
    assert list(model.model_fields) == ["ok"]
    assert model.model_json_schema() == schema
    value = model.model_validate({"class": 1, "x-y": 2, "model_dump": 3, "ok": 4})
    assert value.model_dump(mode="json", exclude_unset=True) == {
        "ok": 4,
        "class": 1,
        "x-y": 2,
        "model_dump": 3,
    }

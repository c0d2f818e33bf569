"""JSON Schema reading: $ref inlining, type sets, compatibility, navigation."""

from __future__ import annotations

from typing import Any, Literal, Optional

import pytest
from pydantic import BaseModel

from dagwright.compiler._interfaces import model_fields
from dagwright.compiler._schemas import (
    array_items,
    compatible,
    describe,
    inline_refs,
    json_types,
    navigate,
)


class Inner(BaseModel):
    x: int


class Outer(BaseModel):
    inner: Inner
    many: list[Inner]
    maybe: Optional[Inner] = None  # noqa: UP045 - the Optional spelling is what we test
    mode: Literal["a", "b"] = "a"


class Tree(BaseModel):
    value: int
    children: list[Tree] = []


def test_refs_are_inlined() -> None:
    fields = model_fields(Outer)
    assert fields["inner"].schema["properties"]["x"]["type"] == "integer"
    assert array_items(fields["many"].schema) == fields["inner"].schema
    assert json_types(fields["maybe"].schema) == frozenset({"object", "null"})
    assert json_types(fields["mode"].schema) == frozenset({"string"})
    assert fields["inner"].required and not fields["maybe"].required


def test_recursive_models_stop_at_the_cycle() -> None:
    schema = inline_refs(Tree.model_json_schema())
    children = schema["properties"]["children"]
    assert json_types(children) == frozenset({"array"})
    # The root is already an expansion of Tree: its children are cut to "anything".
    assert array_items(children) == {}
    assert json_types(schema["properties"]["value"]) == frozenset({"integer"})


@pytest.mark.parametrize(
    ("schema", "types"),
    [
        ({"type": "string"}, {"string"}),
        ({"type": ["integer", "null"]}, {"integer", "null"}),
        ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"integer", "string"}),
        ({"anyOf": [{"type": "integer"}, {}]}, None),
        ({"const": 3}, {"integer"}),
        ({"enum": ["a", 1.5, None]}, {"string", "number", "null"}),
        ({"allOf": [{"type": ["integer", "string"]}, {"type": "integer"}]}, {"integer"}),
        ({}, None),
        ({"description": "anything"}, None),
    ],
)
def test_json_types(schema: dict[str, Any], types: set[str] | None) -> None:
    assert json_types(schema) == (frozenset(types) if types is not None else None)


@pytest.mark.parametrize(
    ("producer", "consumer", "ok"),
    [
        ({"type": "integer"}, {"type": "integer"}, True),
        ({"type": "integer"}, {"type": "number"}, True),
        ({"type": "number"}, {"type": "integer"}, True),
        ({"type": "string"}, {"type": "integer"}, False),
        ({"type": "boolean"}, {"type": "integer"}, False),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, {"type": "string"}, True),
        ({"type": "null"}, {"type": "string"}, False),
        ({}, {"type": "string"}, True),
        ({"type": "string"}, {}, True),
        ({"type": "array", "items": {"type": "integer"}}, {"type": "array"}, True),
        (
            {"type": "array", "items": {"type": "integer"}},
            {"type": "array", "items": {"type": "number"}},
            True,
        ),
        (
            {"type": "array", "items": {"type": "string"}},
            {"type": "array", "items": {"type": "integer"}},
            False,
        ),
        (
            {"type": "array", "items": {"type": "string"}},
            {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
            True,
        ),
    ],
)
def test_compatible(producer: dict[str, Any], consumer: dict[str, Any], ok: bool) -> None:
    assert compatible(producer, consumer) is ok


def test_navigate() -> None:
    schema = inline_refs(Outer.model_json_schema())
    assert navigate(schema, ("inner", "x")) == {"title": "X", "type": "integer"}
    assert json_types(navigate(schema, ("many", "0", "x"))) == frozenset({"integer"})
    assert json_types(navigate(schema, ("maybe", "x"))) == frozenset({"integer"})
    assert navigate(schema, ("nope",)) is None
    assert navigate({"type": "object", "additionalProperties": {"type": "string"}}, ("k",)) == {
        "type": "string"
    }
    assert navigate(schema, ()) is schema


def test_describe() -> None:
    assert describe({"type": "array", "items": {"type": "string"}}) == "array of string"
    assert describe({"anyOf": [{"type": "integer"}, {"type": "null"}]}) == "integer | null"
    assert describe({}) == "any"

"""A compiled flow seen as one tool: the JSON Schemas of what it takes and returns."""

from __future__ import annotations

import jsonschema
from pydantic import BaseModel

from dagwright import DAGFlow, Flow, FlowExecutor, MapStep, Step, compile_flow, tool


class Text(BaseModel):
    text: str


class Count(BaseModel):
    count: int


@tool
def shout(text: str) -> Text:
    return Text(text=text.upper())


@tool
def repeat(text: str, times: int = 2) -> Text:
    return Text(text=text * times)


@tool
def length(text: str) -> Count:
    return Count(count=len(text))


@tool
def code_point(text: int) -> Count:
    return Count(count=text)


TOOLS = [shout, repeat, length, code_point]


def test_inputs_are_typed_by_the_fields_that_read_them() -> None:
    flow = DAGFlow(
        "f",
        [
            Step(id="a", tool="repeat", inputs={"text": "word"}),
            Step(id="b", tool="length", inputs={"text": "word"}, when="mood == 'happy'"),
            MapStep(id="m", over="lines", item="text", tool="shout", results="shouted"),
        ],
    )
    schema = compile_flow(flow, TOOLS).input_json_schema()
    assert schema == {
        "type": "object",
        "title": "f inputs",
        "properties": {
            "lines": {"type": "array"},
            "mood": {},
            "times": {"title": "Times", "type": "integer", "default": 2},
            "word": {"title": "Text", "type": "string"},
        },
        "required": ["lines", "mood", "word"],
    }
    jsonschema.validate({"lines": [], "mood": "x", "word": "w"}, schema)
    try:
        jsonschema.validate({"lines": [], "mood": "x", "word": 3}, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("a number for a string field passed the derived schema")


def test_a_key_read_with_two_types_must_suit_both() -> None:
    flow = DAGFlow(
        "f",
        [Step(id="a", tool="length", inputs={"text": "x"}),
         Step(id="b", tool="code_point", inputs={"text": "x"}, outputs={"point": "count"})],
    )  # fmt: skip
    prop = compile_flow(flow, TOOLS).input_json_schema()["properties"]["x"]
    assert prop == {
        "allOf": [{"title": "Text", "type": "string"}, {"title": "Text", "type": "integer"}]
    }


def test_declared_schemas_are_used_as_they_are_and_copies_are_fresh() -> None:
    flow = Flow("f", [Step(tool="shout")], input_schema=Text, output_schema=Text)
    compiled = compile_flow(flow, TOOLS)
    assert compiled.input_json_schema() == Text.model_json_schema()
    assert compiled.output_json_schema() == Text.model_json_schema()
    compiled.input_json_schema()["properties"].clear()
    assert compiled.input_json_schema() == Text.model_json_schema()


def test_outputs_of_keeps_only_what_the_flow_returns() -> None:
    flow = Flow("f", [Step(tool="shout"), Step(tool="length")])
    compiled = compile_flow(flow, TOOLS)
    assert compiled.output_keys == ("text", "count")
    assert set(compiled.output_json_schema()["properties"]) == {"text", "count"}
    with FlowExecutor(TOOLS) as ex:
        result = ex.run(flow, {"text": "hi", "extra": 1})
    assert result.output["extra"] == 1
    assert compiled.outputs_of(result) == {"text": "HI", "count": 2}

"""A flow's input and output schemas as JSON Schema behave as the pydantic models do.

Every place a model is accepted takes a JSON Schema object too: definitions and their
digests, diagnostics, sub-flow interfaces and outputs, and run-input validation (with
defaults filled), in both lanes.
"""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, create_model

from dagwright import (
    DAGFlow,
    Flow,
    FlowDefinitionError,
    FlowExecutor,
    FlowInputError,
    FlowRegistry,
    Literal,
    Step,
    compile_flow,
    tool,
)
from dagwright.flows import JSONSchema
from tests.conftest import Lane, Result, double, increment, shout


def dumped(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema as a file would give it back: written out and read again."""
    loaded: dict[str, Any] = json.loads(json.dumps(model.model_json_schema()))
    return loaded


class Item(BaseModel):
    name: str
    qty: int = 1


class Order(BaseModel):
    n: int
    rate: float = 0.5
    tags: list[str] = []
    items: list[Item] = []
    gift: Item | None = None


class Res(BaseModel):
    result: int


class Txt(BaseModel):
    text: str


@tool
def total(n: int, rate: float, tags: list[str], items: list[dict[str, Any]]) -> Result:
    """Sum everything up."""
    return Result(result=n + int(rate * 10) + len(tags) + sum(i["qty"] for i in items))


def both(model: type[BaseModel]) -> list[type[BaseModel] | dict[str, Any]]:
    return [model, dumped(model)]


def messages(flow: Flow, tools: list[Any]) -> list[tuple[str, str, str | None, str | None]]:
    from dagwright.errors import FlowCompileError

    try:
        found = compile_flow(flow, tools=tools).diagnostics
    except FlowCompileError as exc:
        found = exc.diagnostics
    return [(d.code, d.message, d.step_id, d.hint) for d in found]


# ---------------------------------------------------------------------------------------
# Definitions


def test_a_dumped_model_schema_gives_the_same_definition_digest() -> None:
    a = Flow("f", [Step(tool="total")], input_schema=Order, output_schema=Res)
    b = Flow("f", [Step(tool="total")], input_schema=dumped(Order), output_schema=dumped(Res))
    assert a.definition() == b.definition()
    assert a.definition_digest == b.definition_digest
    assert b.input_json_schema == Order.model_json_schema()
    assert isinstance(b.input_schema, JSONSchema)


def test_the_definition_emits_the_document_as_given() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "x-note": "kept"}
    flow = Flow("f", [Step(tool="double")], input_schema=schema)
    assert flow.definition()["input_schema"] == schema


def test_changing_the_callers_dict_afterwards_changes_nothing() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
    }
    flow = Flow("f", [Step(tool="double")], input_schema=schema)
    before = flow.definition_digest
    schema["properties"]["n"]["type"] = "string"
    schema["required"].append("m")
    schema["title"] = "Changed"
    assert flow.input_json_schema == {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
    }
    fresh = Flow("f", [Step(tool="double")], input_schema=flow.input_json_schema)
    assert fresh.definition_digest == before
    with FlowExecutor([double]) as ex:
        assert ex.run(flow, {"n": 3}).output["result"] == 6


def test_the_held_document_is_read_only_and_copies_are_fresh() -> None:
    flow = Flow("f", [Step(tool="double")], input_schema=dumped(Order))
    held = flow.input_schema
    assert isinstance(held, JSONSchema)
    with pytest.raises(TypeError):
        held["type"] = "array"  # type: ignore[index]
    with pytest.raises(TypeError):
        held["properties"]["n"] = {}
    copy_ = flow.input_json_schema
    assert copy_ is not None
    copy_["properties"]["n"]["type"] = "string"
    assert flow.input_json_schema == Order.model_json_schema()
    assert pickle.loads(pickle.dumps(held)) == held
    assert copy.deepcopy(flow) == flow
    assert hash(JSONSchema(dumped(Order))) == hash(held)


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ({"type": "array", "items": {"type": "integer"}}, "must describe an object"),
        ({"properties": {"n": {"type": "integer"}}}, "must describe an object"),
        ({"type": "objekt"}, "not a valid JSON Schema at 'type'"),
        ({"type": "object", "required": "n"}, "not a valid JSON Schema at 'required'"),
        ({"type": "object", "properties": {"n": {"minimum": "zero"}}}, "not a valid JSON"),
        ({"type": "object", "default": float("nan")}, "is not JSON"),
        ({"type": "object", 1: "x"}, "is not JSON"),
        ({"$ref": "#/$defs/Missing"}, "has a $ref that cannot be resolved: '#/$defs/Missing'"),
        (
            {"type": "object", "properties": {"n": {"$ref": "https://example.com/n.json"}}},
            "cannot be resolved: 'https://example.com/n.json'",
        ),
        ({"type": "object", "properties": {"n": {"$ref": "#/$defs/N"}}}, "cannot be resolved"),
        (5, "must be a pydantic model class or a JSON Schema object"),
        ("object", "must be a pydantic model class or a JSON Schema object"),
    ],
)
@pytest.mark.parametrize("field", ["input_schema", "output_schema"])
def test_malformed_schemas_are_definition_errors(field: str, schema: Any, says: str) -> None:
    with pytest.raises(FlowDefinitionError) as caught:
        Flow("f", [Step(tool="double")], **{field: schema})
    assert says in caught.value.message
    assert caught.value.message.startswith(field)
    assert caught.value.hint


def test_a_recursive_models_schema_is_accepted() -> None:
    class Node(BaseModel):
        n: int
        kids: list[Node] = []

    flow = Flow("f", [Step(tool="double")], input_schema=dumped(Node))
    assert (
        flow.definition_digest
        == Flow("f", [Step(tool="double")], input_schema=Node).definition_digest
    )


def test_importing_dagwright_does_not_load_jsonschema() -> None:
    code = "import sys, dagwright; print('jsonschema' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------
# Diagnostics


class NumIn(BaseModel):
    n: int


class MissingOut(BaseModel):
    missing: int


@pytest.mark.parametrize(
    ("flow_of", "code"),
    [
        (lambda s: Flow("f", [Step(tool="increment")], input_schema=s(NumIn)), "DW203"),
        (lambda s: Flow("f", [Step(tool="double")], output_schema=s(MissingOut)), "DW209"),
        (
            lambda s: Flow(
                "f",
                [Step(tool="double"), Step(tool="shout", inputs={"text": Literal("x")})],
                output_schema=s(Txt),
            ),
            "DW303",
        ),
        (lambda s: Flow("f", [Step(tool="shout")], input_schema=s(NumIn)), "DW203"),
        (
            lambda s: Flow(
                "f", [Step(tool="double"), Step(tool="increment")], input_schema=s(NumIn)
            ),
            "DW301",
        ),
    ],
)
def test_the_dict_form_gives_the_same_diagnostics(flow_of: Any, code: str) -> None:
    tools = [double, increment, shout]
    as_model = messages(flow_of(lambda m: m), tools)
    as_dict = messages(flow_of(dumped), tools)
    assert code in [c for c, *_ in as_model]
    assert as_dict == as_model


def test_an_untitled_schema_is_called_by_its_field() -> None:
    untitled = {k: v for k, v in dumped(NumIn).items() if k != "title"}
    found = messages(Flow("f", [Step(tool="increment")], input_schema=untitled), [increment])
    (dw203,) = [m for m in found if m[0] == "DW203"]
    assert "no ancestor writes and input_schema lacks" in dw203[1]
    assert dw203[3] is not None and "add 'result' to input_schema," in dw203[3]
    untitled_out = {k: v for k, v in dumped(MissingOut).items() if k != "title"}
    found = messages(Flow("f", [Step(tool="double")], output_schema=untitled_out), [double])
    (dw209,) = [m for m in found if m[0] == "DW209"]
    assert dw209[1].startswith("output_schema field 'missing'")
    titled = {**untitled_out, "title": "Report"}
    found = messages(Flow("f", [Step(tool="double")], output_schema=titled), [double])
    assert next(m for m in found if m[0] == "DW209")[1].startswith("output_schema Report field")


def test_a_type_mismatch_through_the_input_schema_is_reported_alike() -> None:
    class TextIn(BaseModel):
        n: str

    flow_of = lambda s: Flow("f", [Step(tool="double")], input_schema=s)  # noqa: E731
    as_model = messages(flow_of(TextIn), [double])
    assert "DW202" in [c for c, *_ in as_model]
    assert messages(flow_of(dumped(TextIn)), [double]) == as_model


@pytest.mark.parametrize("form", ["model", "dict"])
def test_sub_flow_interfaces_are_the_same(form: str) -> None:
    def sub(schema_in: Any, schema_out: Any) -> Flow:
        return Flow("sub", [Step(tool="double")], input_schema=schema_in, output_schema=schema_out)

    registry = FlowRegistry()
    registry.register(sub(NumIn, Res) if form == "model" else sub(dumped(NumIn), dumped(Res)))
    outer = Flow("outer", [Step(flow="sub")])
    compiled = compile_flow(outer, tools=[double], registry=registry)
    interface = compiled.subflows["sub"].interface
    reference = compile_flow(sub(NumIn, Res), tools=[double]).interface
    assert interface == reference
    assert compiled.required_inputs == ("n",)


# ---------------------------------------------------------------------------------------
# Runs


@pytest.mark.parametrize(
    "inputs",
    [
        {"n": 1},
        {"n": 2, "rate": 2},
        {"n": 3, "tags": ["a", "b"], "items": [{"name": "x"}, {"name": "y", "qty": 5}]},
        {"n": 4, "gift": {"name": "g"}, "extra": "dropped"},
        {"n": 5, "gift": None, "rate": 1.25},
    ],
)
def test_runs_give_the_same_results_with_either_form(lane: Lane, inputs: dict[str, Any]) -> None:
    results = []
    for schema in both(Order):
        flow = Flow("f", [Step(tool="total")], input_schema=schema)
        with FlowExecutor([total]) as ex:
            results.append(lane(ex, flow, inputs))
    model_run, dict_run = results
    assert dict_run.success and model_run.success
    assert dict_run.output == model_run.output
    assert dict_run.digest == model_run.digest
    assert [r.inputs for r in dict_run.steps] == [r.inputs for r in model_run.steps]


def test_defaults_fill_absent_properties_at_every_level(lane: Lane) -> None:
    flow = Flow("f", [Step(tool="total")], input_schema=dumped(Order))
    with FlowExecutor([total]) as ex:
        result = lane(ex, flow, {"n": 1, "items": [{"name": "a"}], "gift": {"name": "g"}})
    assert result.output["rate"] == 0.5
    assert result.output["tags"] == []
    assert result.output["items"] == [{"name": "a", "qty": 1}]
    assert result.output["gift"] == {"name": "g", "qty": 1}
    assert result.output["result"] == 1 + 5 + 0 + 1


def test_a_filled_default_is_a_copy(lane: Lane) -> None:
    flow = Flow("f", [Step(tool="total")], input_schema=dumped(Order))
    with FlowExecutor([total]) as ex:
        first = lane(ex, flow, {"n": 1})
        first.output["tags"].append("mutated")
        second = lane(ex, flow, {"n": 1})
    assert second.output["tags"] == []
    assert flow.input_json_schema == Order.model_json_schema()


def test_an_integer_for_a_number_becomes_a_float_as_pydantic_makes_it(lane: Lane) -> None:
    flow = Flow("f", [Step(tool="total")], input_schema=dumped(Order))
    with FlowExecutor([total]) as ex:
        result = lane(ex, flow, {"n": 1, "rate": 2})
    assert type(result.output["rate"]) is float


def test_schema_errors_have_the_shape_of_model_errors(lane: Lane) -> None:
    bad = {"rate": "fast", "items": [{"qty": 2}]}
    caught = []
    for schema in both(Order):
        flow = Flow("f", [Step(tool="total")], input_schema=schema)
        with FlowExecutor([total]) as ex, pytest.raises(FlowInputError) as info:
            lane(ex, flow, bad)
        caught.append(info.value)
    as_model, as_dict = caught
    assert sorted(as_dict.missing) == sorted(as_model.missing) == ["items.0.name", "n"]
    assert as_dict.code == as_model.code
    assert sorted(tuple(e["loc"]) for e in as_dict.errors) == sorted(
        tuple(e["loc"]) for e in as_model.errors
    )
    for error in as_dict.errors:
        assert {"type", "loc", "msg", "input"} <= set(error)

    def missing_inputs(error: FlowInputError) -> dict[tuple[Any, ...], Any]:
        return {tuple(e["loc"]): e["input"] for e in error.errors if e["type"] == "missing"}

    assert missing_inputs(as_dict) == missing_inputs(as_model)
    assert "do not match Order: 3 error(s)" in as_dict.message
    assert "n: Field required" in as_dict.message
    assert "rate: 'fast' is not of type 'number'" in as_dict.message


def test_json_schema_does_not_coerce_where_pydantic_would(lane: Lane) -> None:
    for schema, fails in ((NumIn, False), (dumped(NumIn), True)):
        flow = Flow("f", [Step(tool="double")], input_schema=schema)
        with FlowExecutor([double]) as ex:
            if fails:
                with pytest.raises(FlowInputError, match="'5' is not of type 'integer'"):
                    lane(ex, flow, {"n": "5"})
            else:
                assert lane(ex, flow, {"n": "5"}).output["result"] == 10


def test_one_executor_keeps_the_two_forms_apart(lane: Lane) -> None:
    with FlowExecutor([double]) as ex:
        lax = Flow("f", [Step(tool="double")], input_schema=NumIn)
        assert lane(ex, lax, {"n": "5"}).output["result"] == 10
        strict = Flow("f", [Step(tool="double")], input_schema=dumped(NumIn))
        assert strict.definition_digest == lax.definition_digest
        with pytest.raises(FlowInputError):
            lane(ex, strict, {"n": "5"})


def test_refs_and_hand_written_schemas_validate(lane: Lane) -> None:
    schema = {
        "type": "object",
        "$defs": {"Pos": {"type": "integer", "minimum": 1}},
        "properties": {"n": {"$ref": "#/$defs/Pos"}, "note": {"type": "string", "default": "-"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    flow = Flow("f", [Step(tool="double")], input_schema=schema)
    with FlowExecutor([double]) as ex:
        assert lane(ex, flow, {"n": 2}).output == {"n": 2, "note": "-", "result": 4}
        with pytest.raises(FlowInputError, match="0 is less than the minimum of 1"):
            lane(ex, flow, {"n": 0})
        with pytest.raises(FlowInputError, match="Additional properties are not allowed"):
            lane(ex, flow, {"n": 1, "x": 1})


def test_declared_extra_keys_are_kept(lane: Lane) -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "additionalProperties": True,
    }
    flow = Flow("f", [Step(tool="double")], input_schema=schema)
    with FlowExecutor([double]) as ex:
        assert lane(ex, flow, {"n": 2, "x": [1]}).output == {"n": 2, "x": [1], "result": 4}


def test_the_validator_is_compiled_once_per_schema() -> None:
    flow = Flow("f", [Step(tool="double")], input_schema=dumped(NumIn))
    held = flow.input_schema
    assert isinstance(held, JSONSchema)
    with FlowExecutor([double]) as ex:
        ex.run(flow, {"n": 1})
        validator = held.validator()
        ex.run(flow, {"n": 2})
    assert held.validator() is validator


@pytest.mark.parametrize("form", ["model", "dict"])
def test_sub_flow_outputs_follow_the_output_schema(lane: Lane, form: str) -> None:
    class Both(BaseModel):
        n: int
        result: int

    schema: Any = Both if form == "model" else dumped(Both)
    registry = FlowRegistry()
    registry.register(Flow("sub", [Step(tool="double")], output_schema=schema))
    outer = DAGFlow("outer", [Step(id="call", flow="sub", inputs={"n": "start"})])
    with FlowExecutor([double], registry=registry) as ex:
        result = lane(ex, outer, {"start": 4})
    assert result.success
    assert result.output == {"start": 4, "n": 4, "result": 8}


# ---------------------------------------------------------------------------------------
# Property: a random simple model and its JSON Schema run alike


class Inner(BaseModel):
    a: int
    b: str = "x"
    c: float = 1


_INNER = st.fixed_dictionaries(
    {"a": st.integers(-5, 5)},
    optional={
        "b": st.text(max_size=3),
        "c": st.integers(-3, 3) | st.floats(-1, 1),
        "zz": st.none(),
    },
)

_FIELD_TYPES: dict[str, tuple[Any, st.SearchStrategy[Any]]] = {
    "nested": (Inner, _INNER),
    "nested_list": (list[Inner], st.lists(_INNER, max_size=3)),
    "nested_optional": (Inner | None, st.none() | _INNER),
    "map": (dict[str, float], st.dictionaries(st.text(max_size=2), st.integers(-3, 3), max_size=2)),
    "int": (int, st.integers(-(10**6), 10**6)),
    "str": (str, st.text(max_size=5)),
    "float": (float, st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-100, 100)),
    "bool": (bool, st.booleans()),
    "list": (list[int], st.lists(st.integers(-5, 5), max_size=3)),
    "optional": (int | None, st.none() | st.integers(-5, 5)),
}


def _as_default(kind: str, value: Any) -> Any:
    """A default as a model author writes it: nested models as instances, not dicts."""
    if kind in ("nested", "nested_optional") and value is not None:
        return Inner.model_validate(value)
    if kind == "nested_list":
        return [Inner.model_validate(v) for v in value]
    return value


@st.composite
def models_and_inputs(draw: st.DrawFn) -> tuple[type[BaseModel], dict[str, Any]]:
    kinds = draw(st.lists(st.sampled_from(sorted(_FIELD_TYPES)), min_size=1, max_size=5))
    fields: dict[str, Any] = {}
    inputs: dict[str, Any] = {}
    for i, kind in enumerate(kinds):
        annotation, values = _FIELD_TYPES[kind]
        name = f"f{i}"
        if draw(st.booleans()):
            default = _as_default(kind, draw(values))
            fields[name] = (annotation, default)
            if draw(st.booleans()):
                inputs[name] = draw(values)
        else:
            fields[name] = (annotation, ...)
            inputs[name] = draw(values)
    model = create_model("Random", **fields)
    return model, inputs


@tool
def count_keys(f0: Any = None) -> Result:
    """Read the first field when there is one."""
    return Result(result=len(json.dumps(f0)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models_and_inputs())
def test_a_model_and_its_json_schema_run_alike(
    case: tuple[type[BaseModel], dict[str, Any]],
) -> None:
    model, inputs = case
    with FlowExecutor([count_keys]) as ex:
        runs = [
            ex.run(Flow("p", [Step(tool="count_keys")], input_schema=schema), inputs)
            for schema in both(model)
        ]
    assert runs[0].output == runs[1].output
    assert json.dumps(runs[0].output, sort_keys=True) == json.dumps(runs[1].output, sort_keys=True)
    assert runs[0].digest == runs[1].digest


def test_a_flow_file_and_the_python_flow_it_was_dumped_from_run_alike(lane: Lane) -> None:
    from dagwright import dump_flow, load_flow

    python_flow = Flow("f", [Step(tool="total")], input_schema=Order, output_schema=Res)
    text = dump_flow(python_flow)
    from_file = load_flow(text)
    assert isinstance(from_file.input_schema, JSONSchema)
    assert from_file.definition_digest == python_flow.definition_digest
    assert load_flow(dump_flow(from_file)).definition_digest == python_flow.definition_digest
    with FlowExecutor([total]) as ex:
        a = lane(ex, python_flow, {"n": 2, "items": [{"name": "x"}]})
        b = lane(ex, from_file, {"n": 2, "items": [{"name": "x"}]})
    assert a.output == b.output
    assert a.digest == b.digest


def test_references_by_id_and_anchor_resolve_inside_the_document(lane: Lane) -> None:
    schema = {
        "type": "object",
        "$defs": {
            "Pos": {"$id": "urn:example:pos", "type": "integer", "minimum": 1},
            "Word": {"$anchor": "word", "type": "string", "default": "hi"},
        },
        "properties": {"n": {"$ref": "urn:example:pos"}, "text": {"$ref": "#word"}},
        "required": ["n"],
    }
    flow = Flow("f", [Step(tool="double")], input_schema=schema)
    with FlowExecutor([double]) as ex:
        assert lane(ex, flow, {"n": 2, "text": "x"}).output["result"] == 4
        with pytest.raises(FlowInputError, match="less than the minimum"):
            lane(ex, flow, {"n": 0})
        with pytest.raises(FlowInputError, match="is not of type 'string'"):
            lane(ex, flow, {"n": 1, "text": 5})


class Node(BaseModel):
    n: int
    kids: list[Node] = []


def test_a_recursive_schema_validates_and_fills_defaults_at_any_depth(lane: Lane) -> None:
    deep = {"n": 1, "kids": [{"n": 2, "kids": [{"n": 3}]}, {"n": 4}]}
    bad = {"n": 1, "kids": [{"n": 2, "kids": [{"n": "three"}]}]}
    outputs = []
    for schema in both(Node):
        flow = Flow("f", [Step(tool="double")], input_schema=schema)
        with FlowExecutor([double]) as ex:
            outputs.append(lane(ex, flow, deep).output)
            with pytest.raises(FlowInputError) as info:
                lane(ex, flow, bad)
        assert tuple(info.value.errors[0]["loc"])[:4] == ("kids", 0, "kids", 0)
    assert outputs[0] == outputs[1]
    assert outputs[1]["kids"][0]["kids"][0] == {"n": 3, "kids": []}
    assert outputs[1]["kids"][1] == {"n": 4, "kids": []}


def test_pointer_references_are_inlined_for_checking_and_others_kept() -> None:
    from dagwright._json_schema import inline_pointers

    plain = JSONSchema(dumped(Order)).checking_form()
    assert "$defs" not in plain
    assert plain["properties"]["items"]["items"]["properties"]["qty"]["default"] == 1
    assert inline_pointers(dumped(Node)) is None  # recursive: checked as written
    with_assertion = {
        "type": "object",
        "$defs": {"P": {"type": "integer"}},
        "properties": {"n": {"$ref": "#/$defs/P", "minimum": 3}},
    }
    inlined = inline_pointers(with_assertion)
    assert inlined is not None
    assert inlined["properties"]["n"] == {"minimum": 3, "allOf": [{"type": "integer"}]}


def test_an_error_about_a_huge_value_keeps_its_message_short(lane: Lane) -> None:
    flow = Flow("f", [Step(tool="double")], input_schema=dumped(NumIn))
    with FlowExecutor([double]) as ex, pytest.raises(FlowInputError) as info:
        lane(ex, flow, {"n": "x" * 100_000})
    (error,) = info.value.errors
    assert len(error["msg"]) <= 300 and error["msg"].endswith("...")
    assert error["input"] == "x" * 100_000
    assert len(info.value.message) < 1_000

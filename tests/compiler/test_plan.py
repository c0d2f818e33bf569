"""The Plan the compiler builds: order, bindings, inputs, sub-flows, maps."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from dagwright._execution.canonical import digest
from dagwright._execution.plan import FLOW, KEY, LITERAL, MAP, POINTER, TOOL, Source
from dagwright.compiler import CompiledFlow
from dagwright.compiler._reads import decode_pointer
from dagwright.flows import DAGFlow, Flow, Literal, MapStep, RetryPolicy, Step
from dagwright.registry import FlowRegistry
from dagwright.tools import ToolSpec
from tests.compiler._fixtures import TOOLS, Res, compiled, double, fetch


def _step(result: CompiledFlow, step_id: str) -> int:
    return result.canonical_order.index(step_id)


def test_canonical_order_breaks_ties_by_declaration_order() -> None:
    flow = DAGFlow(
        "f",
        [
            Step(id="c", tool="render", inputs={"n": "result"}, depends_on="a"),
            Step(id="a", tool="double"),
            Step(id="b", tool="listing"),
        ],
    )
    result = compiled(flow)
    assert result.canonical_order == ("a", "c", "b")
    plan = result.plan
    assert [s.index for s in plan.steps] == [0, 1, 2]
    assert [s.id for s in plan.steps] == ["a", "c", "b"]
    assert plan.steps[1].predecessors == (0,)
    assert plan.steps[0].successors == (1,)
    assert plan.roots == (0, 2)


def test_producers_are_ordered_latest_first() -> None:
    # The later `double` may be skipped, so the earlier one stays a producer.
    flow = Flow(
        "f",
        [
            Step(tool="double"),
            Step(tool="inc"),
            Step(tool="double", on_error="skip"),
            Step(tool="inc"),
        ],
        on_context_collision="overwrite",
    )
    result = compiled(flow)
    assert result.canonical_order == ("double", "inc", "double-2", "inc-2")
    (binding,) = result.plan.steps[3].bindings
    assert binding.source.producers == (2, 0)
    assert binding.source.key == "result"
    # `n` is read by the first step before anything writes it: a flow input, which a
    # later reader may fall back to when its producers wrote nothing.
    (later_n,) = result.plan.steps[2].bindings
    assert later_n.source == Source(KEY, "n", producers=(1,), from_input=True)


def test_inputs_without_an_input_schema() -> None:
    result = compiled(Flow("f", [Step(tool="render"), Step(tool="listing", when="go")]))
    assert result.required_inputs == ("go", "n")
    assert result.optional_inputs == ("prefix",)
    assert result.plan.required_inputs == ("go", "n")
    assert result.plan.optional_inputs == ("prefix",)
    prefix = result.plan.steps[0].bindings[1]
    assert (prefix.field, prefix.required) == ("prefix", False)
    assert prefix.source == Source(KEY, "prefix", from_input=True)
    (name, when_source) = result.plan.steps[1].when_sources[0]
    assert name == "go"
    assert when_source == Source(KEY, "go", from_input=True)


def test_an_explicit_mapping_of_a_required_field_makes_a_required_input() -> None:
    result = compiled(Flow("f", [Step(tool="render", inputs={"n": "count", "prefix": "p"})]))
    assert result.required_inputs == ("count",)
    assert result.optional_inputs == ("p",)


def test_inputs_with_an_input_schema() -> None:
    class In(BaseModel):
        n: int
        prefix: str = ""
        extra: int = 0

    result = compiled(Flow("f", [Step(tool="render")], input_schema=In))
    assert result.required_inputs == ("n",)
    assert result.optional_inputs == ("extra", "prefix")
    assert result.plan.input_schema is In


def test_an_optional_field_with_nothing_to_read_is_not_bound_under_a_schema() -> None:
    class In(BaseModel):
        n: int

    result = compiled(Flow("f", [Step(tool="render")], input_schema=In))
    assert [b.field for b in result.plan.steps[0].bindings] == ["n"]


def test_a_step_may_read_and_rewrite_a_flow_input() -> None:
    result = compiled(Flow("f", [Step(tool="inc")]))
    assert result.required_inputs == ("result",)


def test_pointer_sources_are_decoded() -> None:
    assert decode_pointer("/doc/a~1b/c~0d") == ("doc", ("a/b", "c~d"))
    assert decode_pointer("/doc") == ("doc", ())
    assert decode_pointer("/doc//x") == ("doc", ("", "x"))
    assert decode_pointer("/") is None
    assert decode_pointer("/a~") is None
    result = compiled(
        Flow("f", [Step(tool="load"), Step(tool="shout", inputs={"text": "/doc/title"})])
    )
    (binding,) = result.plan.steps[1].bindings
    assert binding.source == Source(POINTER, "doc", ("title",), producers=(0,))


def test_literals_are_bound_as_constants() -> None:
    result = compiled(Flow("f", [Step(tool="render", inputs={"prefix": Literal("#")})]))
    prefix = result.plan.steps[0].bindings[1]
    assert prefix.source == Source(LITERAL, value="#")


def test_unmapped_fields_read_the_key_of_the_same_name() -> None:
    result = compiled(Flow("f", [Step(tool="double"), Step(tool="inc")]))
    (binding,) = result.plan.steps[1].bindings
    assert binding.field == "result"
    assert binding.source == Source(KEY, "result", producers=(0,))
    assert binding.required


def test_linear_ids_default_to_the_target_with_suffixes() -> None:
    flow = Flow(
        "f",
        [
            Step(tool="double"),
            Step(tool="double"),
            Step(id="double-3", tool="inc"),
            Step(tool="double"),
        ],
        on_context_collision="overwrite",
    )
    assert compiled(flow).canonical_order == ("double", "double-2", "double-3", "double-4")


def test_explicit_depends_on_gives_skip_sources_the_implicit_edge_does_not() -> None:
    flow = Flow(
        "f",
        [Step(tool="double"), Step(tool="listing"), Step(tool="inc", depends_on="double")],
    )
    plan = compiled(flow).plan
    assert plan.steps[1].predecessors == (0,)
    assert plan.steps[1].skip_sources == ()
    assert plan.steps[2].predecessors == (0, 1)
    assert plan.steps[2].skip_sources == (0,)


def test_writes_follow_outputs() -> None:
    plan = compiled(Flow("f", [Step(tool="double", outputs={"doubled": "result"})])).plan
    assert plan.steps[0].writes == (("doubled", "result"),)
    assert plan.written_keys == frozenset({"doubled"})
    assert plan.output_keys == ("doubled",)


def test_step_settings_are_carried() -> None:
    retry = RetryPolicy(max_attempts=2)
    flow = Flow(
        "f",
        [
            Step(tool="fetch", inputs={"url": "u"}, retry=retry),
            Step(
                tool="double", inputs={"n": Literal(1)}, timeout_s=2.0, on_error="fallback:backup"
            ),
            Step(tool="listing", inputs={"n": Literal(1)}, on_error="skip", when="text != ''"),
        ],
        on_context_collision="error",
    )
    plan = compiled(flow).plan
    first, second, third = plan.steps
    assert (first.kind, first.retry, first.timeout_s) == (TOOL, retry, 5.0)
    assert (second.timeout_s, second.on_error, second.fallback) == (2.0, "fallback", "backup")
    assert (third.on_error, third.fallback) == ("skip", None)
    assert third.when is not None and third.when.names == ("text",)
    assert third.when_sources == (("text", Source(KEY, "text", producers=(0,))),)
    assert plan.collision_policy == "error"


def test_map_step_plan() -> None:
    flow = Flow(
        "f",
        [
            Step(tool="listing"),
            MapStep(
                id="pages",
                over="items",
                tool="fetch",
                item="url",
                inputs={"retries": Literal(2)},
                results="pages",
                errors="failures",
                max_concurrency=3,
                error_policy="collect",
            ),
            Step(tool="shout", inputs={"text": "/pages/0/text"}),
        ],
    )
    result = compiled(flow)
    step = result.plan.steps[1]
    assert step.kind == MAP
    assert step.target == "fetch"
    assert step.over == Source(KEY, "items", producers=(0,))
    assert (step.item, step.results_key, step.errors_key) == ("url", "pages", "failures")
    assert (step.max_concurrency, step.error_policy) == (3, "collect")
    assert step.writes == ()
    assert [b.field for b in step.bindings] == ["retries"]
    assert result.plan.written_keys == frozenset({"items", "pages", "failures", "text"})
    assert result.plan.steps[2].bindings[0].source.producers == (1,)


def test_sub_flow_plans_nest_and_expose_their_interface() -> None:
    class SubIn(BaseModel):
        n: int

    sub = Flow("sub", [Step(tool="double"), Step(tool="inc")], description="Inner.")
    typed = Flow(
        "typed", [Step(tool="double")], input_schema=SubIn, output_schema=Res, description="T."
    )
    registry = FlowRegistry([sub, typed])
    flow = Flow(
        "outer",
        [
            Step(flow="sub", inputs={"n": Literal(3)}),
            Step(tool="render"),
            Step(flow="typed", outputs={"final": "result"}),
        ],
        on_context_collision="overwrite",
    )
    result = compiled(flow, registry=registry)
    first, second, third = result.plan.steps
    assert first.kind == FLOW and first.calls_flow
    assert first.subplan is result.subflows["sub"].plan
    assert first.subplan.flow_name == "sub"
    # Without an output schema a sub-flow returns every key its steps write.
    assert first.writes == (("result", "result"), ("n", "n"))
    assert second.bindings[0].source.producers == (0,)
    assert third.writes == (("final", "result"),)
    assert third.bindings[0].required
    assert result.subflows["typed"].interface.outputs["result"].schema["type"] == "integer"
    assert result.digest == result.plan.digest


def test_map_over_a_sub_flow() -> None:
    sub = Flow("sub", [Step(tool="double")], description="Inner.")
    flow = Flow(
        "outer",
        [
            Step(tool="listing", inputs={"n": Literal(3)}),
            MapStep(id="m", over="nums", flow="sub", item="n", results="out"),
        ],
    )
    result = compiled(flow, registry=FlowRegistry([sub]))
    step = result.plan.steps[1]
    assert step.kind == MAP and step.subplan is result.subflows["sub"].plan
    assert result.required_inputs == ("nums",)


def test_the_digest_covers_definition_tools_and_sub_flows() -> None:
    flow = Flow("f", [Step(tool="double")], description="D.")
    result = compiled(flow)
    expected = digest(
        {"flow": flow.definition(), "tools": {"double": double.schema_hash}, "subflows": {}}
    )
    assert result.digest == expected
    other = ToolSpec(
        name="double",
        version="2",
        input_json_schema=double.spec.input_json_schema,
        output_json_schema=double.spec.output_json_schema,
    )
    assert compiled(flow, [other]).digest != expected


def test_tools_may_be_given_as_a_mapping() -> None:
    result = compiled(Flow("f", [Step(tool="get", inputs={"url": "u"})]), {"get": fetch})
    assert result.plan.steps[0].target == "get"
    assert result.plan.steps[0].timeout_s == 5.0


def test_output_keys_follow_the_output_schema() -> None:
    result = compiled(Flow("f", [Step(tool="double")], output_schema=Res))
    assert result.plan.output_keys == ("result",)
    assert result.plan.output_schema is Res


def test_compiling_from_specs_needs_no_callables() -> None:
    specs = [t.spec for t in TOOLS]
    result = compiled(Flow("f", [Step(tool="double"), Step(tool="inc")]), specs)
    assert result.plan.steps[1].bindings[0].source.producers == (0,)


def test_a_sub_flow_without_schemas_exposes_its_inputs_and_written_keys() -> None:
    sub = Flow("sub", [Step(tool="render"), Step(tool="shout")], description="Inner.")
    registry = FlowRegistry([sub])
    outer = Flow("outer", [Step(tool="double"), Step(flow="sub", inputs={"n": "result"})])
    result = compiled(outer, registry=registry)
    inner = result.subflows["sub"]
    assert (inner.required_inputs, inner.optional_inputs) == (("n",), ("prefix",))
    assert list(inner.interface.inputs) == ["n", "prefix"]
    assert list(inner.interface.outputs) == ["text"]
    call = result.plan.steps[1]
    assert [(b.field, b.required) for b in call.bindings] == [("n", True), ("prefix", False)]
    assert call.bindings[0].source.producers == (0,)
    assert call.writes == (("text", "text"),)
    assert result.optional_inputs == ("prefix",)


@pytest.mark.parametrize(
    ("later", "producers"),
    [
        ({}, (2,)),
        ({"on_error": "skip"}, (2, 0)),
        ({"when": "n > 0"}, (2, 0)),
        ({"id": "d", "depends_on": "inc"}, (2, 0)),
        ({"tool": None, "flow": "sub"}, (2, 0)),
    ],
)
def test_producers_stop_at_a_writer_that_always_writes(
    later: dict[str, Any], producers: tuple[int, ...]
) -> None:
    fields: dict[str, Any] = {"tool": "double", **later}
    flow = Flow(
        "f",
        [Step(tool="double"), Step(tool="inc"), Step.model_validate(fields), Step(tool="inc")],
        on_context_collision="overwrite",
    )
    sub = Flow("sub", [Step(tool="double")], description="Doubles n.")
    result = compiled(flow, registry=FlowRegistry([sub]))
    (binding,) = result.plan.steps[3].bindings
    assert binding.source.producers == producers

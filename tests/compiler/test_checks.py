"""Every diagnostic code: a flow that triggers it and a near miss that does not."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from pydantic import BaseModel

from dagwright.compiler import CODES, CompiledFlow, Diagnostic, clear_cache, compile_flow
from dagwright.errors import FlowCompileError
from dagwright.flows import DAGFlow, Flow, Literal, MapStep, RetryPolicy, Step
from dagwright.registry import FlowRegistry
from dagwright.tools import Tool
from tests.compiler._fixtures import TOOLS, Res, Txt, charge, codes, compiled, fetch, findings, the


class NumIn(BaseModel):
    n: int


class TextIn(BaseModel):
    n: str


class MissingOut(BaseModel):
    missing: int


SUB = Flow("sub", [Step(tool="double")], description="Doubles n.")
LOOP = Flow("loop", [Step(flow="loop")], description="Calls itself.")
PING = Flow("ping", [Step(flow="pong")], description="Calls pong.")
PONG = Flow("pong", [Step(flow="ping")], description="Calls ping.")
REGISTRY = FlowRegistry([SUB, LOOP, PING, PONG])
# "aged" has a retired version 1, a deprecated 2 and an active 3.
for _version, _status in (("1", "retired"), ("2", "deprecated"), ("3", "active")):
    REGISTRY.register(
        Flow("aged", [Step(tool="double")], version=_version, description="Doubles n."),
        status=_status,
    )


RESULT: dict[str, str | Literal] = {"score": "result"}


@dataclass(frozen=True)
class Case:
    code: str
    severity: str
    step_id: str | None
    trigger: Flow
    near_miss: Flow
    registry: FlowRegistry | None = None
    says: str = ""


def _map(**overrides: object) -> MapStep:
    fields: dict[str, object] = {
        "id": "m",
        "over": "items",
        "tool": "shout",
        "item": "text",
        "results": "out",
    }
    fields.update(overrides)
    return MapStep.model_validate(fields)


CASES = [
    Case(
        "DW101",
        "error",
        "a",
        DAGFlow("f", [Step(id="a", tool="double"), Step(id="a", tool="bare", depends_on="a")]),
        DAGFlow("f", [Step(id="a", tool="double"), Step(id="b", tool="bare", depends_on="a")]),
        says="'a'",
    ),
    Case(
        "DW102",
        "error",
        "b",
        DAGFlow("f", [Step(id="a", tool="double"), Step(id="b", tool="inc", depends_on="x")]),
        DAGFlow("f", [Step(id="a", tool="double"), Step(id="b", tool="inc", depends_on="a")]),
        says="unknown step 'x'",
    ),
    Case(
        "DW103",
        "error",
        "a",
        DAGFlow(
            "f",
            [Step(id="a", tool="double", depends_on="b"), Step(id="b", tool="inc", depends_on="a")],
        ),
        DAGFlow("f", [Step(id="a", tool="double"), Step(id="b", tool="inc", depends_on="a")]),
        says="a -> b -> a",
    ),
    Case(
        "DW104",
        "error",
        "nope",
        Flow("f", [Step(tool="nope")]),
        Flow("f", [Step(tool="double")]),
        says="'nope'",
    ),
    Case(
        "DW105",
        "error",
        "missing",
        Flow("f", [Step(flow="missing")]),
        Flow("f", [Step(flow="sub")]),
        registry=REGISTRY,
        says="'missing'",
    ),
    Case(
        "DW106",
        "error",
        "s",
        DAGFlow("f", [Step(id="s")]),
        DAGFlow("f", [Step(id="s", tool="double")]),
        says="neither",
    ),
    Case(
        "DW107",
        "error",
        "m",
        Flow("f", [Step(tool="listing"), _map(max_concurrency=0)]),
        Flow("f", [Step(tool="listing"), _map(max_concurrency=1)]),
        says="got 0",
    ),
    Case(
        "DW108",
        "error",
        "loop",
        LOOP,
        Flow("caller", [Step(flow="sub")]),
        registry=REGISTRY,
        says="loop -> loop",
    ),
    Case(
        "DW109",
        "error",
        "<step 1>",
        DAGFlow("f", [Step(tool="double")]),
        DAGFlow("f", [Step(id="d", tool="double")]),
        says="needs one",
    ),
    Case(
        "DW110",
        "error",
        "double",
        Flow("f", [Step(tool="double", when="n >")]),
        Flow("f", [Step(tool="double", when="n > 1")]),
        says="offset",
    ),
    Case(
        "DW111",
        "error",
        "sub",
        Flow("f", [Step(flow="sub", on_error="fallback:backup")]),
        Flow("f", [Step(flow="sub", on_error="skip")]),
        registry=REGISTRY,
        says="fallback only applies to tool steps",
    ),
    Case(
        "DW112",
        "error",
        "m",
        Flow("f", [Step(tool="listing"), _map(results="r", errors="r")]),
        Flow("f", [Step(tool="listing"), _map(results="r", errors="r_errors")]),
        says="both write key 'r'",
    ),
    Case(
        "DW113",
        "error",
        "aged",
        Flow("f", [Step(flow="aged@1")]),
        Flow("f", [Step(flow="aged@3")]),
        registry=REGISTRY,
        says="'aged' version '1', which is retired",
    ),
    Case(
        "DW201",
        "error",
        "b",
        DAGFlow("f", [Step(id="a", tool="double"), Step(id="b", tool="rate", inputs=RESULT)]),
        DAGFlow(
            "f",
            [Step(id="a", tool="double"), Step(id="b", tool="rate", inputs=RESULT, depends_on="a")],
        ),
        says="'result'",
    ),
    Case(
        "DW202",
        "error",
        "shout",
        Flow("f", [Step(tool="double"), Step(tool="shout", inputs={"text": "result"})]),
        Flow("f", [Step(tool="double"), Step(tool="render", inputs={"n": "result"})]),
        says="expects string",
    ),
    Case(
        "DW203",
        "error",
        "inc",
        Flow("f", [Step(tool="inc")], input_schema=NumIn),
        Flow("f", [Step(tool="double")], input_schema=NumIn),
        says="'result'",
    ),
    Case(
        "DW204",
        "error",
        "double",
        Flow("f", [Step(tool="double", outputs={"x": "nope"})]),
        Flow("f", [Step(tool="double", outputs={"x": "result"})]),
        says="'nope'",
    ),
    Case(
        "DW205",
        "error",
        "double",
        Flow("f", [Step(tool="double", inputs={"m": "n"})]),
        Flow("f", [Step(tool="double", inputs={"n": "m"})]),
        says="'m'",
    ),
    Case(
        "DW206",
        "error",
        "m",
        Flow("f", [Step(tool="double"), _map(over="result")]),
        Flow("f", [Step(tool="listing"), _map(over="items")]),
        says="integer",
    ),
    Case(
        "DW207",
        "error",
        "m",
        Flow("f", [Step(tool="listing"), _map(item="nope")]),
        Flow("f", [Step(tool="listing"), _map(item="text")]),
        says="'nope'",
    ),
    Case(
        "DW208",
        "error",
        "shout",
        Flow("f", [Step(tool="shout", inputs={"text": "/"})]),
        Flow("f", [Step(tool="load"), Step(tool="shout", inputs={"text": "/doc/title"})]),
        says="'/'",
    ),
    Case(
        "DW209",
        "error",
        None,
        Flow("f", [Step(tool="double")], output_schema=MissingOut),
        Flow("f", [Step(tool="double")], output_schema=Res),
        says="'missing'",
    ),
    Case(
        "DW301",
        "warning",
        "double-2",
        Flow("f", [Step(tool="double"), Step(tool="double")]),
        Flow("f", [Step(tool="double"), Step(tool="double")], on_context_collision="overwrite"),
        says="'result'",
    ),
    Case(
        "DW302",
        "error",
        "b",
        DAGFlow("f", [Step(id="a", tool="double"), Step(id="b", tool="double")]),
        DAGFlow("f", [Step(id="a", tool="double"), Step(id="b", tool="double", depends_on="a")]),
        says="'a' and 'b'",
    ),
    Case(
        "DW303",
        "warning",
        "double",
        Flow(
            "f",
            [Step(tool="double"), Step(tool="shout", inputs={"text": Literal("x")})],
            output_schema=Txt,
        ),
        Flow("f", [Step(tool="double"), Step(tool="shout", inputs={"text": Literal("x")})]),
        says="'result'",
    ),
    Case(
        "DW401",
        "warning",
        "double",
        Flow("f", [Step(tool="double", when="False")]),
        Flow("f", [Step(tool="double", when="True")]),
        says="always false",
    ),
    Case(
        "DW402",
        "warning",
        "charge",
        Flow("f", [Step(tool="charge", retry=RetryPolicy(max_attempts=3))]),
        Flow("f", [Step(tool="double", retry=RetryPolicy(max_attempts=3))]),
        says="idempotent=False",
    ),
    Case(
        "DW407",
        "warning",
        "double",
        Flow("f", [Step(tool="double", on_interrupted="retry")]),
        Flow("f", [Step(tool="charge", on_interrupted="retry")]),
        says="'double' is idempotent",
    ),
    Case(
        "DW403",
        "warning",
        "bare",
        Flow("f", [Step(tool="bare")]),
        Flow("f", [Step(tool="double")]),
        says="'bare'",
    ),
    Case(
        "DW404",
        "info",
        None,
        Flow("f", [Step(tool="double")]),
        Flow("f", [Step(tool="double")], description="Doubles."),
        says="'f'",
    ),
    Case(
        "DW405",
        "warning",
        "m",
        Flow("f", [Step(tool="listing"), _map(over="item")]),
        Flow("f", [Step(tool="listing"), _map(over="items")]),
        says="did you mean `items`?",
    ),
    Case(
        "DW406",
        "warning",
        "aged",
        Flow("f", [Step(flow="aged@2")]),
        Flow("f", [Step(flow="aged")]),
        registry=REGISTRY,
        says="'aged' version '2', which is deprecated",
    ),
]


def test_every_code_has_a_case() -> None:
    assert sorted(c.code for c in CASES) == sorted(CODES)


@pytest.mark.parametrize("case", CASES, ids=[c.code for c in CASES])
def test_the_code_is_reported(case: Case) -> None:
    found = the(findings(case.trigger, registry=case.registry), case.code)
    assert found.severity == case.severity
    assert found.step_id == case.step_id
    assert case.says in found.message
    assert found.hint
    assert found.format().startswith(f"{case.code} {case.severity}")


@pytest.mark.parametrize("case", CASES, ids=[c.code for c in CASES])
def test_the_near_miss_is_not_reported(case: Case) -> None:
    assert case.code not in codes(findings(case.near_miss, registry=case.registry))


@pytest.mark.parametrize("case", CASES, ids=[c.code for c in CASES])
def test_errors_raise_and_others_do_not(case: Case) -> None:
    if case.severity == "error":
        with pytest.raises(FlowCompileError) as caught:
            compile_flow(case.trigger, TOOLS, case.registry)
        assert caught.value.flow_name == case.trigger.name
    else:
        result = compile_flow(case.trigger, TOOLS, case.registry)
        assert case.code in codes(result.diagnostics)


# ---- variants of the codes ------------------------------------------------------------


def test_self_dependency_is_a_cycle() -> None:
    found = the(findings(DAGFlow("f", [Step(id="a", tool="double", depends_on="a")])), "DW103")
    assert "a -> a" in found.message


def test_depending_on_a_later_step_in_a_linear_flow_is_a_cycle() -> None:
    flow = Flow("f", [Step(id="a", tool="double", depends_on="b"), Step(id="b", tool="inc")])
    assert "a -> b -> a" in the(findings(flow), "DW103").message


def test_a_three_step_cycle_is_reported_once_with_its_path() -> None:
    flow = DAGFlow(
        "f",
        [
            Step(id="a", tool="double", depends_on="c"),
            Step(id="b", tool="double", depends_on="a"),
            Step(id="c", tool="double", depends_on="b"),
        ],
    )
    assert "a -> c -> b -> a" in the(findings(flow), "DW103").message


def test_indirect_recursion_names_the_call_path() -> None:
    found = the(findings(PING, registry=REGISTRY), "DW108")
    assert "ping -> pong -> ping" in found.message
    assert found.step_id == "pong"
    assert "in sub-flow 'pong'" in found.message


def test_unknown_fallback_tool_is_dw104() -> None:
    flow = Flow("f", [Step(tool="double", on_error="fallback:nope")])
    assert "fallback" in the(findings(flow), "DW104").message


def test_no_registry_for_a_sub_flow_is_dw105() -> None:
    found = the(findings(Flow("f", [Step(flow="sub")])), "DW105")
    assert "no registry" in found.message


def test_both_tool_and_flow_is_dw106() -> None:
    flow = DAGFlow("f", [Step(id="s", tool="double", flow="sub")])
    assert "both" in the(findings(flow, registry=REGISTRY), "DW106").message


def test_a_boolean_max_concurrency_is_dw107() -> None:
    # Pydantic would coerce True to 1 on construction; a copy keeps the bool.
    step = _map().model_copy(update={"max_concurrency": True})
    flow = Flow("bool-limit", [Step(tool="listing"), step])
    assert "True" in the(findings(flow), "DW107").message


def test_a_fallback_lacking_an_output_field_is_dw204() -> None:
    flow = Flow("f", [Step(tool="double", on_error="fallback:partial_backup")])
    assert "'partial_backup'" in the(findings(flow), "DW204").message
    ok = Flow("f", [Step(tool="double", on_error="fallback:backup")])
    assert "DW204" not in codes(findings(ok))


def test_a_fallback_needing_an_unbound_input_is_dw205() -> None:
    flow = Flow("f", [Step(tool="render", on_error="fallback:shout")])
    assert "'text'" in the(findings(flow), "DW205").message
    ok = Flow("f", [Step(tool="render", on_error="fallback:double")])
    assert "DW205" not in codes(findings(ok))


def test_the_map_item_mapped_in_inputs_is_dw207() -> None:
    flow = Flow("f", [Step(tool="listing"), _map(inputs={"text": Literal("x")})])
    assert "also mapped" in the(findings(flow), "DW207").message


def test_map_results_or_errors_may_overwrite_the_over_list() -> None:
    for overrides in ({"results": "items"}, {"errors": "items"}):
        found = codes(findings(Flow("f", [Step(tool="listing"), _map(**overrides)])))
        assert "DW112" not in found
        assert "DW301" in found


def test_a_bad_pointer_escape_is_dw208() -> None:
    flow = Flow("f", [Step(tool="shout", inputs={"text": "/doc/a~2"})])
    assert "DW208" in codes(findings(flow))


@pytest.mark.parametrize("index", ["²", "\u0661", "1²", "\u0663\u0664"])
def test_a_non_ascii_array_index_is_dw208(index: str) -> None:
    flow = Flow("f", [Step(tool="load"), Step(tool="shout", inputs={"text": f"/doc/{index}"})])
    assert "DW208" in codes(findings(flow))


@pytest.mark.parametrize("token", ["2", "a²", "x\u0661"])
def test_ascii_indices_and_keys_with_digits_are_pointers(token: str) -> None:
    flow = Flow("f", [Step(tool="load"), Step(tool="shout", inputs={"text": f"/doc/{token}"})])
    assert "DW208" not in codes(findings(flow))


def test_when_and_over_reads_are_checked_for_ancestors() -> None:
    flow = DAGFlow(
        "f",
        [
            Step(id="a", tool="listing"),
            Step(id="b", tool="double", when="items == []"),
            MapStep(id="m", over="items", tool="shout", item="text", results="out"),
        ],
    )
    found = [d for d in findings(flow) if d.code == "DW201"]
    assert {d.step_id for d in found} == {"b", "m"}


def test_a_when_name_missing_from_the_input_schema_is_dw203() -> None:
    flow = Flow("f", [Step(tool="double", when="flag")], input_schema=NumIn)
    assert "'flag'" in the(findings(flow), "DW203").message


def test_only_later_writers_with_an_input_schema_is_dw203_not_dw201() -> None:
    flow = Flow("f", [Step(tool="inc"), Step(tool="double")], input_schema=NumIn)
    found = findings(flow)
    assert "later step" in the(found, "DW203").message
    assert "DW201" not in codes(found)


def test_an_input_schema_type_is_checked() -> None:
    flow = Flow("f", [Step(tool="double")], input_schema=TextIn)
    assert "flow inputs" in the(findings(flow), "DW202").message


def test_map_items_are_checked_against_the_item_field() -> None:
    flow = Flow(
        "f",
        [
            Step(tool="listing"),
            MapStep(id="m", over="items", tool="double", item="n", results="out"),
        ],
    )
    assert "item field 'n'" in the(findings(flow), "DW202").message


def test_pointers_are_type_checked_when_the_schema_describes_the_path() -> None:
    bad = Flow("f", [Step(tool="load"), Step(tool="shout", inputs={"text": "/doc/tags"})])
    assert "array" in the(findings(bad), "DW202").message
    unknown = Flow("f", [Step(tool="load"), Step(tool="shout", inputs={"text": "/doc/x/y"})])
    assert "DW202" not in codes(findings(unknown))


def test_integer_and_number_are_compatible_both_ways() -> None:
    flow = Flow(
        "f",
        [
            Step(tool="measure"),
            Step(tool="rate"),
            Step(tool="render", inputs={"n": "score"}),
            Step(tool="rate", inputs={"score": "result"}),
        ],
        on_context_collision="overwrite",
    )
    assert "DW202" not in codes(findings(flow))


def test_an_ordered_collision_follows_the_policy() -> None:
    steps = [Step(tool="double"), Step(tool="double")]
    assert the(findings(Flow("f", steps, on_context_collision="error")), "DW301").severity == (
        "error"
    )
    with pytest.raises(FlowCompileError):
        compile_flow(Flow("f", steps, on_context_collision="error"), TOOLS)


def test_overwriting_a_declared_input_is_an_ordered_collision() -> None:
    class ResultIn(BaseModel):
        n: int
        result: int = 0

    flow = Flow("f", [Step(tool="double")], input_schema=ResultIn)
    assert "flow input 'result'" in the(findings(flow), "DW301").message


def test_unreachable_propagates_through_depends_on_only() -> None:
    flow = DAGFlow(
        "f",
        [
            Step(id="a", tool="double", when="False"),
            Step(id="b", tool="inc", depends_on="a"),
            Step(id="c", tool="render", depends_on=["a", "d"]),
            Step(id="d", tool="measure"),
        ],
    )
    unreachable = {d.step_id for d in findings(flow) if d.code == "DW401"}
    assert unreachable == {"a", "b"}


def test_a_missing_tool_description_is_reported_once_per_tool() -> None:
    flow = Flow("f", [Step(tool="bare"), Step(tool="bare")], on_context_collision="overwrite")
    assert [d.code for d in findings(flow)].count("DW403") == 1


def test_sub_flow_errors_are_reported_in_the_caller() -> None:
    broken = Flow("broken", [Step(tool="nope")], description="Broken.")
    registry = FlowRegistry([broken])
    found = the(findings(Flow("f", [Step(flow="broken")]), registry=registry), "DW104")
    assert found.step_id == "broken"
    assert found.message.startswith("in sub-flow 'broken' at step 'nope'")


def test_an_unknown_tool_does_not_cascade_into_data_flow_errors() -> None:
    class RIn(BaseModel):
        n: int

    flow = Flow("f", [Step(tool="nope"), Step(tool="render", inputs={"n": "x"})], input_schema=RIn)
    assert codes(findings(flow)) - {"DW404"} == {"DW104"}


# ---- reporting -------------------------------------------------------------------------


def test_all_errors_are_reported_at_once() -> None:
    flow = DAGFlow(
        "f",
        [
            Step(id="a", tool="double", inputs={"m": "n"}),
            Step(id="b", tool="nope", depends_on="a"),
            Step(id="c", tool="double", depends_on="x", outputs={"r2": "result"}),
        ],
    )
    with pytest.raises(FlowCompileError) as caught:
        compile_flow(flow, TOOLS)
    assert {"DW205", "DW104", "DW102"} <= codes(caught.value.diagnostics)
    assert "3 error(s)" in str(caught.value)


def test_warnings_do_not_raise() -> None:
    result = compile_flow(Flow("f", [Step(tool="double"), Step(tool="double")]), TOOLS)
    assert [d.code for d in result.warnings] == ["DW301"]
    assert result.errors == ()
    assert "DW404" in codes(result.diagnostics)
    assert all(d.severity == "info" for d in result.diagnostics if d.code == "DW404")


def test_diagnostic_format() -> None:
    with_step = Diagnostic("DW102", "error", "depends on unknown step 'x'", "b", "fix it")
    assert (
        with_step.format() == "DW102 error [step 'b']: depends on unknown step 'x' (hint: fix it)"
    )
    assert Diagnostic("DW404", "info", "no description").format() == "DW404 info: no description"


# ---- cache -----------------------------------------------------------------------------


def test_a_cache_hit_returns_the_identical_object() -> None:
    flow = Flow("f", [Step(tool="double")], description="Doubles.")
    first = compile_flow(flow, TOOLS)
    again = compile_flow(Flow("f", [Step(tool="double")], description="Doubles."), TOOLS)
    assert again is first
    assert isinstance(first, CompiledFlow)


def test_the_cache_key_covers_tools_descriptions_and_sub_flows() -> None:
    flow = Flow("f", [Step(tool="double")], description="Doubles.")
    base = compile_flow(flow, TOOLS)
    # Only the tools the flow references count: `double` is the same as a Tool or a spec.
    assert compile_flow(flow, [t.spec for t in TOOLS]) is base
    fetching = Flow("f", [Step(tool="fetch")], description="Fetches.")
    # A ToolSpec carries no timeout, so the plan differs from the Tool's.
    assert compile_flow(fetching, [fetch.spec]) is not compile_flow(fetching, [fetch])
    charging = Flow("f", [Step(tool="charge")], description="Charges.")
    relaxed = Tool(
        name="charge",
        fn=charge.fn,
        input_schema=charge.input_schema,
        output_schema=charge.output_schema,
        description=charge.description,
        idempotent=True,
    )
    assert compile_flow(charging, [relaxed]) is not compile_flow(charging, [charge])
    assert compile_flow(flow.model_copy(update={"description": ""}), TOOLS) is not base

    caller = Flow("c", [Step(flow="sub")], description="Calls sub.")
    registry = FlowRegistry([SUB])
    first = compile_flow(caller, TOOLS, registry)
    assert compile_flow(caller, TOOLS, registry) is first
    registry.register(Flow("sub", [Step(tool="double")], version="2", description="v2"))
    assert compile_flow(caller, TOOLS, registry) is not first


def test_failures_are_not_cached_and_clear_cache_forgets() -> None:
    flow = Flow("f", [Step(tool="nope")])
    for _ in range(2):
        with pytest.raises(FlowCompileError):
            compile_flow(flow, TOOLS)
    ok = Flow("f", [Step(tool="double")], description="Doubles.")
    first = compile_flow(ok, TOOLS)
    clear_cache()
    assert compile_flow(ok, TOOLS) is not first


def test_tool_spec_only_compilation() -> None:
    flow = Flow(
        "f",
        [Step(tool="listing"), _map(tool="fetch", item="url"), Step(tool="double")],
        description="Specs only.",
    )
    specs = [t.spec for t in TOOLS]
    from_specs = compiled(flow, specs)
    from_tools = compiled(flow, TOOLS)
    assert from_specs.canonical_order == from_tools.canonical_order
    assert from_specs.plan.steps[1].bindings == from_tools.plan.steps[1].bindings
    assert from_specs.digest == from_tools.digest
    assert from_specs.plan.steps[1].timeout_s is None
    assert from_tools.plan.steps[1].timeout_s == 5.0


def test_concurrent_compilations_share_one_result() -> None:
    flow = Flow("threaded", [Step(tool="double"), Step(tool="inc")], description="T.")
    clear_cache()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: compile_flow(flow, TOOLS), range(32)))
    assert all(r is results[0] for r in results)


def test_ordered_collisions_name_the_writer_directly_overwritten() -> None:
    flow = Flow("f", [Step(tool="double"), Step(tool="double"), Step(tool="double")])
    found = [d for d in findings(flow) if d.code == "DW301"]
    assert [d.step_id for d in found] == ["double-2", "double-3"]
    assert "ancestor 'double-2' (and 1 earlier writer(s))" in found[1].message


def test_unordered_collisions_are_reported_per_later_writer() -> None:
    flow = DAGFlow("f", [Step(id=i, tool="double") for i in ("a", "b", "c")])
    found = [d for d in findings(flow) if d.code == "DW302"]
    assert [d.step_id for d in found] == ["b", "c"]
    assert "'a', 'b' and 'c'" in found[1].message


def test_a_misspelt_over_suggests_the_written_key() -> None:
    search = MapStep(id="search", over="queries", tool="shout", item="text", results="results")
    flow = Flow("f", [search, _map(id="pages", over="result", results="pages")])
    found = the(findings(flow), "DW405")
    assert found.step_id == "pages"
    assert found.message.endswith("did you mean `results`?")
    assert "'search'" in found.message
    assert "queries" in compile_flow(flow, TOOLS).required_inputs


def test_a_misspelt_when_name_suggests_the_written_key() -> None:
    flow = Flow("f", [Step(tool="measure"), Step(tool="double", when="scores > 1")])
    found = the(findings(flow), "DW405")
    assert found.step_id == "double"
    assert found.message.endswith("did you mean `score`?")

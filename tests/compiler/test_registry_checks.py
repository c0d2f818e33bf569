"""FlowRegistry.register checks flows: every check with tools, tool-free ones without."""

from __future__ import annotations

import pytest

from dagwright.errors import FlowCompileError
from dagwright.flows import DAGFlow, Flow, MapStep, Step
from dagwright.registry import FlowRegistry
from tests.compiler._fixtures import TOOLS, double


def _codes(caught: pytest.ExceptionInfo[FlowCompileError]) -> set[str]:
    return {d.code for d in caught.value.diagnostics}


BROKEN_WITHOUT_TOOLS = [
    ("DW101", DAGFlow("f", [Step(id="a", tool="x"), Step(id="a", tool="y")])),
    ("DW102", DAGFlow("f", [Step(id="a", tool="x", depends_on="nope")])),
    (
        "DW103",
        DAGFlow(
            "f", [Step(id="a", tool="x", depends_on="b"), Step(id="b", tool="y", depends_on="a")]
        ),
    ),
    (
        "DW107",
        Flow(
            "f", [MapStep(id="m", over="xs", tool="x", item="i", results="out", max_concurrency=0)]
        ),
    ),
    ("DW110", Flow("f", [Step(tool="x", when="len(n) > 1")])),
    ("DW208", Flow("f", [Step(tool="x", inputs={"n": "/a/~2"})])),
]


@pytest.mark.parametrize(
    ("code", "flow"), BROKEN_WITHOUT_TOOLS, ids=[c for c, _ in BROKEN_WITHOUT_TOOLS]
)
def test_tool_free_checks_run_without_tools(code: str, flow: Flow) -> None:
    registry = FlowRegistry()
    with pytest.raises(FlowCompileError) as caught:
        registry.register(flow)
    assert _codes(caught) == {code}
    assert flow.name not in registry


def test_without_tools_unknown_tools_and_types_are_left_to_compile_time() -> None:
    registry = FlowRegistry()
    flow = Flow("f", [Step(tool="nowhere"), Step(tool="shout", inputs={"text": "result"})])
    assert registry.register(flow) is flow
    assert registry.get("f") is flow


def test_with_tools_every_check_runs() -> None:
    registry = FlowRegistry(tools=TOOLS)
    with pytest.raises(FlowCompileError) as caught:
        registry.register(Flow("f", [Step(tool="nowhere")]))
    assert _codes(caught) == {"DW104"}
    with pytest.raises(FlowCompileError) as caught:
        registry.register(DAGFlow("g", [Step(id="a", tool="double", depends_on="b")]))
    assert "DW102" in _codes(caught)
    with pytest.raises(FlowCompileError) as caught:
        registry.register(
            Flow("h", [Step(tool="double"), Step(tool="shout", inputs={"text": "result"})])
        )
    assert _codes(caught) == {"DW202"}
    assert len(registry) == 0
    good = Flow("ok", [Step(tool="double")])
    assert registry.register(good) is good


def test_tool_specs_are_enough() -> None:
    registry = FlowRegistry(tools={"double": double.spec})
    registry.register(Flow("ok", [Step(tool="double")]))
    with pytest.raises(FlowCompileError):
        registry.register(Flow("bad", [Step(tool="shout")]))


def test_callers_may_be_registered_before_their_sub_flows() -> None:
    registry = FlowRegistry(tools=TOOLS)
    caller = Flow("caller", [Step(flow="sub")])
    registry.register(caller)
    registry.register(Flow("sub", [Step(tool="double")]))
    with pytest.raises(FlowCompileError) as caught:
        registry.register(Flow("caller2", [Step(flow="sub", inputs={"nope": "n"})]))
    assert _codes(caught) == {"DW205"}


def test_registering_the_same_definition_again_is_a_no_op() -> None:
    registry = FlowRegistry(tools=TOOLS)
    flow = Flow("ok", [Step(tool="double")])
    registry.register(flow)
    generation = registry.generation
    assert registry.register(Flow("ok", [Step(tool="double")])).name == "ok"
    assert registry.generation == generation

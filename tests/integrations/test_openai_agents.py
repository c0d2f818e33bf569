"""Flows as OpenAI Agents SDK tools, invoked the way the SDK does and through its Runner."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from agents import Agent, FunctionTool, RunConfig, RunContextWrapper, Runner
from agents.items import ToolCallOutputItem
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from agents.tool_context import ToolContext

from dagwright import Flow, FlowExecutor, Step
from dagwright.integrations.openai_agents import flow_tool, is_strict_schema
from tests.integrations.flows import GREET, stored_runs
from tests.integrations.unavailable import import_without

pytestmark = pytest.mark.timeout(60)

ADA = {"greeting": "Hello, Ada!", "loud": "HELLO, ADA!"}
CLOSED = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
    "additionalProperties": False,
}


def invoke(made: FunctionTool, arguments: str) -> Any:
    """Call the tool as the SDK does: a ToolContext made from the run's context."""
    call = function_call(made.name, arguments, call_id="call-1")
    context = ToolContext.from_agent_context(RunContextWrapper(context=None), "call-1", call)
    return asyncio.run(made.on_invoke_tool(context, arguments))


def test_the_tool_is_the_flow_as_one_tool(ex: FlowExecutor) -> None:
    made = flow_tool(ex, "greet_loudly")
    assert isinstance(made, FunctionTool)
    assert (made.name, made.description) == ("greet_loudly", "Greet someone, loudly.")
    assert made.params_json_schema == ex.compile(GREET).input_json_schema()
    renamed = flow_tool(ex, GREET, name="hello", description="Say hello.")
    assert (renamed.name, renamed.description) == ("hello", "Say hello.")


def test_a_schema_with_optional_inputs_is_not_made_strict(ex: FlowExecutor) -> None:
    made = flow_tool(ex, GREET)
    assert made.strict_json_schema is False
    assert made.params_json_schema["required"] == ["name"]  # punctuation stays optional


def test_a_closed_schema_with_every_input_required_is_strict(ex: FlowExecutor) -> None:
    flow = Flow("greet_closed", [Step(tool="greet"), Step(tool="shout")], input_schema=CLOSED)
    assert is_strict_schema(ex.compile(flow).input_json_schema())
    made = flow_tool(ex, flow)
    assert made.strict_json_schema is True
    assert made.params_json_schema == CLOSED
    assert json.loads(invoke(made, '{"name": "Ada"}')) == ADA


def test_strict_true_converts_the_schema_the_sdk_way(ex: FlowExecutor) -> None:
    made = flow_tool(ex, GREET, strict=True)
    assert made.strict_json_schema is True
    assert made.params_json_schema["additionalProperties"] is False
    assert made.params_json_schema["required"] == ["name", "punctuation"]
    assert flow_tool(ex, GREET, strict=False).strict_json_schema is False


def test_invoking_it_runs_the_flow_and_returns_its_outputs_as_json(ex: FlowExecutor) -> None:
    got = invoke(flow_tool(ex, GREET), '{"name": "Ada"}')
    assert isinstance(got, str)
    assert json.loads(got) == ADA
    assert stored_runs(ex) == [("greet_loudly", "succeeded", {"name": "Ada"})]


def test_a_failed_run_is_a_text_the_model_reads(ex: FlowExecutor) -> None:
    got = invoke(flow_tool(ex, "greet_broken"), '{"name": "Ada"}')
    assert ex.checkpointer is not None
    (header,) = ex.checkpointer.runs()
    assert header.status == "failed"
    assert got == (
        "flow 'greet_broken' failed at step 'refuse': [DW-E101] ValueError: "
        f"cannot shout 'Hello, Ada!' (run {header.run_id})"
    )


def test_arguments_that_are_not_json_or_rejected_start_no_run(ex: FlowExecutor) -> None:
    made = flow_tool(ex, GREET)
    assert invoke(made, "{name").startswith("invalid arguments for 'greet_loudly': not JSON")
    assert invoke(made, "[1]") == "invalid arguments for 'greet_loudly': expected a JSON object"
    assert invoke(made, "{}") == (
        "invalid arguments for 'greet_loudly': [DW-E004] 'name' is a required property"
    )
    assert stored_runs(ex) == []


def run_agent(made: FunctionTool, arguments: dict[str, Any]) -> tuple[Any, ScriptedModel]:
    model = ScriptedModel(
        [
            ModelStep(output=[function_call(made.name, arguments, call_id="call-7")]),
            ModelStep(output=[assistant_message("done")]),
        ]
    )
    agent = Agent(name="greeter", model=model, tools=[made])
    config = RunConfig(tracing_disabled=True)
    return asyncio.run(Runner.run(agent, "greet Ada", run_config=config)), model


def test_an_agent_run_calls_it_and_the_model_sees_the_outputs(ex: FlowExecutor) -> None:
    result, model = run_agent(flow_tool(ex, GREET), {"name": "Ada"})
    assert result.final_output == "done"
    (item,) = [i for i in result.new_items if isinstance(i, ToolCallOutputItem)]
    assert json.loads(item.output) == ADA
    assert model.last_call is not None
    sent = [
        entry
        for entry in model.last_call.input
        if isinstance(entry, dict) and entry.get("type") == "function_call_output"
    ]
    assert [(e["call_id"], json.loads(e["output"])) for e in sent] == [("call-7", ADA)]
    assert stored_runs(ex) == [("greet_loudly", "succeeded", {"name": "Ada"})]


def test_an_agent_run_goes_on_after_a_failed_flow(ex: FlowExecutor) -> None:
    result, _ = run_agent(flow_tool(ex, "greet_broken"), {"name": "Ada"})
    assert result.final_output == "done"
    (item,) = [i for i in result.new_items if isinstance(i, ToolCallOutputItem)]
    assert item.output.startswith("flow 'greet_broken' failed at step 'refuse': [DW-E101]")
    assert stored_runs(ex) == [("greet_broken", "failed", {"name": "Ada"})]


def test_importing_it_without_the_sdk_names_the_extra() -> None:
    done = import_without("dagwright.integrations.openai_agents", "agents")
    assert done.stdout.strip() == (
        "IntegrationUnavailableError|DW-E021|pip install 'dagwright[openai-agents]'"
    ), done.stderr

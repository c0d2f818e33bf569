"""Flows as pydantic-ai tools, called by real agents driven by pydantic-ai's test models."""

from __future__ import annotations

import asyncio
from typing import Any

import jsonschema
import pytest
from pydantic_ai import Agent, Tool
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel

from dagwright import FlowExecutor
from dagwright.integrations.pydantic_ai import flow_tool
from tests.integrations.flows import GREET, stored_runs
from tests.integrations.unavailable import import_without, modules_after_import

pytestmark = pytest.mark.timeout(60)


def calling(tool_name: str, args: dict[str, Any]) -> FunctionModel:
    """A model that calls ``tool_name`` once with ``args``, then answers with the text
    of what the tool returned (or of the retry prompt it got)."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1]
        assert isinstance(last, ModelRequest)
        for part in last.parts:
            if isinstance(part, ToolReturnPart):
                return ModelResponse(parts=[TextPart(f"{part.outcome}: {part.content}")])
        return ModelResponse(parts=[ToolCallPart(tool_name, args)])

    return FunctionModel(respond)


def returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    return [
        part
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    ]


def test_the_tool_is_the_flow_as_one_tool(ex: FlowExecutor) -> None:
    made = flow_tool(ex, "greet_loudly")
    assert isinstance(made, Tool)
    definition = made.tool_def
    assert definition.name == "greet_loudly"
    assert definition.description == "Greet someone, loudly."
    assert definition.parameters_json_schema == ex.compile(GREET).input_json_schema()
    renamed = flow_tool(ex, GREET, name="hello", description="Say hello.").tool_def
    assert (renamed.name, renamed.description) == ("hello", "Say hello.")


def test_test_model_calls_it_with_schema_valid_arguments_sync(ex: FlowExecutor) -> None:
    agent = Agent(TestModel(), tools=[flow_tool(ex, "greet_loudly")])
    result = agent.run_sync("greet someone")
    calls = [
        part
        for message in result.all_messages()
        if isinstance(message, ModelResponse)
        for part in message.parts
        if isinstance(part, ToolCallPart)
    ]
    assert [c.tool_name for c in calls] == ["greet_loudly"]
    args = calls[0].args_as_dict()
    jsonschema.validate(args, ex.compile(GREET).input_json_schema())
    punctuation = args.get("punctuation", "!")
    (back,) = returns(result.all_messages())
    assert back.outcome == "success"
    greeting = f"Hello, {args['name']}{punctuation}"
    assert back.content == {"greeting": greeting, "loud": greeting.upper()}
    assert stored_runs(ex) == [("greet_loudly", "succeeded", args)]


def test_an_async_agent_sees_the_outputs_and_the_run_is_journaled(ex: FlowExecutor) -> None:
    agent = Agent(calling("greet_loudly", {"name": "Ada"}), tools=[flow_tool(ex, GREET)])
    result = asyncio.run(agent.run("greet Ada"))
    assert result.output == "success: {'greeting': 'Hello, Ada!', 'loud': 'HELLO, ADA!'}"
    assert stored_runs(ex) == [("greet_loudly", "succeeded", {"name": "Ada"})]


def test_a_failed_run_is_a_failed_tool_result_with_its_code(ex: FlowExecutor) -> None:
    agent = Agent(calling("greet_broken", {"name": "Ada"}), tools=[flow_tool(ex, "greet_broken")])
    result = agent.run_sync("greet Ada")
    (back,) = returns(result.all_messages())
    assert back.outcome == "failed"
    (header,) = ex.checkpointer.runs() if ex.checkpointer else []
    assert header.status == "failed"
    assert back.content == (
        "flow 'greet_broken' failed at step 'refuse': [DW-E101] ValueError: "
        f"cannot shout 'Hello, Ada!' (run {header.run_id})"
    )
    assert result.output.startswith("failed: flow 'greet_broken' failed")


def test_rejected_arguments_are_a_retry_prompt_and_start_no_run(ex: FlowExecutor) -> None:
    agent = Agent(calling("greet_loudly", {"nom": "Ada"}), tools=[flow_tool(ex, GREET)])
    result = agent.run_sync("greet Ada")
    assert result.output == (
        "retried: invalid arguments for 'greet_loudly': [DW-E004] 'name' is a required property"
    )
    assert stored_runs(ex) == []


def test_importing_it_without_pydantic_ai_names_the_extra() -> None:
    done = import_without("dagwright.integrations.pydantic_ai", "pydantic_ai")
    assert done.stdout.strip() == (
        "IntegrationUnavailableError|DW-E021|pip install 'dagwright[pydantic-ai]'"
    ), done.stderr


def test_dagwright_and_its_integrations_package_import_no_framework() -> None:
    loaded = modules_after_import("dagwright.integrations")
    assert not loaded & {"pydantic_ai", "langchain_core", "agents", "openai", "mcp"}

"""Flows as LangChain tools, called through langchain-core's own invocation API."""

from __future__ import annotations

import asyncio
import json

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import StructuredTool, ToolException
from langchain_core.utils.function_calling import convert_to_openai_tool

from dagwright import FlowExecutor
from dagwright.integrations.langchain import flow_tool
from tests.integrations.flows import GREET, stored_runs
from tests.integrations.unavailable import import_without

pytestmark = pytest.mark.timeout(60)

ADA = {"greeting": "Hello, Ada!", "loud": "HELLO, ADA!"}


def test_the_tool_is_the_flow_as_one_tool(ex: FlowExecutor) -> None:
    made = flow_tool(ex, "greet_loudly")
    assert isinstance(made, StructuredTool)
    assert (made.name, made.description) == ("greet_loudly", "Greet someone, loudly.")
    assert made.args_schema == ex.compile(GREET).input_json_schema()
    # What a chat model is given for it.
    function = convert_to_openai_tool(made)["function"]
    assert function["name"] == "greet_loudly"
    assert function["parameters"]["required"] == ["name"]
    assert set(function["parameters"]["properties"]) == {"name", "punctuation"}
    renamed = flow_tool(ex, GREET, name="hello", description="Say hello.")
    assert (renamed.name, renamed.description) == ("hello", "Say hello.")


def test_invoke_runs_the_flow_and_returns_its_outputs(ex: FlowExecutor) -> None:
    assert flow_tool(ex, GREET).invoke({"name": "Ada"}) == ADA
    assert stored_runs(ex) == [("greet_loudly", "succeeded", {"name": "Ada"})]


def test_ainvoke_runs_the_flow_on_the_async_lane(ex: FlowExecutor) -> None:
    got = asyncio.run(flow_tool(ex, GREET).ainvoke({"name": "Bo", "punctuation": "?"}))
    assert got == {"greeting": "Hello, Bo?", "loud": "HELLO, BO?"}
    assert stored_runs(ex) == [("greet_loudly", "succeeded", {"name": "Bo", "punctuation": "?"})]


def test_a_tool_call_gets_a_tool_message_with_the_outputs_as_json(ex: FlowExecutor) -> None:
    call = {"type": "tool_call", "args": {"name": "Ada"}, "id": "call-1", "name": "greet_loudly"}
    message = flow_tool(ex, GREET).invoke(call)
    assert isinstance(message, ToolMessage)
    assert (message.tool_call_id, message.name, message.status) == (
        "call-1",
        "greet_loudly",
        "success",
    )
    assert message.content == '{"greeting": "Hello, Ada!", "loud": "HELLO, ADA!"}'
    message = asyncio.run(flow_tool(ex, GREET).ainvoke({**call, "id": "call-2"}))
    assert isinstance(message, ToolMessage)
    assert message.tool_call_id == "call-2"
    assert len(stored_runs(ex)) == 2


def test_a_failed_run_is_an_error_tool_message_with_its_code(ex: FlowExecutor) -> None:
    call = {"type": "tool_call", "args": {"name": "Ada"}, "id": "c", "name": "greet_broken"}
    message = flow_tool(ex, "greet_broken").invoke(call)
    assert isinstance(message, ToolMessage)
    assert message.status == "error"
    assert ex.checkpointer is not None
    (header,) = ex.checkpointer.runs()
    assert header.status == "failed"
    assert message.content == (
        "flow 'greet_broken' failed at step 'refuse': [DW-E101] ValueError: "
        f"cannot shout 'Hello, Ada!' (run {header.run_id})"
    )


def test_a_plain_call_of_a_failing_flow_returns_the_error_text(ex: FlowExecutor) -> None:
    text = asyncio.run(flow_tool(ex, "greet_broken").ainvoke({"name": "Ada"}))
    assert isinstance(text, str)
    assert text.startswith("flow 'greet_broken' failed at step 'refuse': [DW-E101] ValueError")
    assert stored_runs(ex) == [("greet_broken", "failed", {"name": "Ada"})]


def test_without_error_handling_the_failure_raises_a_tool_exception(ex: FlowExecutor) -> None:
    made = flow_tool(ex, "greet_broken")
    made.handle_tool_error = False
    with pytest.raises(ToolException, match=r"\[DW-E101\] ValueError: cannot shout"):
        made.invoke({"name": "Ada"})


def test_rejected_arguments_are_an_error_the_agent_sees_and_start_no_run(
    ex: FlowExecutor,
) -> None:
    call = {"type": "tool_call", "args": {"nom": "Ada"}, "id": "c", "name": "greet_loudly"}
    message = flow_tool(ex, GREET).invoke(call)
    assert isinstance(message, ToolMessage)
    assert message.status == "error"
    assert message.content == (
        "invalid arguments for 'greet_loudly': [DW-E004] 'name' is a required property"
    )
    assert stored_runs(ex) == []


def test_importing_it_without_langchain_core_names_the_extra() -> None:
    done = import_without("dagwright.integrations.langchain", "langchain_core")
    assert done.stdout.strip() == (
        "IntegrationUnavailableError|DW-E021|pip install 'dagwright[langchain]'"
    ), done.stderr


def test_a_chat_models_tool_call_runs_the_flow_and_its_answer_goes_back(
    ex: FlowExecutor,
) -> None:
    call = {"name": "greet_loudly", "args": {"name": "Ada"}, "id": "call-9"}
    model = GenericFakeChatModel(messages=iter([AIMessage(content="", tool_calls=[call])]))
    asked = HumanMessage("greet Ada")
    reply = model.invoke([asked])
    assert isinstance(reply, AIMessage)
    (tool_call,) = reply.tool_calls
    answer = flow_tool(ex, GREET).invoke(tool_call)
    assert isinstance(answer, ToolMessage)
    assert answer.tool_call_id == "call-9"
    assert json.loads(str(answer.content)) == ADA

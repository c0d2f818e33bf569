"""``dagwright.mcp.flow_server`` in process, through the SDK's own ``mcp.Client`` (its
in-memory connection to a ``Server``), in both protocol eras the SDK speaks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError as ProtocolError
from pydantic import BaseModel

from dagwright import (
    FlowExecutor,
    FlowRegistry,
    InMemoryCheckpointer,
    Step,
    UsageError,
    tool,
)
from dagwright.flows import Flow
from tests.mcp.mcp_tools import fetch

MODES = ["auto", "legacy"]


class Count(BaseModel):
    count: int


@tool
def count_words(text: str) -> Count:
    """Count the words of a text."""
    return Count(count=len(text.split()))


def counting(name: str = "count", description: str = "Count words.") -> Flow:
    return Flow(name=name, description=description, steps=[Step(tool="count_words")])


def fetching() -> Flow:
    return Flow(
        name="fetch_page", description="Fetch a page.", steps=[Step(id="fetch", tool="fetch")]
    )


def drive(body: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        with anyio.fail_after(30):
            await body()

    anyio.run(bounded)


def executor(*flows: Flow, checkpointer: Any = None) -> FlowExecutor:
    registry = FlowRegistry()
    for flow in flows:
        registry.register(flow)
    return FlowExecutor([count_words, fetch], registry=registry, checkpointer=checkpointer)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", MODES)
def test_flows_by_object_or_registered_name_become_tools(mode: str) -> None:
    from dagwright.mcp import flow_server

    runner = executor(counting(), fetching())
    server = flow_server(runner, ["count", fetching()], name="words", instructions="Use me.")

    async def body() -> None:
        async with Client(server, mode=mode) as client:
            tools = {each.name: each for each in (await client.list_tools()).tools}
            assert tools["count"].description == "Count words."
            assert tools["count"].input_schema == runner.compile("count").input_json_schema()
            result = await client.call_tool("count", {"text": "one two three"})
            assert result.structured_content == {"count": 3}

    drive(body)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", MODES)
def test_every_call_is_its_own_journaled_run(mode: str) -> None:
    from dagwright.mcp import RUN_ID_META, flow_server

    store = InMemoryCheckpointer()
    server = flow_server(executor(counting(), checkpointer=store), ["count"])
    run_ids: list[str] = []

    async def body() -> None:
        async with Client(server, mode=mode) as client:
            for text in ("a", "a b", "a b c"):
                result = await client.call_tool("count", {"text": text})
                assert result.meta is not None
                run_ids.append(result.meta[RUN_ID_META])

    drive(body)
    headers = store.runs()
    assert [header.run_id for header in headers] == run_ids
    assert [header.inputs["text"] for header in headers] == ["a", "a b", "a b c"]
    assert len({header.run_id for header in headers}) == 3
    assert {header.status for header in headers} == {"succeeded"}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", MODES)
def test_failures_and_bad_arguments_are_tool_errors(mode: str) -> None:
    from dagwright.mcp import flow_server

    server = flow_server(executor(fetching()), [fetching()])

    async def body() -> None:
        async with Client(server, mode=mode) as client:
            failed = await client.call_tool("fetch_page", {"host": "nowhere"})
            assert failed.is_error is True
            text = failed.content[0].text  # type: ignore[union-attr]
            assert text.startswith("[DW-E101] step 'fetch' failed: ConnectionError: nowhere")
            assert failed.structured_content["error"]["step_id"] == "fetch"
            assert failed.structured_content["run_id"] in text
            bad = await client.call_tool("fetch_page", {"host": ["not", "a", "string"]})
            assert bad.is_error is True
            assert bad.content[0].text.startswith("[DW-E004]")  # type: ignore[union-attr]
            with pytest.raises(ProtocolError, match="Unknown tool: missing"):
                await client.call_tool("missing", {})

    drive(body)


def test_two_flows_with_one_name_are_refused() -> None:
    from dagwright.mcp import flow_server

    with pytest.raises(UsageError, match="'count'") as raised:
        flow_server(executor(), [counting(), counting(description="Another.")])
    assert raised.value.code == "DW-E017"


def test_a_name_that_is_no_mcp_tool_name_is_refused() -> None:
    from dagwright.mcp import flow_server

    with pytest.raises(UsageError, match="not a valid MCP tool name"):
        flow_server(executor(), [counting(name="count words")])
    with pytest.raises(UsageError, match="no flow to serve"):
        flow_server(executor(), [])


@pytest.mark.timeout(60)
def test_calls_started_together_are_separate_runs_with_their_own_answers() -> None:
    from dagwright.mcp import flow_server

    store = InMemoryCheckpointer()
    server = flow_server(executor(counting(), checkpointer=store), ["count"])
    answers: dict[str, Any] = {}

    async def body() -> None:
        async with Client(server) as client:

            async def call(text: str) -> None:
                answers[text] = (await client.call_tool("count", {"text": text})).structured_content

            async with anyio.create_task_group() as group:
                for words in range(1, 9):
                    group.start_soon(call, " ".join(["w"] * words))

    drive(body)
    assert {text: value["count"] for text, value in answers.items()} == {
        " ".join(["w"] * words): words for words in range(1, 9)
    }
    assert len(store.runs()) == 8


def test_a_flow_that_does_not_compile_is_refused_at_once() -> None:
    from dagwright import FlowCompileError
    from dagwright.mcp import flow_server

    broken = Flow(name="broken", steps=[Step(tool="no_such_tool")])
    with pytest.raises(FlowCompileError):
        flow_server(executor(), [broken])

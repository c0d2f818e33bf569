"""``dagwright serve`` driven by the MCP SDK's own clients, as a real server process.

Each test starts the console script (stdio: through ``mcp.client.stdio.stdio_client``,
which owns and ends the process; streamable HTTP: a ``Popen`` killed in ``finally``) and
talks to it with ``ClientSession``. What the server journaled is read back from its
SQLite store afterwards.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from dagwright import FlowExecutor, FlowRegistry, SQLiteCheckpointer
from dagwright.checkpoint import read_run
from dagwright.io import flow_source, import_tool_paths, load_flows
from tests.cli.conftest import ROOT, script

PIPELINE = "examples/pipeline.flow.yaml"
SUMMARIZE = "examples/summarize.flow.yaml"
FETCH = "tests/mcp/flows/fetch.flow.yaml"
SHOUT = "tests/mcp/flows/shout.flow.yaml"
QUESTION = "How does dependency-driven scheduling keep workers busy?"


def python_side(*files: str) -> tuple[FlowExecutor, dict[str, Any]]:
    """The same flows run in this process: an executor and each flow by name."""
    flows = load_flows([str(ROOT / each) for each in files])
    registry = FlowRegistry()
    tools = []
    for flow in flows:
        registry.register(flow)
        source = flow_source(flow)
        assert source is not None
        tools += import_tool_paths(source.tools)
    unique = list({id(each): each for each in tools}.values())
    return FlowExecutor(unique, registry=registry), {flow.name: flow for flow in flows}


@asynccontextmanager
async def stdio_session(
    store: Path, *files: str, errlog: TextIO | None = None
) -> AsyncIterator[ClientSession]:
    """A session with ``dagwright serve FILES --store STORE`` over stdio."""
    params = StdioServerParameters(
        command=script(),
        args=["serve", *files, "--store", str(store)],
        cwd=str(ROOT),
        env={"PYTHONUNBUFFERED": "1"},
    )
    async with (
        stdio_client(params, errlog=errlog if errlog is not None else sys.stderr) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def drive(body: Callable[[], Awaitable[None]], seconds: float = 45) -> None:
    async def bounded() -> None:
        with anyio.fail_after(seconds):
            await body()

    anyio.run(bounded)


def error_text(result: Any) -> str:
    assert result.is_error is True
    return "\n".join(block.text for block in result.content)


@pytest.mark.timeout(60)
def test_lists_each_flow_as_a_tool_with_its_schemas(tmp_path: Path) -> None:
    executor, flows = python_side(PIPELINE, SUMMARIZE)

    async def body() -> None:
        async with stdio_session(tmp_path / "runs.sqlite", PIPELINE, SUMMARIZE) as session:
            listed = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert sorted(listed) == ["research_pipeline", "summarize"]
        for name, tool in listed.items():
            compiled = executor.compile(flows[name])
            assert tool.description == flows[name].description
            assert tool.input_schema == compiled.input_json_schema()
            assert tool.output_schema == compiled.output_json_schema()

    drive(body)


@pytest.mark.timeout(60)
def test_a_call_returns_the_flow_outputs_and_is_journaled(tmp_path: Path) -> None:
    executor, flows = python_side(PIPELINE, SUMMARIZE)
    local = executor.run(flows["research_pipeline"], {"question": QUESTION})
    expected = executor.compile(flows["research_pipeline"]).outputs_of(local)
    store = tmp_path / "runs.sqlite"

    async def body() -> None:
        async with stdio_session(store, PIPELINE, SUMMARIZE) as session:
            result = await session.call_tool("research_pipeline", {"question": QUESTION})
            assert result.is_error is False
            assert result.structured_content == expected
            assert json.loads(result.content[0].text) == expected  # type: ignore[union-attr]

    drive(body)
    with SQLiteCheckpointer(str(store)) as checkpointer:
        (header,) = checkpointer.runs()
        assert (header.flow_name, header.status) == ("research_pipeline", "succeeded")
        assert header.inputs["question"] == QUESTION
        stored = read_run(checkpointer, header.run_id, flow=flows["research_pipeline"])
        assert stored.statuses["score"] == "completed"


@pytest.mark.timeout(60)
def test_bad_arguments_are_a_tool_error_and_the_session_goes_on(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"

    async def body() -> None:
        async with stdio_session(store, PIPELINE, SUMMARIZE) as session:
            wrong_type = await session.call_tool("research_pipeline", {"question": 7})
            assert "[DW-E004]" in error_text(wrong_type)
            assert "question" in error_text(wrong_type)
            missing = await session.call_tool("research_pipeline", {})
            assert "[DW-E004]" in error_text(missing)
            fine = await session.call_tool("research_pipeline", {"question": QUESTION})
            assert fine.is_error is False
            assert fine.structured_content is not None
            assert fine.structured_content["grade"] == "good"

    drive(body)
    with SQLiteCheckpointer(str(store)) as checkpointer:
        assert [header.status for header in checkpointer.runs()] == ["succeeded"]


@pytest.mark.timeout(60)
def test_a_failing_flow_is_a_tool_error_with_code_step_and_run_id(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    texts: list[str] = []

    async def body() -> None:
        async with stdio_session(store, FETCH) as session:
            failed = await session.call_tool("fetch_page", {"host": "down.example"})
            texts.append(error_text(failed))
            assert failed.structured_content is not None
            assert failed.structured_content["error"]["code"] == "DW-E101"
            ok = await session.call_tool("fetch_page", {"host": "up"})
            assert ok.structured_content == {"body": "hello from up"}

    drive(body)
    (text,) = texts
    assert text.startswith(
        "[DW-E101] step 'fetch' failed: ConnectionError: down.example is down (run "
    )
    with SQLiteCheckpointer(str(store)) as checkpointer:
        headers = checkpointer.runs()
        assert [header.status for header in headers] == ["failed", "succeeded"]
        assert f"(run {headers[0].run_id})" in text
        stored = read_run(checkpointer, headers[0].run_id)
        assert stored.steps[0].error is not None
        assert stored.steps[0].error.type == "ConnectionError"


@pytest.mark.timeout(60)
def test_a_tool_printing_to_stdout_does_not_touch_the_protocol(tmp_path: Path) -> None:
    errlog = tmp_path / "stderr.txt"

    twice = "tests/mcp/flows/twice.flow.yaml"  # its compile warning is printed too

    async def body() -> None:
        with errlog.open("w", encoding="utf-8") as err:
            async with stdio_session(tmp_path / "runs.sqlite", SHOUT, twice, errlog=err) as s:
                for word in ("one", "two"):
                    result = await s.call_tool("shout", {"word": word})
                    assert result.structured_content == {"loud": word.upper()}
                again = await s.call_tool("shout_twice", {"word": "three"})
                assert again.structured_content == {"loud": "THREE"}

    drive(body)
    logged = errlog.read_text(encoding="utf-8").splitlines()
    assert "shouting one on stdout" in logged
    assert "shouting two on stdout" in logged
    assert logged.count("shouting three on stdout") == 2
    banner = "dagwright: serving 2 flow(s) as MCP tools over stdio: shout, shout_twice"
    assert logged[0].startswith(f"dagwright: warning: {twice}:11:5: DW301 warning")
    assert logged[1].startswith(banner)


@pytest.mark.timeout(60)
def test_an_unknown_tool_is_the_protocols_invalid_params_error(tmp_path: Path) -> None:
    from mcp.shared.exceptions import MCPError

    async def body() -> None:
        async with stdio_session(tmp_path / "runs.sqlite", FETCH) as session:
            with pytest.raises(MCPError) as raised:
                await session.call_tool("no_such_flow", {})
            assert raised.value.code == -32602
            assert "no_such_flow" in raised.value.message
            ok = await session.call_tool("fetch_page", {"host": "up"})
            assert ok.is_error is False

    drive(body)


@pytest.mark.timeout(60)
def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [script(), "serve", FETCH, "--transport", "streamable-http", "--port", str(port),
             "--store", str(tmp_path / "runs.sqlite")],
            cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("dagwright: error: [Errno ")
    assert f"cannot listen on 127.0.0.1:{port}: " in line


@pytest.mark.timeout(60)
def test_streamable_http_serves_the_same_tools(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    errlog = tmp_path / "stderr.txt"
    with errlog.open("w", encoding="utf-8") as err:
        process = subprocess.Popen(
            [
                script(),
                "serve",
                FETCH,
                "--transport",
                "streamable-http",
                "--port",
                "0",  # any free port: the URL printed names the one bound
                "--store",
                str(store),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 30
        while (
            found := re.search(r"at (http://127\.0\.0\.1:(\d+)/mcp)", errlog.read_text())
        ) is None:
            assert process.poll() is None, errlog.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "the server never said where it listens"
            time.sleep(0.05)
        url = found[1]
        assert int(found[2]) > 0

        async def body() -> None:
            async with (
                streamable_http_client(url) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                (tool,) = (await session.list_tools()).tools
                assert tool.name == "fetch_page"
                ok = await session.call_tool("fetch_page", {"host": "up"})
                assert ok.structured_content == {"body": "hello from up"}
                failed = await session.call_tool("fetch_page", {"host": "gone"})
                assert error_text(failed).startswith("[DW-E101] step 'fetch' failed")

        drive(body)
    finally:
        process.kill()
        process.wait(timeout=10)
    with SQLiteCheckpointer(str(store)) as checkpointer:
        assert [header.status for header in checkpointer.runs()] == ["succeeded", "failed"]


@pytest.mark.timeout(60)
def test_the_mcp_client_demo_calls_the_served_pipeline(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    done = subprocess.run(
        [sys.executable, "examples/mcp_client_demo.py", "--store", str(store)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "tool research_pipeline: Answer a question" in done.stdout
    assert "grade: good" in done.stdout
    assert "refused: [DW-E004]" in done.stdout
    with SQLiteCheckpointer(str(store)) as checkpointer:
        (header,) = checkpointer.runs()
    assert f"journaled as run {header.run_id}" in done.stdout
    plan = subprocess.run(
        ["make", "-s", "-n", "-C", str(ROOT), f"BIN={Path(sys.executable).parent}", "demo"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "examples/mcp_client_demo.py" in plan.stdout


@pytest.mark.timeout(90)
def test_a_call_whose_server_dies_is_finished_by_run_resume(tmp_path: Path) -> None:
    """The crash example's tool ends the server process mid-call: the client's call fails,
    the run stays in the store, and `dagwright run --resume` finishes it."""
    store = tmp_path / "runs.sqlite"
    inputs = {"text": "  hello   world ", "marker_dir": str(tmp_path / "marker")}
    outcome: list[BaseException] = []

    async def body() -> None:
        async with stdio_session(store, "examples/crash.flow.yaml") as session:
            try:
                await session.call_tool("crash_demo", inputs, read_timeout_seconds=30)
            except Exception as error:  # the server is gone: the SDK's own error
                outcome.append(error)

    try:
        drive(body)
    except Exception as error:  # or the transport's, when the session closes
        outcome.append(error)
    assert outcome, "the call should not have returned a result"
    with SQLiteCheckpointer(str(store)) as checkpointer:
        (header,) = checkpointer.runs()
    assert (header.flow_name, header.status) == ("crash_demo", "running")

    resumed = subprocess.run(
        [script(), "run", "examples/crash.flow.yaml", "--resume", header.run_id,
         "--store", str(store), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["success"] is True
    assert result["run_id"] == header.run_id
    assert [step["step_id"] for step in result["steps"]] == ["prepare", "fragile", "finish"]

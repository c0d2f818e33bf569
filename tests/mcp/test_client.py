"""``dagwright.mcp.connect``: a real MCP server (tests/mcp/servers/research.py, the
official SDK over stdio, a subprocess) and its tools used as dagwright tools."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dagwright import (
    DAGFlow,
    FlowCompileError,
    FlowExecutor,
    MCPError,
    MCPSchemaError,
    MCPToolError,
    RetryPolicy,
    RunFailedError,
    Step,
    ToolInputError,
    dump_flow,
    load_tool_manifest,
    tool,
)
from dagwright.compiler import compile_flow
from dagwright.io import lint_files
from dagwright.mcp import MCPConnection, connect, server_specs
from tests.cli.conftest import run_script
from tests.conftest import Lane
from tests.mcp.servers.research import SEARCH_INPUT, SEARCH_OUTPUT

ROOT = Path(__file__).resolve().parents[2]
SERVER = [sys.executable, str(ROOT / "tests" / "mcp" / "servers" / "research.py")]
COMMAND = " ".join(SERVER)  # no spaces in the paths of the test checkout

pytestmark = pytest.mark.timeout(60)


@tool
def shout(text: str) -> str:
    """The page, louder."""
    return text.upper()


def research_flow(name: str = "research") -> DAGFlow:
    """search (MCP, structured) -> fetch (MCP, text) -> shout (local)."""
    return DAGFlow(
        name,
        [
            Step(id="search", tool="search"),
            Step(id="fetch", tool="fetch", inputs={"url": "/urls/1"}, depends_on=("search",)),
            Step(id="shout", tool="shout", depends_on=("fetch",)),
        ],
        description="Search, fetch the second hit, shout it.",
    )


def enter(*args: Any, **kwargs: Any) -> None:
    """Connect and disconnect (for the errors of connecting)."""
    with connect(*args, **kwargs):
        pass


def one_step(tool_name: str) -> DAGFlow:
    return DAGFlow(f"only-{tool_name}", [Step(id=f"call-{tool_name}", tool=tool_name)])


EXPECTED = {
    "query": "dags",
    "limit": 3,
    "urls": [f"https://example.org/dags/{i}" for i in range(3)],
    "total": 3,
    "text": "page at https://example.org/dags/1",
    "shout": "PAGE AT HTTPS://EXAMPLE.ORG/DAGS/1",
}


@pytest.fixture(scope="module")
def server() -> object:
    with connect(SERVER) as connection:
        yield connection


# ---- what the tools look like ----


def test_each_server_tool_is_a_tool_with_the_servers_schemas(server: MCPConnection) -> None:
    tools = {t.name: t for t in server.tools}
    assert list(tools) == ["search", "fetch", "fail", "broken", "crash", "slow", "delete", "_2fast"]
    search = tools["search"]
    assert search.description == "Search the test corpus."
    assert search.spec.input_json_schema == SEARCH_INPUT
    assert search.spec.output_json_schema == SEARCH_OUTPUT
    fetch = tools["fetch"].spec.output_json_schema
    assert (fetch["properties"].keys(), fetch["required"]) == ({"text"}, ["text"])
    assert [spec.name for spec in server.specs()] == list(tools)
    assert {s.name: s.schema_hash for s in server.specs()} == {
        t.name: t.schema_hash for t in tools.values()
    }


def test_idempotent_follows_the_annotations(server: MCPConnection) -> None:
    idempotent = {t.name: t.idempotent for t in server.tools}
    # readOnlyHint true; readOnlyHint false + idempotentHint true; no hints; destructiveHint.
    assert (idempotent["search"], idempotent["fetch"], idempotent["fail"]) == (True, True, True)
    assert idempotent["delete"] is False


def test_a_tool_stays_callable_and_validates_against_the_servers_schema(
    server: MCPConnection,
) -> None:
    search = next(t for t in server.tools if t.name == "search")
    out = asyncio.run(search(query="x", limit=1))
    assert out.model_dump() == {"urls": ["https://example.org/x/0"], "total": 1}
    with pytest.raises(ToolInputError, match="limit: 0 is less than the minimum of 1"):
        search(query="x", limit=0)
    with pytest.raises(ToolInputError, match="'query' is a required property"):
        search({"limit": 2})


# ---- running flows over them ----


def test_a_flow_chains_server_tools_and_a_local_tool(server: MCPConnection, lane: Lane) -> None:
    executor = FlowExecutor(tools=[*server.tools, shout])
    result = lane(executor, research_flow(), {"query": "dags", "limit": 3})
    assert result.success, result.error
    assert result.output == EXPECTED
    assert [r.status for r in result.steps] == ["completed"] * 3


def test_the_async_form_holds_the_session_on_the_callers_loop() -> None:
    def loops() -> int:
        return sum(t.name == "dagwright-mcp" for t in threading.enumerate())

    async def main() -> tuple[dict[str, object], int]:
        before = loops()
        async with connect(SERVER) as connection:
            added = loops() - before
            executor = FlowExecutor(tools=[*connection.tools, shout])
            result = await executor.arun(research_flow(), {"query": "dags", "limit": 3})
            assert result.success, result.error
            return result.output, added

    output, added = asyncio.run(main())
    assert output == EXPECTED
    assert added == 0  # no private loop thread: the caller's loop holds the session


def test_the_sync_form_works_inside_a_running_loop() -> None:
    async def main() -> tuple[object, object]:
        with connect(SERVER) as connection:
            executor = FlowExecutor(tools=[*connection.tools, shout])
            blocking = executor.run(research_flow(), {"query": "dags", "limit": 3})
            awaited = await executor.arun(research_flow(), {"query": "dags", "limit": 3})
            return blocking.output, awaited.output

    assert asyncio.run(main()) == (EXPECTED, EXPECTED)


def test_run_inside_the_async_form_is_refused_not_hung() -> None:
    async def main() -> object:
        async with connect(SERVER, timeout_s=8) as connection:
            executor = FlowExecutor(tools=connection.tools)
            return executor.run(one_step("fetch"), {"url": "u"})  # blocks the session's loop

    started = time.monotonic()
    result = asyncio.run(main())
    assert time.monotonic() - started < 30
    assert result.error.code == "DW-E022"
    assert "the event loop that holds the session is blocked" in result.error.message


# ---- linting without running ----


def test_a_flow_lints_from_the_specs_alone(server: MCPConnection) -> None:
    specs = [*server.specs(), shout.spec]
    assert compile_flow(research_flow(), specs).diagnostics == ()
    wrong = DAGFlow(
        "wrong",
        [
            Step(id="search", tool="search"),
            Step(id="fetch", tool="fetch", inputs={"url": "total"}, depends_on=("search",)),
        ],
        description="Reads an integer into a string field.",
    )
    with pytest.raises(FlowCompileError) as from_specs:
        compile_flow(wrong, specs)
    with pytest.raises(FlowCompileError) as from_tools:
        compile_flow(wrong, server.tools)
    found = from_specs.value.diagnostics
    assert [d.format() for d in found] == [d.format() for d in from_tools.value.diagnostics]
    assert any("integer" in d.message and "string" in d.message for d in found)


def test_tools_export_mcp_writes_a_manifest_that_lints_the_flow(
    server: MCPConnection, tmp_path: Path
) -> None:
    manifest = tmp_path / "tools.json"
    done = run_script(
        "tools", "export", "tests.mcp.test_client", "--mcp", COMMAND, "-o", str(manifest)
    )
    assert done.returncode == 0, done.stderr
    specs = load_tool_manifest(manifest)
    by_name = {spec.name: spec for spec in specs}
    assert {n: s.schema_hash for n, s in by_name.items() if n != "shout"} == {
        s.name: s.schema_hash for s in server.specs()
    }
    assert by_name["shout"].schema_hash == shout.schema_hash
    flow_file = tmp_path / "research.flow.yaml"
    dump_flow(research_flow(), flow_file)
    report = lint_files([flow_file], tools=specs)
    assert (report.diagnostics, report.skipped, report.exit_code) == ((), (), 0)
    linted = run_script("lint", str(flow_file), "--tools-manifest", str(manifest))
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_server_specs_equal_the_connections_specs(server: MCPConnection) -> None:
    assert server_specs(COMMAND) == server.specs()


# ---- faults: coded, recorded on the step, never hanging ----


@pytest.mark.parametrize(
    ("name", "error", "code", "text"),
    [
        ("fail", MCPToolError, "DW-E023", "tool 'fail' failed: the corpus is offline"),
        ("broken", MCPSchemaError, "DW-E024", "'not a list' is not of type 'array'"),
    ],
)
def test_a_tool_error_or_a_broken_schema_fails_its_step(
    server: MCPConnection, lane: Lane, name: str, error: type[MCPError], code: str, text: str
) -> None:
    result = lane(FlowExecutor(tools=server.tools), one_step(name), {})
    assert not result.success
    assert (result.error.code, result.error.type, result.error.step_id) == (
        code,
        error.__name__,
        f"call-{name}",
    )
    assert text in result.error.message
    assert COMMAND in result.error.message  # names the server
    with pytest.raises(RunFailedError) as raised:
        result.raise_for_error()
    cause = raised.value.__cause__
    assert isinstance(cause, error)
    assert cause.server == COMMAND


def test_a_server_that_dies_mid_call_fails_the_step_at_once(lane: Lane) -> None:
    with connect(SERVER) as connection:
        executor = FlowExecutor(tools=connection.tools)
        started = time.monotonic()
        result = lane(executor, one_step("crash"), {})
        assert time.monotonic() - started < 30
        assert (result.error.code, result.error.step_id) == ("DW-E022", "call-crash")
        assert "failed: Connection closed" in result.error.message
        again = lane(executor, one_step("fetch"), {"url": "u"})
        assert (again.error.code, again.error.step_id) == ("DW-E022", "call-fetch")


def test_a_tool_called_after_the_connection_closed_is_refused() -> None:
    with connect(SERVER) as connection:
        fetch = next(t for t in connection.tools if t.name == "fetch")
    with pytest.raises(MCPError, match=r"cannot call tool 'fetch': .* is closed") as raised:
        asyncio.run(fetch(url="u"))
    assert raised.value.server == COMMAND


def test_a_call_in_flight_when_the_connection_closes_ends(lane: Lane) -> None:
    results: list[object] = []
    with connect(SERVER) as connection:
        executor = FlowExecutor(tools=connection.tools)
        worker = threading.Thread(
            target=lambda: results.append(lane(executor, one_step("slow"), {}))
        )
        worker.start()
        deadline = time.monotonic() + 20
        while not connection._in_flight and not results and time.monotonic() < deadline:
            time.sleep(0.01)
    worker.join(timeout=30)
    assert not worker.is_alive()
    (result,) = results
    assert (result.error.code, result.error.step_id) == ("DW-E022", "call-slow")
    assert "the connection was closed" in result.error.message


def test_a_command_that_does_not_start_is_an_mcp_error_at_connect() -> None:
    expected = "cannot connect to MCP server 'no-such-server-x --flag'"
    with pytest.raises(MCPError, match=expected) as err:
        connect("no-such-server-x --flag").__enter__()
    assert err.value.server == "no-such-server-x --flag"
    assert err.value.hint
    with pytest.raises(MCPError, match="the server exited or is not an MCP server"):
        enter([sys.executable, "-c", "pass"])


@pytest.mark.parametrize("command", ["", []])
def test_an_empty_command_is_refused(command: str | list[str]) -> None:
    with pytest.raises(MCPError, match="needs a command or a URL"), connect(command):
        pass


def test_a_server_that_never_answers_times_out() -> None:
    started = time.monotonic()
    with pytest.raises(MCPError, match="did not start and list its tools within 1 s"):
        enter([sys.executable, "-c", "import time; time.sleep(60)"], timeout_s=1)
    assert time.monotonic() - started < 30


def test_the_async_form_reports_start_failures_too() -> None:
    async def main() -> None:
        async with connect("no-such-server-x"):
            pass

    with pytest.raises(MCPError, match="cannot connect"):
        asyncio.run(main())


def test_tools_after_close_are_refused_with_a_hint() -> None:
    with connect(SERVER) as connection:
        pass
    with pytest.raises(MCPError, match=r"cannot read its tools: .* is closed") as raised:
        connection.tools  # noqa: B018
    assert "with dagwright.mcp.connect" in (raised.value.hint or "")
    with pytest.raises(MCPError, match="already entered"):
        connection.__enter__()


def test_two_tools_with_one_dagwright_name_are_refused() -> None:
    with pytest.raises(MCPError, match=r"'a/b' and 'a_b' both map to .*'a_b'"):
        enter(SERVER, env={"RESEARCH_EXTRA": "collide"})


def test_an_input_schema_that_is_no_json_schema_is_refused() -> None:
    with pytest.raises(MCPSchemaError, match="input schema of tool 'odd' is not a valid JSON"):
        enter(SERVER, env={"RESEARCH_EXTRA": "bad_schema"})


def test_timeout_must_be_positive() -> None:
    with pytest.raises(MCPError, match="timeout_s must be"):
        connect(COMMAND, timeout_s=0)


def test_importing_dagwright_does_not_import_the_sdk() -> None:
    code = (
        "import sys, dagwright, dagwright.io\n"
        "bad = [m for m in ('mcp', 'anyio', 'dagwright.mcp', 'jsonschema') if m in sys.modules]\n"
        "print(json.dumps(bad))"
    )
    done = subprocess.run(
        [sys.executable, "-c", "import json\n" + code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    assert json.loads(done.stdout) == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_http_url_connects_over_streamable_http(lane: Lane) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.mcp_server", "--http", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.monotonic() + 30
        while True:  # until the server listens
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the HTTP server did not start"
                time.sleep(0.1)
        with connect(url) as connection:
            assert connection.server == url
            executor = FlowExecutor(tools=connection.tools)
            flow = DAGFlow(
                "http",
                [
                    Step(id="search", tool="search"),
                    Step(
                        id="fetch", tool="fetch", inputs={"url": "/urls/0"}, depends_on=["search"]
                    ),
                ],
            )
            result = lane(executor, flow, {"query": "mcp"})
        assert result.success, result.error
        assert result.output["text"] == "MCP lets agents call tools over a protocol."
    finally:
        process.kill()
        process.wait(timeout=30)


def test_an_http_url_nobody_serves_is_an_mcp_error() -> None:
    with pytest.raises(MCPError, match=r"MCP server 'http://127\.0\.0\.1:"):
        enter(f"http://127.0.0.1:{free_port()}/mcp", timeout_s=10)


def test_retrying_a_destructive_server_tool_warns_from_the_specs(server: MCPConnection) -> None:
    def flow(tool_name: str) -> DAGFlow:
        retried = Step(id="go", tool=tool_name, retry=RetryPolicy(max_attempts=3))
        return DAGFlow(f"retry-{tool_name}", [retried], description="Retries one call.")

    specs = server.specs()
    assert "DW402" in [d.code for d in compile_flow(flow("delete"), specs).diagnostics]
    assert "DW402" not in [d.code for d in compile_flow(flow("fetch"), specs).diagnostics]


def test_a_step_timeout_ends_a_slow_server_call(server: MCPConnection, lane: Lane) -> None:
    flow = DAGFlow("slow", [Step(id="wait", tool="slow", timeout_s=0.5)])
    started = time.monotonic()
    result = lane(FlowExecutor(tools=server.tools), flow, {})
    assert time.monotonic() - started < 30
    assert (result.error.code, result.error.step_id) == ("DW-E104", "wait")
    fetch = next(t for t in server.tools if t.name == "fetch")
    assert asyncio.run(fetch(url="u")).model_dump() == {"text": "page at u"}  # still usable


def test_without_the_sdk_the_integration_names_its_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['mcp'] = None  # as if the extra were not installed\n"
        "from dagwright import IntegrationUnavailableError\n"
        "try:\n"
        "    import dagwright.mcp\n"
        "except IntegrationUnavailableError as error:\n"
        "    print(error.code, error.hint)\n"
        "from dagwright.cli._app import main\n"
        "sys.exit(main(['tools', 'export', '--mcp', 'some-server']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.stdout == "DW-E021 pip install 'dagwright[mcp]'\n"
    assert done.returncode == 2
    assert "[DW-E021]" in done.stderr
    assert "hint: pip install 'dagwright[mcp]'" in done.stderr

"""``dagwright mine``: traces in, a report and flow files out, in process and for real."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest

from dagwright.io import import_tools, lint_files
from tests.cli.conftest import ROOT, Cli, run_script

TRACES = ROOT / "examples" / "traces"
TOOLS = "examples.pipeline_tools"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # `--tools examples.pipeline_tools` imports from here


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def _bad_traces(tmp_path: Path) -> Path:
    path = tmp_path / "bad.jsonl"
    good = {
        "session": "s",
        "seq": 0,
        "tool": "search",
        "arguments": {},
        "result": {},
        "error": None,
    }
    path.write_text(json.dumps(good) + "\n" + '{"session": "s", "seq": 1}\n', encoding="utf-8")
    return path


def test_the_example_traces_give_flows_that_lint_clean_and_replay(cli: Cli, tmp_path: Path) -> None:
    out_dir = tmp_path / "mined"
    code, out, err = cli("mine", str(TRACES), "--tools", TOOLS, "-o", str(out_dir), "--json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["offered"], report
    for flow in report["offered"]:
        assert flow["replay_matches"] is True, flow
        assert flow["support"] >= 3
        assert flow["support"] == len(flow["sessions"])
        assert Path(flow["file"]) == out_dir / f"{flow['flow']}.flow.yaml"
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        f"{flow['flow']}.flow.yaml" for flow in report["offered"]
    )
    lint = lint_files([out_dir], tools=import_tools([TOOLS]))
    assert lint.file_errors == ()
    assert list(lint.diagnostics) == []
    assert lint.exit_code == 0


def test_the_research_chain_is_mined_from_every_session(cli: Cli) -> None:
    code, out, _ = cli("mine", str(TRACES), "--tools", TOOLS, "--json")
    assert code == 0
    flows = json.loads(out)["offered"]
    every = [f"research-{n:02d}" for n in range(1, 9)]
    assert [(f["flow"], f["sessions"]) for f in flows] == [
        ("search_then_each_fetch", every),
        ("extract_then_compose_then_score", every),
    ]
    fan_out, answer = (flow["definition"]["steps"] for flow in flows)
    assert [step["tool"] for step in fan_out] == ["search", "fetch"]
    assert fan_out[1]["over"] == "results"  # one fetch per search hit: a map step
    assert [step["tool"] for step in answer] == ["extract", "compose", "score"]
    assert answer[2]["inputs"]["summary"] == "summary"  # fed by compose's result


def test_the_same_traces_give_byte_identical_files(cli: Cli, tmp_path: Path) -> None:
    for name in ("first", "second"):
        code, _, _ = cli("mine", str(TRACES), "--tools", TOOLS, "-o", str(tmp_path / name))
        assert code == 0
    first, second = _files(tmp_path / "first"), _files(tmp_path / "second")
    assert first
    assert first == second


def test_the_report_is_a_table_then_the_files_written(cli: Cli, tmp_path: Path) -> None:
    code, out, err = cli("mine", str(TRACES), "--tools", TOOLS, "-o", str(tmp_path))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["flow", "support", "sessions", "calls", "saved", "replay"]
    assert "matches" in lines[1]
    assert "mined " in out and " from 8 session(s)" in out
    assert f"wrote {tmp_path}" in out


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_table_is_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagwright.cli import main

    screen = _Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["mine", str(TRACES), "--tools", TOOLS]) == 0
    text = screen.getvalue()
    assert "\x1b[1m" in text  # a bold header
    assert "\x1b[32mmatches" in text  # replay results in colour
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert plain.splitlines()[0].split() == [
        "flow",
        "support",
        "sessions",
        "calls",
        "saved",
        "replay",
    ]
    assert "mined 2 flow(s) from 8 session(s)" in plain


def test_nothing_mined_is_said_and_exits_0(cli: Cli, tmp_path: Path) -> None:
    code, out, err = cli("mine", str(TRACES), "--tools", TOOLS, "--min-support", "9")
    assert (code, err) == (0, "")
    assert out.startswith("no flows mined from 8 session(s)")
    code, out, _ = cli("mine", str(TRACES), "--tools", TOOLS, "--min-support", "9", "--json")
    assert code == 0
    assert json.loads(out)["offered"] == []


def test_a_manifest_checks_the_flows_and_skips_replay(cli: Cli, tmp_path: Path) -> None:
    from dagwright.io import write_tool_manifest

    manifest = tmp_path / "tools.json"
    write_tool_manifest(import_tools([TOOLS]), manifest)
    code, out, _ = cli("mine", str(TRACES), "--tools-manifest", str(manifest), "--json")
    assert code == 0
    flows = json.loads(out)["offered"]
    assert flows
    assert all(flow["replay_matches"] is None and flow["replay_note"] for flow in flows)


def test_a_chain_with_a_tool_unknown_to_the_specs_is_dropped_with_why(
    cli: Cli, tmp_path: Path
) -> None:
    from dagwright.io import write_tool_manifest

    manifest = tmp_path / "tools.json"
    write_tool_manifest([t for t in import_tools([TOOLS]) if t.name != "score"], manifest)
    code, out, _ = cli("mine", str(TRACES), "--tools-manifest", str(manifest))
    assert code == 0
    assert out.splitlines()[1].startswith("search_then_each_fetch ")
    assert "skipped: " in out.splitlines()[1]
    report = out.split("dropped 1 candidate(s):\n", 1)[1]
    assert report.splitlines()[0] == (
        "  extract_then_compose_then_score (support 8): no spec for tool(s): score"
    )
    code, out, _ = cli("mine", str(TRACES), "--tools-manifest", str(manifest), "--json")
    (dropped,) = json.loads(out)["dropped"]
    assert dropped == {
        "flow": "extract_then_compose_then_score",
        "support": 8,
        "sessions": [f"research-{n:02d}" for n in range(1, 9)],
        "calls_saved": 16,
        "reason": "no spec for tool(s): score",
        "diagnostics": [],
    }


def test_the_json_report_has_the_documented_keys(cli: Cli) -> None:
    code, out, _ = cli("mine", str(TRACES), "--tools", TOOLS, "--json")
    assert code == 0
    report = json.loads(out)
    assert list(report) == ["sessions", "calls", "offered", "dropped"]
    assert (report["sessions"], report["calls"]) == (8, 53)
    assert list(report["offered"][0]) == [
        "flow", "support", "sessions", "calls_saved", "replay_matches", "replay_note",
        "file", "definition",
    ]  # fmt: skip
    assert report["offered"][0]["definition"]["format_version"] == 1


def test_docs_show_what_mine_prints(cli: Cli, tmp_path: Path) -> None:
    code, out, _ = cli("mine", "examples/traces", "--tools", TOOLS, "-o", str(tmp_path / "mined"))
    assert code == 0
    printed = out.replace(f"{tmp_path}/", "")
    command = "$ dagwright mine examples/traces --tools examples.pipeline_tools -o mined\n"
    for page in ("mining.md", "cli.md"):
        text = (ROOT / "docs" / page).read_text(encoding="utf-8")
        shown = text.split(command, 1)[1].split("```", 1)[0]
        assert shown == printed, page
    mined = (ROOT / "docs" / "mining.md").read_text(encoding="utf-8")
    written = (tmp_path / "mined" / "search_then_each_fetch.flow.yaml").read_text("utf-8")
    assert f"$ cat mined/search_then_each_fetch.flow.yaml\n{written}```" in mined


def _otlp_export(path: Path) -> None:
    """The example traces as one OTLP JSON export of GenAI execute_tool spans."""
    from dagwright.traces import read_traces

    def text(key: str, value: str) -> dict[str, object]:
        return {"key": key, "value": {"stringValue": value}}

    spans = []
    for number, call in enumerate(read_traces(TRACES), start=1):
        attributes = [
            text("gen_ai.operation.name", "execute_tool"),
            text("gen_ai.tool.name", call.tool),
            text("gen_ai.conversation.id", call.session),
            text("gen_ai.tool.call.arguments", json.dumps(dict(call.arguments))),
        ]
        status: dict[str, object] = {}
        if call.failed:
            status = {"code": 2, "message": call.error}
        else:
            attributes.append(text("gen_ai.tool.call.result", json.dumps(dict(call.result or {}))))
        spans.append({
            "traceId": f"{number:032x}", "spanId": f"{number:016x}",
            "name": f"execute_tool {call.tool}", "startTimeUnixNano": str(1_000 * number),
            "endTimeUnixNano": str(1_000 * number + 500), "attributes": attributes,
            "status": status,
        })  # fmt: skip
    export = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    path.write_text(json.dumps(export), encoding="utf-8")


def test_otel_exports_mine_to_the_same_flows(cli: Cli, tmp_path: Path) -> None:
    export = tmp_path / "spans.json"
    _otlp_export(export)
    code, from_otel, err = cli("mine", "--otel", str(export), "--tools", TOOLS, "--json")
    assert (code, err) == (0, "")
    code, from_jsonl, _ = cli("mine", str(TRACES), "--tools", TOOLS, "--json")
    assert code == 0
    assert json.loads(from_otel) == json.loads(from_jsonl)


def test_a_bad_trace_line_is_one_line_with_file_and_line(cli: Cli, tmp_path: Path) -> None:
    bad = _bad_traces(tmp_path)
    code, out, err = cli("mine", str(bad), "--tools", TOOLS)
    assert code == 2
    assert out == ""
    assert err.splitlines()[0].startswith(f"dagwright: error: {bad}:2: [DW-E025] ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["mine", "x.jsonl"], "one of the arguments --tools --tools-manifest is required"),
        (["mine", "x.jsonl", "--tools", TOOLS, "--min-support", "0"], "at least 1"),
    ],
)
def test_usage_errors_exit_2(cli: Cli, argv: list[str], message: str) -> None:
    code, _, err = cli(*argv)
    assert code == 2
    assert message in err


def test_the_console_script_exits_0_with_the_report(tmp_path: Path) -> None:
    done = run_script("mine", "examples/traces", "--tools", TOOLS, "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("flow ")
    assert list(tmp_path.glob("*.flow.yaml"))


def test_the_console_script_exits_2_on_a_bad_trace(tmp_path: Path) -> None:
    bad = _bad_traces(tmp_path)
    done = run_script("mine", str(bad), "--tools", TOOLS)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"dagwright: error: {bad}:2: [DW-E025] ")

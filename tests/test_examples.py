"""The example flow files load, compile cleanly against the tools they name, and run.

Each example is loaded with ``load_flow``, its tools are imported from its own ``tools:``
section, and it runs in both lanes. The crash example kills a real process and is
finished by ``resume``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from dagwright import (
    ExecutionResult,
    Flow,
    FlowExecutor,
    FlowInputError,
    FlowRegistry,
    SQLiteCheckpointer,
    Tool,
    compile_flow,
    flow_json_schema,
    load_flow,
)
from dagwright.io import flow_source, import_tool_paths, lint_files
from tests.conftest import Lane

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
QUESTION = "How does dependency-driven scheduling keep workers busy?"


def load(name: str) -> Flow:
    """An example flow file, loaded."""
    return load_flow(EXAMPLES / name)


def tools_of(*flows: Flow) -> list[Tool]:
    """The tools the flows' ``tools:`` sections name, imported as ``run`` imports them."""
    found: list[Tool] = []
    for flow in flows:
        source = flow_source(flow)
        assert source is not None and source.tools
        found.extend(import_tool_paths(source.tools))
    return found


def pipeline() -> tuple[Flow, FlowRegistry, list[Tool]]:
    main, summarize = load("pipeline.flow.yaml"), load("summarize.flow.yaml")
    registry = FlowRegistry()
    registry.register(summarize)
    return main, registry, tools_of(main, summarize)


def test_every_example_file_is_valid_against_the_flow_schema() -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(flow_json_schema())
    files = sorted(EXAMPLES.glob("*.flow.yaml"))
    assert {f.name for f in files} >= {
        "pipeline.flow.yaml",
        "summarize.flow.yaml",
        "crash.flow.yaml",
    }
    import yaml

    for path in files:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
        assert not errors, f"{path.name}: {errors[0].message}"
        load_flow(path)


def test_the_example_files_lint_clean_with_and_without_their_tools() -> None:
    files = sorted(EXAMPLES.glob("*.flow.yaml"))
    flows = [load_flow(path) for path in files]
    with_tools = lint_files(files, tools=tools_of(*flows), strict=True)
    assert list(with_tools.diagnostics) == []
    assert not with_tools.file_errors and not with_tools.skipped
    assert with_tools.exit_code == 0
    without = lint_files(files)
    assert list(without.diagnostics) == [] and without.exit_code == 0


def test_the_pipeline_compiles_without_findings() -> None:
    main, registry, tools = pipeline()
    compiled = compile_flow(main, tools=tools, registry=registry, strict=True)
    assert list(compiled.diagnostics) == []
    assert compiled.required_inputs == ("question",)
    assert compiled.optional_inputs == ("limit",)


def test_the_pipeline_answers_in_both_lanes(lane: Lane) -> None:
    main, registry, tools = pipeline()
    with FlowExecutor(tools, registry=registry) as ex:
        result = lane(ex, main, {"question": QUESTION})
        reference = ex.run(main, {"question": QUESTION})
    assert result.success, result.error
    out = result.output
    assert out["limit"] == 3  # the input_schema default
    assert [hit["url"] for hit in out["results"]] == [
        "https://docs.example/dag-scheduling",
        "https://docs.example/moved",
    ]
    assert [page["url"] for page in out["pages"]] == ["https://docs.example/dag-scheduling"]
    assert out["fetch_errors"] == [
        {
            "index": 1,
            "error_type": "ConnectionError",
            "message": "https://docs.example/moved returned 404",
        }
    ]
    assert out["summary"].startswith("A scheduler that dispatches a step as soon as")
    assert out["sources"] == ["https://docs.example/dag-scheduling"]
    assert out["grade"] == "good" and out["confidence"] == 0.833
    assert [s.step_id for s in result.steps if s.index is None] == [
        "search",
        "fetch_all",
        "summarize",
        "score",
    ]
    assert result.digest == reference.digest


def test_a_question_without_hits_skips_the_summary(lane: Lane) -> None:
    main, registry, tools = pipeline()
    with FlowExecutor(tools, registry=registry) as ex:
        result = lane(ex, main, {"question": "zebras", "limit": 2})
    assert result.success
    assert result.output == {
        "question": "zebras",
        "limit": 2,
        "results": [],
        "pages": [],
        "fetch_errors": [],
    }
    statuses = {s.step_id: s.status for s in result.steps}
    assert statuses == {
        "search": "completed",
        "fetch_all": "completed",
        "summarize": "skipped",
        "score": "skipped",
    }


@pytest.mark.parametrize(
    ("inputs", "says"),
    [({}, "question: Field required"), ({"question": "q", "limit": 9}, "9 is greater than")],
)
def test_the_pipeline_checks_its_inputs(lane: Lane, inputs: dict[str, Any], says: str) -> None:
    main, registry, tools = pipeline()
    with FlowExecutor(tools, registry=registry) as ex, pytest.raises(FlowInputError) as info:
        lane(ex, main, inputs)
    assert says in info.value.message


_CRASHING_RUN = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from dagwright import FlowExecutor, SQLiteCheckpointer, load_flow
    from examples.crash_tools import TOOLS
    flow = load_flow(Path({root!r}) / "examples" / "crash.flow.yaml")
    with SQLiteCheckpointer({store!r}) as store, FlowExecutor(TOOLS, checkpointer=store) as ex:
        ex.run(flow, {inputs!r}, run_id="demo")
    print("not reached")
    """
)


def _resume(lane_name: str, ex: FlowExecutor, flow: Flow) -> ExecutionResult:
    if lane_name == "sync":
        return ex.resume("demo", flow)
    return asyncio.run(ex.aresume("demo", flow))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("lane_name", ["sync", "async"])
def test_the_crash_example_dies_once_and_resumes(tmp_path: Path, lane_name: str) -> None:
    flow = load("crash.flow.yaml")
    tools = tools_of(flow)
    inputs = {"text": "  hello   world ", "marker_dir": str(tmp_path / "marks")}
    store = str(tmp_path / "runs.sqlite")
    code = _CRASHING_RUN.format(root=str(ROOT), store=store, inputs=inputs)
    died = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert died.returncode == 1, died.stderr
    assert "not reached" not in died.stdout
    assert (tmp_path / "marks" / "crashed-once").exists()
    with (
        SQLiteCheckpointer(store) as checkpoints,
        FlowExecutor(tools, checkpointer=checkpoints) as ex,
    ):
        resumed = _resume(lane_name, ex, flow)
    assert resumed.success, resumed.error
    assert resumed.output["report"] == "done: HELLO WORLD"
    with FlowExecutor(tools) as ex:
        straight = ex.run(flow, inputs)  # the marker is there now: no crash
    assert resumed.output == straight.output
    assert resumed.digest == straight.digest


@pytest.mark.timeout(120)
def test_the_research_chain_script_still_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "research_chain.py"), "why", "journal"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "digest" in done.stdout.lower()


def test_the_example_tools_are_plain_functions_too() -> None:
    from examples.pipeline_tools import Hit, fetch, search

    hits = search(query="journal resume", limit=1).results
    assert [h.url for h in hits] == ["https://docs.example/checkpoints"]
    page = fetch(hit=Hit(url=hits[0].url, title=hits[0].title, score=1))
    assert page.title == "Journals beat snapshots"
    assert json.loads(page.model_dump_json())["url"] == hits[0].url


TRACES = EXAMPLES / "traces" / "research.jsonl"


@pytest.mark.timeout(120)
def test_the_recorded_traces_are_what_the_recording_script_writes(tmp_path: Path) -> None:
    fresh = tmp_path / "research.jsonl"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "record_traces.py"), str(fresh)],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert fresh.read_bytes() == TRACES.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["research.jsonl"]  # no temporary left


def test_the_recorded_traces_hold_eight_sessions_with_noise() -> None:
    from dagwright.traces import read_traces

    calls = read_traces(TRACES)
    sessions = sorted({call.session for call in calls})
    assert sessions == [f"research-{n:02d}" for n in range(1, 9)]
    failed = [call for call in calls if call.failed]
    assert {call.tool for call in failed} == {"fetch"}
    assert all("404" in (call.error or "") for call in failed)
    assert len({call.session for call in failed}) >= 2
    unrelated = [c for c in calls if c.tool == "search" and "release" in c.arguments["query"]]
    assert len(unrelated) >= 2


def test_the_flows_mined_from_the_traces_lint_clean_and_replay(tmp_path: Path) -> None:
    from dagwright import dump_flow, mine
    from dagwright.io import import_tools

    tools = import_tools(["examples.pipeline_tools"])
    mined = mine([TRACES], tools)
    assert [m.flow.name for m in mined] == [
        "search_then_each_fetch",
        "extract_then_compose_then_score",
    ]
    for each in mined:
        assert each.replay_matches is True, each.replay_note
        assert each.support == 8
        dump_flow(each.flow, tmp_path / f"{each.flow.name}.flow.yaml")
    report = lint_files([tmp_path], tools=tools)
    assert report.file_errors == ()
    assert list(report.diagnostics) == []

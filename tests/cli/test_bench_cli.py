"""``dagwright bench``: the report as text and JSON, the timeline file, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, run_script
from tests.cli.flows import write

TOOLS = ("--tools", "tests.bench.bench_tools")

SLOW_BRANCH = """\
format_version: 1
kind: dag
name: slow_branch
steps:
  - id: start
    tool: wait
    inputs: {ms: {literal: 20}}
    outputs: {start_ms: waited}
  - id: slow
    tool: wait
    inputs: {ms: {literal: 60}}
    outputs: {slow_ms: waited}
    depends_on: [start]
  - id: fast
    tool: wait
    inputs: {ms: {literal: 1}}
    outputs: {fast_ms: waited}
    depends_on: [start]
  - id: fetch_all
    over: items
    item: item
    tool: fetch_item
    error_policy: collect
    results: fetched
    errors: fetch_errors
    depends_on: [start]
  - id: end
    tool: wait
    inputs: {ms: {literal: 10}}
    outputs: {end_ms: waited}
    depends_on: [slow, fast, fetch_all]
"""

PAIR = """\
format_version: 1
kind: flow
name: pair
steps:
  - id: one
    tool: wait
    inputs: {ms: {literal: 10}}
    outputs: {one_ms: waited}
  - id: two
    tool: wait
    inputs: {ms: {literal: 10}}
    outputs: {two_ms: waited}
"""

OUTER = """\
format_version: 1
kind: dag
name: outer
steps:
  - id: inner
    flow: pair
  - id: after
    tool: wait
    inputs: {ms: {literal: 1}}
    outputs: {after_ms: waited}
    depends_on: [inner]
"""

FAILING = """\
format_version: 1
kind: dag
name: failing
steps:
  - id: boom
    tool: explode
    inputs: {n: {literal: 7}}
"""

DRIFTING = """\
format_version: 1
kind: dag
name: drifting
steps:
  - id: d
    tool: drift
    inputs: {n: {literal: 1}}
"""

ITEMS = '{"items": [1, 2, 3]}'


def test_the_report_names_the_figures_the_path_and_the_steps(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "slow.flow.yaml", SLOW_BRANCH)
    code, out, err = cli("bench", flow, *TOOLS, "--input", ITEMS, "--repeat", "3")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "bench slow_branch v1: 3 runs after 1 warm-up run, max_concurrency 8"
    assert lines[1].endswith("the same in all 4 runs")
    assert "critical path (3 of 3 runs): start -> slow -> end" in lines
    steps = [line.split() for line in lines if line.startswith(("  fetch_all[*]", "fetch_all"))]
    assert steps[0][:4] == ["fetch_all", "map", "fetch_item", "1"]
    assert steps[1][:3] == ["fetch_all[*]", "fetch_item", "3"]
    assert steps[1][-4:] == ["6", "completed,", "3", "failed"]  # item 3 fails every run


def test_json_is_the_whole_report(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "slow.flow.yaml", SLOW_BRANCH)
    code, out, err = cli("bench", flow, *TOOLS, "--input", ITEMS, "--repeat", "2",
                         "--warmup", "0", "--max-concurrency", "3", "--json")  # fmt: skip
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert (data["repeat"], data["warmup"], data["max_concurrency"]) == (2, 0, 3)
    assert data["deterministic"] is True and len(data["digests"]) == 1
    assert data["critical_path"]["steps"] == ["start", "slow", "end"]
    assert data["wall_s"]["p50"] >= data["critical_path_s"]["p50"] >= 0.09
    assert 0 < data["utilisation"]["p95"] <= 1
    rows = {row["path"]: row for row in data["steps"]}
    assert rows["fetch_all[*]"]["per_run"] == 3
    assert rows["fetch_all[*]"]["statuses"] == {"completed": 4, "failed": 2}
    assert [bar["path"] for bar in data["timeline"]][:6] == [
        "start", "slow", "fast", "fetch_all", "fetch_all[0]", "fetch_all[1]",
    ]  # fmt: skip
    assert data["timeline"][6]["error_message"] == "item 3 is gone"


def test_sub_flows_come_from_the_other_files(cli: Cli, tmp_path: Path) -> None:
    outer = write(tmp_path, "outer.flow.yaml", OUTER)
    pair = write(tmp_path, "pair.flow.yaml", PAIR)
    code, out, err = cli("bench", outer, pair, *TOOLS, "--repeat", "2", "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["critical_path"]["steps"] == ["inner/one", "inner/two", "after"]
    assert [row["path"] for row in data["steps"]] == ["inner", "inner/one", "inner/two", "after"]


def test_timeline_writes_the_page(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "slow.flow.yaml", SLOW_BRANCH)
    page = tmp_path / "run.html"
    code, out, err = cli("bench", flow, *TOOLS, "--input", ITEMS, "--repeat", "1",
                         "--timeline", str(page))  # fmt: skip
    assert (code, err) == (0, "")
    assert out.endswith(f"\ntimeline of the median run: {page}\n")
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    for path in ("start", "slow", "fast", "fetch_all", "fetch_all[0]", "end"):
        assert f'data-path="{path}"' in text
    assert 'data-path="fetch_all[2]" data-status="failed"' in text


def test_a_failed_run_is_one_line_and_exit_1(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "failing.flow.yaml", FAILING)
    page = tmp_path / "run.html"
    code, out, err = cli("bench", flow, *TOOLS, "--timeline", str(page))
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert lines[0].startswith("dagwright: error: [DW-E007] warm-up run 1 of 1 of flow 'failing'")
    assert "step 'boom' failed: [DW-E101] ValueError: cannot handle 7" in lines[0]
    assert lines[1].startswith("  hint: ")
    assert len(lines) == 2
    assert not page.exists()


def test_a_nondeterministic_flow_is_a_warning_and_still_a_report(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "drifting.flow.yaml", DRIFTING)
    code, out, err = cli("bench", flow, *TOOLS, "--repeat", "2")
    assert code == 0
    assert err == (
        "dagwright: warning: the flow is nondeterministic: its 3 runs gave 3 different "
        "digests (the figures are still of these runs)\n"
    )
    assert "digests: 3 different in 3 runs: the flow is nondeterministic" in out
    code, out, err = cli("bench", flow, *TOOLS, "--repeat", "2", "--json")
    assert code == 0 and err.startswith("dagwright: warning: the flow is nondeterministic")
    assert json.loads(out)["deterministic"] is False


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (("--repeat", "0"), "--repeat must be at least 1, got 0"),
        (("--repeat", "-3"), "--repeat must be at least 1, got -3"),
        (("--warmup", "-1"), "--warmup must be at least 0, got -1"),
        (("--max-concurrency", "0"), "--max-concurrency must be at least 1, got 0"),
        (("--repeat", "many"), "argument --repeat: invalid int value: 'many'"),
        (("--timeline", "/no/such/dir/run.html"), "--timeline: the directory /no/such/dir"),
    ],
)
def test_bad_numbers_are_usage_errors(
    cli: Cli, tmp_path: Path, argv: tuple[str, ...], words: str
) -> None:
    flow = write(tmp_path, "slow.flow.yaml", SLOW_BRANCH)
    code, out, err = cli("bench", flow, *TOOLS, "--input", ITEMS, *argv)
    assert (code, out) == (2, "")
    assert words in err


def test_bad_input_is_one_line_and_exit_2(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "slow.flow.yaml", SLOW_BRANCH)
    code, out, err = cli("bench", flow, *TOOLS, "--input", '{"items": ')
    assert (code, out) == (2, "")
    assert err.startswith("dagwright: error: [DW-E004] the run's inputs are not JSON")
    code, out, err = cli("bench", flow, *TOOLS)  # no items
    assert (code, out) == (2, "")
    assert err.startswith("dagwright: error: [DW-E004] ") and "'items'" in err
    code, out, err = cli("bench", str(tmp_path / "missing.flow.yaml"), *TOOLS)
    assert (code, out) == (2, "")
    assert err.startswith("dagwright: error: ") and "missing.flow.yaml" in err
    assert len(err.splitlines()) <= 2


def test_the_console_script_runs_it(tmp_path: Path) -> None:
    flow = write(tmp_path, "slow.flow.yaml", SLOW_BRANCH)
    done = run_script("bench", flow, *TOOLS, "--input", ITEMS, "--repeat", "1", "--warmup", "0",
                      timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("bench slow_branch v1: 1 run after 0 warm-up runs")

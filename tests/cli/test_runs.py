"""``dagwright runs list | show | delete``: reading the store, never creating one."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from pathlib import Path

from dagwright import DAGFlow, FlowExecutor, MapStep, SQLiteCheckpointer, Step
from dagwright.checkpoint import Owner
from dagwright.checkpoint import lease as leases
from tests.cli.cli_tools import TOOLS
from tests.cli.conftest import Cli, run_script, sums_flow


def test_list_shows_the_newest_run_first(cli: Cli, store_with_runs: Path) -> None:
    code, out, err = cli("runs", "list", "--store", str(store_with_runs))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["run", "id", "flow", "version", "status", "started", "ended"]
    assert [line.split()[0] for line in lines[1:]] == ["second", "first"]
    assert all(line.split()[1:4] == ["sums", "1", "succeeded"] for line in lines[1:])


def test_list_as_json(cli: Cli, store_with_runs: Path) -> None:
    code, out, _ = cli("runs", "list", "--store", str(store_with_runs), "--json")
    data = json.loads(out)
    assert code == 0
    assert [run["run_id"] for run in data["runs"]] == ["second", "first"]
    assert data["runs"][0]["inputs"] == {"n": 4}
    assert data["unreadable"] == []


def test_list_reports_unreadable_runs_and_lists_the_rest(cli: Cli, store_with_runs: Path) -> None:
    with sqlite3.connect(store_with_runs) as db:
        db.execute("UPDATE runs SET header = 'not json' WHERE run_id = 'first'")
    code, out, _ = cli("runs", "list", "--store", str(store_with_runs))
    assert code == 0
    assert "second" in out
    assert "1 unreadable run(s):" in out
    assert "  first: [DW-E015] run 'first' in" in out


def test_show_prints_the_header_and_the_step_records(cli: Cli, store_with_runs: Path) -> None:
    code, out, err = cli("runs", "show", "second", "--store", str(store_with_runs))
    assert (code, err) == (0, "")
    assert "run      second" in out
    assert "flow     sums v1" in out
    assert "status   succeeded" in out
    assert 'inputs   {"n": 4}' in out
    assert "lease    none" in out
    steps = out.split("\n\n", 1)[1].splitlines()
    assert steps[0].split() == ["step", "status", "tool", "attempts", "duration", "error"]
    assert [line.split()[:4] for line in steps[1:]] == [
        ["double", "completed", "double", "1"],
        ["square", "completed", "square", "1"],
        ["add", "completed", "add", "1"],
    ]


def test_show_as_json(cli: Cli, store_with_runs: Path) -> None:
    code, out, _ = cli("runs", "show", "first", "--store", str(store_with_runs), "--json")
    data = json.loads(out)
    assert code == 0
    assert data["header"]["status"] == "succeeded"
    assert [step["step_id"] for step in data["steps"]] == ["double", "square", "add"]
    assert data["steps"][2]["outputs"] == {"total": 15}
    assert data["lease"] is None


def test_an_unknown_run_is_one_line_and_exit_2(cli: Cli, store_with_runs: Path) -> None:
    for action in ("show", "delete"):
        code, out, err = cli("runs", action, "nope", "--store", str(store_with_runs))
        assert (code, out) == (2, "")
        assert err.splitlines() == [
            f"dagwright: error: [DW-E009] no checkpoint for run 'nope' in {store_with_runs}",
            f"  hint: see the stored runs with `dagwright runs list --store {store_with_runs}`",
        ]


def test_a_missing_store_is_an_error_and_is_not_created(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "runs.sqlite"
    for argv in (["list"], ["show", "r"], ["delete", "r"]):
        code, out, err = cli("runs", *argv, "--store", str(missing))
        assert (code, out) == (2, "")
        assert err.splitlines()[0] == f"dagwright: error: [DW-E011] no run store at {missing}"
    assert not missing.parent.exists()


def test_a_file_that_is_not_a_store_is_dw_e015(cli: Cli, tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE photos (id INTEGER)")
    code, _, err = cli("runs", "list", "--store", str(other))
    assert code == 2
    assert len(err.splitlines()) <= 2
    assert err.startswith("dagwright: error: [DW-E015] ")
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a database " * 100, encoding="utf-8")
    code, _, err = cli("runs", "list", "--store", str(text))
    assert code == 2
    assert err.startswith("dagwright: error: [DW-E015] ")
    assert "Traceback" not in err


def test_delete_forgets_the_run(cli: Cli, store_with_runs: Path) -> None:
    code, out, _ = cli("runs", "delete", "first", "--store", str(store_with_runs))
    assert (code, out.strip()) == (0, f"deleted run first from {store_with_runs}")
    _, out, _ = cli("runs", "list", "--store", str(store_with_runs), "--json")
    assert [run["run_id"] for run in json.loads(out)["runs"]] == ["second"]


def test_delete_refuses_a_run_a_live_owner_holds(cli: Cli, store_with_runs: Path) -> None:
    parent = os.getppid()  # a live process on this host, not this one
    owner = Owner("f" * 16, leases._HOST, parent, leases._process_started(parent))
    store = SQLiteCheckpointer(store_with_runs)
    try:
        store.acquire("first", owner, time.time())
    finally:
        store.close()
    code, _, err = cli("runs", "delete", "first", "--store", str(store_with_runs))
    assert code == 2
    assert err.startswith("dagwright: error: [DW-E012] ")
    assert f"pid {parent}" in err
    _, out, _ = cli("runs", "show", "first", "--store", str(store_with_runs))
    assert "status   running" in out
    assert f"lease    live: pid {parent}" in out


def test_runs_through_the_console_script(store_with_runs: Path) -> None:
    done = run_script("runs", "list", "--store", str(store_with_runs))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].startswith("second ")
    done = run_script("runs", "show", "gone", "--store", str(store_with_runs))
    assert done.returncode == 2
    assert done.stderr.startswith("dagwright: error: [DW-E009] ")


def failing_store(tmp_path: Path) -> Path:
    """A store holding run ``f1`` of ``sums`` plus a ``publish`` step that fails."""
    path = tmp_path / "runs.sqlite"
    flow = DAGFlow(
        "publishing",
        [
            *sums_flow().steps,
            Step(id="publish", tool="fail", depends_on="add", outputs={"published": "total"}),
        ],
    )
    store = SQLiteCheckpointer(path)
    try:
        with FlowExecutor(TOOLS, checkpointer=store) as ex:
            result = ex.run(flow, {"n": 3}, run_id="f1")
    finally:
        store.close()
    assert not result.success
    return path


def test_show_says_which_step_failed_with_what_error(cli: Cli, tmp_path: Path) -> None:
    store = failing_store(tmp_path)
    code, out, err = cli("runs", "show", "f1", "--store", str(store))
    assert (code, err) == (0, "")
    header, steps = out.split("\n\n", 1)
    assert "status   failed" in header
    assert "error    publish: [DW-E101] ValueError: cannot publish 15" in header
    assert re.search(r"raised   tests/cli/cli_tools\.py:\d+ in fail: raise ValueError\(", header)
    rows = steps.splitlines()
    assert [row.split()[0] for row in rows[1:]] == ["double", "square", "add", "publish"]
    publish = rows[-1]
    assert publish.split()[:4] == ["publish", "failed", "fail", "1"]
    assert re.search(
        r"\[DW-E101\] ValueError: cannot publish 15 \(at tests/cli/cli_tools\.py:\d+ in fail\)$",
        publish,
    )


def test_show_as_json_holds_the_failed_record(cli: Cli, tmp_path: Path) -> None:
    store = failing_store(tmp_path)
    code, out, _ = cli("runs", "show", "f1", "--store", str(store), "--json")
    data = json.loads(out)
    assert code == 0
    assert data["statuses"]["publish"] == "failed"
    [publish] = [step for step in data["steps"] if step["step_id"] == "publish"]
    assert publish["error"]["type"] == "ValueError"
    assert "raise ValueError" in publish["error"]["traceback"]
    assert [attempt["status"] for attempt in publish["attempts"]] == ["failed"]


def test_show_of_a_succeeded_run_names_no_error(cli: Cli, store_with_runs: Path) -> None:
    _, out, _ = cli("runs", "show", "first", "--store", str(store_with_runs))
    assert "error " not in out.split("\n\n", 1)[0]


def test_show_of_a_failed_map_names_the_failed_instance(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    flow = DAGFlow(
        "fanned",
        [
            MapStep(
                id="fan", over="totals", tool="fail", item="total", results="r", max_concurrency=1
            )
        ],
    )
    store = SQLiteCheckpointer(path)
    try:
        with FlowExecutor(TOOLS, checkpointer=store, max_concurrency=1) as ex:
            assert not ex.run(flow, {"totals": [7, 8]}, run_id="m1").success
    finally:
        store.close()
    code, out, _ = cli("runs", "show", "m1", "--store", str(path))
    header, steps = out.split("\n\n", 1)
    assert code == 0
    assert "error    fan[0]: [DW-E101] ValueError: cannot publish 7" in header
    assert [row.split()[:2] for row in steps.splitlines()[1:]] == [
        ["fan", "failed"],
        ["fan[0]", "failed"],
    ]

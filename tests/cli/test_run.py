"""``dagwright run``: plain progress, ``--json``, stores, resume, and its exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, run_script
from tests.cli.flows import BRANCHES, FAILING, OUTER, SUMS, SUMS_WITH_TOOLS, write

TOOLS = ("--tools", "tests.cli.cli_tools")


def test_a_run_prints_a_line_per_step_and_a_final_line(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    store = tmp_path / "runs.sqlite"
    code, out, err = cli("run", flow, *TOOLS, "--input", '{"n": 3}', "--store", str(store),
                         "--run-id", "r1")  # fmt: skip
    assert (code, err) == (0, "")
    lines = out.splitlines()
    # double and square run at once: either may finish first
    assert sorted(line.split()[1] for line in lines[:2]) == ["double", "square"]
    assert all(re.fullmatch(r"\[[12]/3\] \w+ completed \d+\.\d\ds", line) for line in lines[:2])
    assert re.fullmatch(r"\[3/3\] add completed \d+\.\d\ds", lines[2])
    assert re.fullmatch(r"run r1 succeeded in \d+\.\d\ds, digest [0-9a-f]{64}", lines[3])
    assert store.exists()


def test_the_default_store_is_made_in_dot_dagwright(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("run", flow, *TOOLS, "--input", '{"n": 3}', "--run-id", "d1")
    assert code == 0, err
    assert (tmp_path / ".dagwright" / "runs.sqlite").is_file()
    code, out, _ = cli("runs", "list")
    assert code == 0
    assert out.splitlines()[1].startswith("d1 ")


def test_an_explicit_store_in_a_missing_directory_is_refused(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    store = tmp_path / "no" / "such" / "runs.sqlite"
    code, out, err = cli("run", flow, *TOOLS, "--input", '{"n": 3}', "--store", str(store))
    assert (code, out) == (2, "")
    assert err.startswith("dagwright: error: [DW-E011] ")
    assert not (tmp_path / "no").exists()


def test_json_prints_only_the_result_on_stdout(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    store = str(tmp_path / "runs.sqlite")
    code, out, err = cli("run", flow, *TOOLS, "--input", '{"n": 3}', "--store", store, "--json",
                         "--run-id", "j1")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert list(data) == [
        "run_id", "flow", "version", "success", "status", "digest", "output", "error", "steps",
    ]  # fmt: skip
    assert data["run_id"] == "j1"
    assert (data["flow"], data["version"], data["success"]) == ("sums", "1", True)
    assert data["output"] == {"n": 3, "doubled": 6, "squared": 9, "total": 15}
    assert [step["step_id"] for step in data["steps"]] == ["double", "square", "add"]
    assert data["error"] is None
    assert "[3/3] add completed" in err  # progress went to stderr
    assert err.splitlines()[-1].startswith("run j1 succeeded")


def test_a_failed_run_exits_1_and_says_which_step_failed(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "failing.flow.yaml", FAILING)
    store = str(tmp_path / "runs.sqlite")
    code, out, err = cli("run", flow, *TOOLS, "--input", '{"n": 3}', "--store", store,
                         "--run-id", "f1")  # fmt: skip
    assert code == 1
    # the flow's warnings come first, as diagnostics with their positions
    assert err.splitlines()[0].startswith(f"dagwright: warning: {flow}:13:5: DW301 warning")
    lines = out.splitlines()
    assert re.fullmatch(
        r"\[4/4\] publish failed \d+\.\d\ds: \[DW-E101\] ValueError: cannot publish 15", lines[-2]
    )
    assert re.fullmatch(
        r"run f1 failed in \d+\.\d\ds at step 'publish': \[DW-E101\] ValueError: cannot "
        r"publish 15",
        lines[-1],
    )
    code, out, _ = cli("run", flow, *TOOLS, "--input", '{"n": 3}', "--store", store, "--json")
    data = json.loads(out)
    assert (code, data["success"], data["status"]) == (1, False, "failed")
    assert data["error"]["step_id"] == "publish"
    assert data["error"]["type"] == "ValueError"


def test_inputs_from_a_file_and_bad_inputs(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    store = str(tmp_path / "runs.sqlite")
    good = write(tmp_path, "in.json", '{"n": 5}')
    code, out, _ = cli("run", flow, *TOOLS, "--input", f"@{good}", "--store", store, "--json")
    assert (code, json.loads(out)["output"]["total"]) == (0, 35)
    bad = write(tmp_path, "bad.json", '{"n": 5,,}')
    code, out, err = cli("run", flow, *TOOLS, "--input", f"@{bad}", "--store", store)
    assert (code, out) == (2, "")
    assert err.splitlines()[0].startswith(f"dagwright: error: [DW-E004] {bad}:1:9: ")
    code, _, err = cli("run", flow, *TOOLS, "--input", "[1, 2]", "--store", store)
    assert code == 2
    assert "[DW-E004] the run's inputs must be a JSON object, got list" in err
    code, _, err = cli("run", flow, *TOOLS, "--input", f"@{tmp_path / 'none.json'}")
    assert code == 2
    assert err.startswith("dagwright: error: ") and "No such file" in err
    assert "Traceback" not in err


def test_unreadable_flows_and_tools_are_one_line_exit_2(cli: Cli, tmp_path: Path) -> None:
    store = str(tmp_path / "runs.sqlite")
    code, _, err = cli("run", str(tmp_path / "missing.yaml"), *TOOLS, "--store", store)
    assert code == 2
    assert err.startswith("dagwright: error: ")
    assert "Traceback" not in err
    broken = write(tmp_path, "broken.flow.yaml", SUMS.replace("steps:", "stpes:"))
    code, _, err = cli("run", broken, *TOOLS, "--store", store)
    assert code == 2
    assert err.startswith(f"dagwright: error: {broken}:")
    assert "[DW-E018]" in err
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    code, _, err = cli("run", flow, "--tools", "no_such_module_here", "--store", store)
    assert code == 2
    assert "[DW-E019]" in err.splitlines()[0]


def test_a_flow_that_does_not_compile_lists_its_errors(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    store = str(tmp_path / "runs.sqlite")
    code, _, err = cli("run", flow, "--store", store, "--input", '{"n": 1}')  # no tools
    lines = err.splitlines()
    assert code == 2
    assert lines[0] == "dagwright: error: [DW-E002] flow 'sums' has 3 error(s):"
    assert all(" error " in line for line in lines[1:4])
    assert lines[-1].startswith("  hint: ")


def test_tools_from_the_files_tools_section(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS_WITH_TOOLS)
    code, out, err = cli("run", flow, "--input", '{"n": 2}', "--json",
                         "--store", str(tmp_path / "s.sqlite"))  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["output"]["total"] == 8


def test_sub_flow_files_are_registered(cli: Cli, tmp_path: Path) -> None:
    outer = write(tmp_path, "outer.flow.yaml", OUTER)
    branches = write(tmp_path, "branches.flow.yaml", BRANCHES)
    code, out, err = cli("run", outer, branches, *TOOLS, "--input", '{"n": 3}', "--json",
                         "--store", str(tmp_path / "s.sqlite"))  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["output"]["total"] == 15
    assert [step["step_id"] for step in data["steps"][0]["children"]] == ["double", "square"]


def test_a_taken_run_id_is_refused_with_the_command_that_resumes_it(
    cli: Cli, tmp_path: Path
) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    store = str(tmp_path / "runs.sqlite")
    argv = ("run", flow, *TOOLS, "--input", '{"n": 3}', "--store", store, "--run-id", "once")
    assert cli(*argv)[0] == 0
    code, _, err = cli(*argv)
    assert code == 2
    assert err.splitlines()[0].startswith("dagwright: error: [DW-E013] run 'once' already")
    assert f"dagwright run {flow} --tools tests.cli.cli_tools --resume once --store {store}" in err


def test_resuming_a_finished_run_returns_its_result(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    store = str(tmp_path / "runs.sqlite")
    _, first, _ = cli("run", flow, *TOOLS, "--input", '{"n": 3}', "--store", store, "--json",
                      "--run-id", "done")  # fmt: skip
    code, again, _ = cli("run", flow, *TOOLS, "--resume", "done", "--store", store, "--json")
    assert code == 0
    assert json.loads(again)["digest"] == json.loads(first)["digest"]


def test_resume_never_creates_a_store(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    store = tmp_path / "runs.sqlite"
    code, _, err = cli("run", flow, *TOOLS, "--resume", "x", "--store", str(store))
    assert code == 2
    assert err.startswith(f"dagwright: error: [DW-E011] no run store at {store}")
    assert not store.exists()


@pytest.mark.timeout(120)
def test_run_through_the_console_script_exits_0_1_and_2(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.sqlite")
    good = write(tmp_path, "sums.flow.yaml", SUMS)
    done = run_script("run", good, *TOOLS, "--input", '{"n": 3}', "--store", store)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("run ")
    failing = write(tmp_path, "failing.flow.yaml", FAILING)
    done = run_script("run", failing, *TOOLS, "--input", '{"n": 3}', "--store", store)
    assert done.returncode == 1, done.stderr
    assert " failed in " in done.stdout.splitlines()[-1]
    done = run_script("run", good, *TOOLS, "--input", "{nope", "--store", store)
    assert done.returncode == 2
    assert done.stderr.startswith("dagwright: error: [DW-E004] ")
    assert "Traceback" not in done.stderr


def test_resume_refuses_an_unknown_run_and_a_changed_flow(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    store = str(tmp_path / "runs.sqlite")
    assert cli("run", flow, *TOOLS, "--input", '{"n": 3}', "--store", store,
               "--run-id", "kept")[0] == 0  # fmt: skip
    code, _, err = cli("run", flow, *TOOLS, "--resume", "other", "--store", store)
    assert code == 2
    assert err.splitlines() == [
        f"dagwright: error: [DW-E009] no checkpoint for run 'other' in {store}",
        f"  hint: see the stored runs with `dagwright runs list --store {store}`",
    ]
    write(tmp_path, "sums.flow.yaml", SUMS.replace("tool: add\n", "tool: add\n    retry: "
                                                  "{max_attempts: 2}\n"))  # fmt: skip
    code, _, err = cli("run", flow, *TOOLS, "--resume", "kept", "--store", store)
    assert code == 2
    assert err.startswith("dagwright: error: [DW-E010] run 'kept' was checkpointed with another")


def test_a_tool_that_exits_the_process_leaves_the_run_resumable(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "leaves.flow.yaml", FAILING.replace("tool: fail", "tool: leave"))
    store = str(tmp_path / "runs.sqlite")
    code, _, err = cli("run", flow, *TOOLS, "--input", '{"n": 3}', "--store", store,
                       "--run-id", "gone")  # fmt: skip
    assert code == 3  # the tool's own exit code
    assert "dagwright: a tool exited the process (exit code 3): run gone stopped and was " in err
    assert f"--resume gone --store {store}" in err
    code, out, _ = cli("runs", "show", "gone", "--store", store)
    assert "status   interrupted" in out

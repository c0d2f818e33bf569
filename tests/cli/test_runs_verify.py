"""``dagwright runs verify RUN_ID [FILES...]`` in process: the replay check's lines, JSON
and exit codes (0 reproduces, 1 diverges, 2 unusable input); the store is only read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT, Cli
from tests.cli.flows import BRANCHES, OUTER, SUMS, write

TOOLS = ("--tools", "tests.cli.cli_tools")

# A tool whose output is read from a file next to it, so a test can change it.
READING = '''\
from pathlib import Path

from dagwright import tool

HERE = Path(__file__).parent


@tool
def offset(n: int) -> int:
    """n plus the number in offset.txt."""
    return n + int((HERE / "offset.txt").read_text())
'''

OFFSET_FLOW = """\
format_version: 1
kind: flow
name: offsets
version: "1"
steps:
  - id: shift
    tool: offset
    over: ns
    item: n
    results: shifted
"""


def test_a_run_that_reproduces_exits_0(cli: Cli, store_with_runs: Path, tmp_path: Path) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    code, out, err = cli("runs", "verify", "second", flow, *TOOLS, "--store", str(store_with_runs))
    assert (code, err) == (0, "")
    assert out == "run second reproduces its 3 recorded steps (0 reused)\n"


def test_sub_flow_files_are_loaded_alongside(cli: Cli, tmp_path: Path) -> None:
    outer = write(tmp_path, "outer.flow.yaml", OUTER)
    branches = write(tmp_path, "branches.flow.yaml", BRANCHES)
    store = str(tmp_path / "runs.sqlite")
    code, _, _ = cli("run", outer, branches, *TOOLS, "--store", store, "--run-id", "o1",
                     "--input", '{"n": 3}', "--no-progress")  # fmt: skip
    assert code == 0
    # the order of the files does not matter: the run's flow is found by its name
    code, out, _ = cli("runs", "verify", "o1", branches, outer, *TOOLS, "--store", store)
    assert code == 0
    assert out == "run o1 reproduces its 4 recorded steps (0 reused)\n"


def recorded_offsets(cli: Cli, tmp_path: Path) -> tuple[str, str, Path]:
    """A run of OFFSET_FLOW with offset 1; the flow file, the store, the offset file."""
    (tmp_path / "reading_tools.py").write_text(READING, encoding="utf-8")
    offset = tmp_path / "offset.txt"
    offset.write_text("1", encoding="utf-8")
    flow = write(tmp_path, "offsets.flow.yaml", OFFSET_FLOW)
    store = str(tmp_path / "runs.sqlite")
    code, _, err = cli("run", flow, "--tools", str(tmp_path / "reading_tools.py"),
                       "--store", store, "--run-id", "r1", "--input", '{"ns": [10, 20, 30]}',
                       "--no-progress")  # fmt: skip
    assert code == 0, err
    return flow, store, offset


def test_a_divergence_exits_1_and_says_where(cli: Cli, tmp_path: Path) -> None:
    flow, store, offset = recorded_offsets(cli, tmp_path)
    offset.write_text("2", encoding="utf-8")
    tools = ("--tools", str(tmp_path / "reading_tools.py"))
    code, out, err = cli("runs", "verify", "r1", flow, *tools, "--store", store)
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        "run r1 diverges at shift[0]",
        "  step      shift",
        "  index     [0]",
        "  field     offset",
        "  recorded  11",
        "  new       12",
    ]


def test_json_is_the_report_with_a_summary_of_the_replay(cli: Cli, tmp_path: Path) -> None:
    flow, store, offset = recorded_offsets(cli, tmp_path)
    offset.write_text("5", encoding="utf-8")
    tools = ("--tools", str(tmp_path / "reading_tools.py"))
    code, out, _ = cli("runs", "verify", "r1", flow, *tools, "--store", store, "--json")
    assert code == 1
    data = json.loads(out)
    assert set(data) == {
        "run_id", "flow", "version", "ok", "divergence", "compared", "reused", "withheld",
        "unreached", "result",
    }  # fmt: skip
    assert (data["run_id"], data["flow"], data["ok"], data["compared"]) == ("r1", "offsets",
                                                                            False, 4)  # fmt: skip
    divergence = data["divergence"]
    assert (divergence["path"], divergence["index"], divergence["field"]) == (["shift", 0], [0],
                                                                              "offset")  # fmt: skip
    assert (divergence["recorded"], divergence["new"]) == (11, 15)
    assert set(data["result"]) == {"success", "digest", "error"}
    assert data["result"]["success"] is True


def test_the_store_is_left_as_it_was(cli: Cli, tmp_path: Path) -> None:
    flow, store, offset = recorded_offsets(cli, tmp_path)
    before = Path(store).read_bytes()
    offset.write_text("3", encoding="utf-8")
    tools = ("--tools", str(tmp_path / "reading_tools.py"))
    code, _, _ = cli("runs", "verify", "r1", flow, *tools, "--store", store)
    assert code == 1
    _, shown, _ = cli("runs", "show", "r1", "--store", store, "--json")
    assert json.loads(shown)["header"]["status"] == "succeeded"
    assert Path(store).read_bytes() == before


def test_an_unknown_run_exits_2_with_the_command_to_list_runs(
    cli: Cli, store_with_runs: Path, tmp_path: Path
) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    code, out, err = cli("runs", "verify", "nope", flow, *TOOLS, "--store", str(store_with_runs))
    assert (code, out) == (2, "")
    assert "[DW-E009] no checkpoint for run 'nope'" in err
    assert f"`dagwright runs list --store {store_with_runs}`" in err


def test_without_the_flow_file_it_says_to_pass_it(cli: Cli, store_with_runs: Path) -> None:
    code, _, err = cli("runs", "verify", "first", *TOOLS, "--store", str(store_with_runs))
    assert code == 2
    assert "[DW-E003]" in err
    assert "hint: pass the run's flow file and its sub-flow files" in err


def test_a_changed_flow_file_exits_2(cli: Cli, store_with_runs: Path, tmp_path: Path) -> None:
    changed = write(tmp_path, "sums.flow.yaml", SUMS + "    when: doubled > -1\n")
    code, _, err = cli("runs", "verify", "first", changed, *TOOLS, "--store", str(store_with_runs))
    assert code == 2
    assert "[DW-E010]" in err
    assert "hint: verify with the flow and tools the run started with" in err


def test_a_missing_store_exits_2_and_is_not_created(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    code, _, err = cli("runs", "verify", "first", flow, *TOOLS)
    assert code == 2
    assert "[DW-E011] no checkpoint store at .dagwright/runs.sqlite" in err
    assert not (tmp_path / ".dagwright").exists()


def test_the_documented_line_is_what_it_prints(cli: Cli, tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    store = str(tmp_path / "runs.sqlite")
    files = ("examples/pipeline.flow.yaml", "examples/summarize.flow.yaml")
    question = '{"question": "How does dependency-driven scheduling keep workers busy?"}'
    code, _, _ = cli("run", *files, "--run-id", "docs-pipeline", "--input", question,
                     "--store", store, "--no-progress")  # fmt: skip
    assert code == 0
    code, out, _ = cli("runs", "verify", "docs-pipeline", *files, "--store", store)
    assert code == 0
    assert f"$ dagwright runs verify docs-pipeline {' '.join(files)}\n{out}```" in doc

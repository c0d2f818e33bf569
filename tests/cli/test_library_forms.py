"""What the command line prints comes from the library: ``--json`` is the result's
``to_dict()``, reading commands open stores without making them, warnings are the
compiler's diagnostics, each once."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import tool
from dagwright.events import Event
from dagwright.results import ExecutionResult
from tests.cli.conftest import Cli
from tests.cli.flows import FAILING, SUMS, write

TOOLS = ("--tools", "tests.cli.cli_tools")


@pytest.mark.parametrize("text", [SUMS, FAILING], ids=["succeeded", "failed"])
def test_run_json_prints_exactly_the_results_to_dict(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    made: list[dict[str, Any]] = []
    original = ExecutionResult.to_dict

    def spy(self: ExecutionResult) -> dict[str, Any]:
        data = original(self)
        made.append(data)
        return data

    monkeypatch.setattr(ExecutionResult, "to_dict", spy)
    flow = write(tmp_path, "f.flow.yaml", text)
    store = str(tmp_path / "runs.sqlite")
    code, out, _ = cli("run", flow, *TOOLS, "--input", '{"n": 3}', "--store", store, "--json")
    assert code == (0 if text == SUMS else 1)
    assert len(made) == 1
    assert json.loads(out) == made[0]
    assert out == json.dumps(made[0], indent=2, ensure_ascii=False) + "\n"


FAIL_ON: set[int] = set()


class Echoed(BaseModel):
    echoed: int


@tool
def echo(n: int) -> Echoed:
    """Returns its item; fails for the items in FAIL_ON."""
    if n in FAIL_ON:
        raise ValueError(f"not {n}")
    return Echoed(echoed=n)


POINTED = """\
format_version: 1
kind: dag
name: pointed
version: "1"
steps:
  - id: each
    over: /batch/items
    item: n
    tool: echo
    results: echoed
    max_concurrency: 1
"""

HERE = ("--tools", "tests.cli.test_library_forms")


def test_progress_counts_the_items_of_an_over_given_as_a_json_pointer(tmp_path: Path) -> None:
    from dagwright import FlowExecutor, load_flow
    from dagwright.cli._progress import Tracker

    flow = load_flow(POINTED)
    tracker = Tracker(flow)
    seen = []
    with FlowExecutor([echo], max_concurrency=1) as ex:
        for event in ex.stream(flow, {"batch": {"items": [7, 8, 9]}}):
            if isinstance(event, Event):
                tracker.event(event)
                seen += [instances for _, _, instances in tracker.snapshot()[1]]
    assert seen[0] == "0/3"
    assert seen[-1] == "3/3"
    assert all(text.endswith("/3") for text in seen)


def test_a_resumed_map_counts_its_restored_instances(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "pointed.flow.yaml", POINTED)
    store = str(tmp_path / "runs.sqlite")
    inputs = json.dumps({"batch": {"items": [1, 2, 3, 4, 5]}})
    FAIL_ON.add(3)
    try:
        code, out, _ = cli("run", flow, *HERE, "--input", inputs, "--store", store,
                           "--run-id", "p1")  # fmt: skip
    finally:
        FAIL_ON.clear()
    assert code == 1
    assert "[1/1] each failed" in out
    # items 1 and 2 are in the journal; the resume runs 3, 4 and 5 and counts all five
    code, out, err = cli("run", flow, *HERE, "--resume", "p1", "--store", store)
    assert code == 0, err
    assert re.fullmatch(r"\[1/1\] each completed \d+\.\d\ds \(5 instances\)", out.splitlines()[0])


def test_command_line_error_trades_the_python_hints_for_commands() -> None:
    from dagwright.cli._errors import command_line_error
    from dagwright.errors import CheckpointNotFoundError, FlowInputError, RunExistsError

    unknown = CheckpointNotFoundError(
        "no checkpoint for run 'x' in s", hint="list stored runs with checkpointer.runs()"
    )
    rewritten = command_line_error(unknown, store="my runs.sqlite")
    assert type(rewritten) is CheckpointNotFoundError
    assert (rewritten.code, rewritten.message) == ("DW-E009", unknown.message)
    assert rewritten.hint == (
        "see the stored runs with `dagwright runs list --store 'my runs.sqlite'`"
    )
    exists = RunExistsError(
        "run 'r' already has a checkpoint in s",
        hint="resume it with executor.resume(run_id), or pick another run_id",
        path="s",
        run_id="r",
    )
    rewritten = command_line_error(exists, store="s", resume="dagwright run f.yaml --resume r")
    assert type(rewritten) is RunExistsError
    assert (rewritten.message, rewritten.path, rewritten.run_id) == (exists.message, "s", "r")
    assert rewritten.hint == (
        "finish it with `dagwright run f.yaml --resume r`, or pick another --run-id"
    )
    assert command_line_error(exists, store="s") is exists  # no command to offer
    other = FlowInputError("bad", hint="fix it")
    assert command_line_error(other, store="s") is other


def test_no_command_shows_a_python_hint_for_an_unknown_or_taken_run(
    cli: Cli, tmp_path: Path
) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    store = str(tmp_path / "runs.sqlite")
    code, _, err = cli("run", flow, *TOOLS, "--input", '{"n": 1}', "--store", store,
                       "--run-id", "r1")  # fmt: skip
    assert code == 0, err
    listing = f"  hint: see the stored runs with `dagwright runs list --store {store}`"
    for argv in (
        ["runs", "show", "nope", "--store", store],
        ["runs", "delete", "nope", "--store", store],
        ["graph", flow, "--run", "nope", "--store", store],
        ["run", flow, *TOOLS, "--resume", "nope", "--store", store],
    ):
        code, out, err = cli(*argv)
        assert (code, out) == (2, ""), argv
        assert err.splitlines() == [
            f"dagwright: error: [DW-E009] no checkpoint for run 'nope' in {store}",
            listing,
        ], argv
    code, _, err = cli("run", flow, *TOOLS, "--input", '{"n": 1}', "--store", store,
                       "--run-id", "r1")  # fmt: skip
    assert code == 2
    assert err.splitlines()[-1] == (
        f"  hint: finish it with `dagwright run {flow} --tools tests.cli.cli_tools --resume r1 "
        f"--store {store}`, or pick another --run-id"
    )


def test_only_the_errors_module_rewrites_library_errors() -> None:
    import ast

    from tests.cli.conftest import ROOT

    rebuilt = {"CheckpointNotFoundError", "RunExistsError"}
    for path in sorted((ROOT / "dagwright" / "cli").glob("*.py")):
        if path.name == "_errors.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in rebuilt, f"{path.name}:{node.lineno}"


INNER = """\
format_version: 1
kind: dag
name: inner
version: "1"
steps:
  - id: double
    tool: double
  - id: square
    tool: square
  - id: add
    tool: add
    depends_on: [double, square]
  - id: again
    tool: add
    depends_on: [add]
"""

TWICE = """\
format_version: 1
kind: dag
name: twice
version: "1"
steps:
  - id: first
    flow: inner
  - id: second
    flow: inner
    depends_on: [first]
"""


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("dagwright: warning: ")]


def test_each_warning_is_printed_once_with_its_position(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "failing.flow.yaml", FAILING)
    store = str(tmp_path / "runs.sqlite")
    position = f"dagwright: warning: {flow}:13:5: DW301 warning [step 'publish']: "
    for argv in (
        ["--input", '{"n": 3}', "--run-id", "w1"],
        ["--input", '{"n": 3}', "--json"],
        ["--resume", "w1"],
    ):
        code, _, err = cli("run", flow, *TOOLS, "--store", store, *argv)
        assert code == 1, argv
        assert len(_warnings(err)) == 1, (argv, err)
        assert _warnings(err)[0].startswith(position), argv
        assert "flow_warnings" not in err


def test_a_sub_flows_warnings_are_printed_once_each(cli: Cli, tmp_path: Path) -> None:
    from dagwright import FlowExecutor, FlowRegistry
    from dagwright.io import load_flows
    from tests.cli.cli_tools import TOOLS as ALL

    outer = write(tmp_path, "twice.flow.yaml", TWICE)
    inner = write(tmp_path, "inner.flow.yaml", INNER)
    code, _, err = cli("run", outer, inner, *TOOLS, "--input", '{"n": 2}',
                       "--store", str(tmp_path / "runs.sqlite"))  # fmt: skip
    assert code == 0, err
    flows = load_flows([outer, inner])
    registry = FlowRegistry()
    for each in flows:
        registry.register(each)
    with FlowExecutor(ALL, registry=registry) as ex:
        expected = [f"dagwright: warning: {d.format()}" for d in ex.compile(flows[0]).all_warnings]
    assert len(expected) == 4  # three of the outer flow's, one of the sub-flow's
    assert _warnings(err) == expected
    assert all(line.startswith(f"dagwright: warning: {outer}:") for line in expected)
    assert any("in sub-flow 'inner' at step 'again'" in line for line in expected)


def test_the_executors_warning_record_carries_the_diagnostics(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from dagwright import FlowExecutor, load_flow
    from tests.cli.cli_tools import TOOLS as ALL

    flow = load_flow(Path(write(tmp_path, "failing.flow.yaml", FAILING)))
    with caplog.at_level(logging.WARNING, logger="dagwright"), FlowExecutor(ALL) as ex:
        compiled = ex.compile(flow)
        ex.run(flow, {"n": 1})
        ex.run(flow, {"n": 2})
    records = [r for r in caplog.records if "flow_warnings" in r.getMessage()]
    assert len(records) == 1  # once per plan, however many runs
    diagnostics = records[0].diagnostics  # type: ignore[attr-defined]
    assert diagnostics == compiled.all_warnings
    assert [(d.code, d.path, d.line, d.col) for d in diagnostics] == [
        ("DW301", str(tmp_path / "failing.flow.yaml"), 13, 5)
    ]
    assert "DW301" in records[0].getMessage()  # the text form is still in the message

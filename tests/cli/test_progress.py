"""What ``dagwright run`` shows: live progress on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tests.cli.flows import FAILING, SQUARES, SUMS, write

TOOLS = ("--tools", "tests.cli.cli_tools")


class Terminal(io.StringIO):
    """A stdout that says it is a terminal, as rich asks."""

    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_run_ends_with_a_summary_table(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = write(tmp_path, "failing.flow.yaml", FAILING)
    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    monkeypatch.setenv("COLUMNS", "160")
    code, _, _ = cli("run", flow, *TOOLS, "--input", '{"n": 3}', "--run-id", "t1",
                     "--store", str(tmp_path / "s.sqlite"))  # fmt: skip
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())  # no colours, no cursor
    assert code == 1
    assert "sums v1  run t1" in text  # the live area's title
    table = text[text.index("step ") :].splitlines()
    assert table[0].split() == ["step", "status", "tool", "attempts", "duration", "error"]
    assert table[1].split()[:4] == ["double", "completed", "double", "1"]
    assert table[4].split()[:4] == ["publish", "failed", "fail", "1"]
    assert "[DW-E101] ValueError: cannot publish 15" in table[4]
    assert table[-1].startswith("run t1 failed in ")


def test_no_progress_prints_plain_lines_even_on_a_terminal(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    code, _, _ = cli("run", flow, *TOOLS, "--input", '{"n": 3}', "--no-progress",
                     "--store", str(tmp_path / "s.sqlite"))  # fmt: skip
    assert code == 0
    lines = screen.getvalue().splitlines()
    assert "\x1b" not in screen.getvalue()
    assert [line.split()[0] for line in lines] == ["[1/3]", "[2/3]", "[3/3]", "run"]


def test_a_map_step_line_counts_its_instances(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "squares.flow.yaml", SQUARES)
    code, out, err = cli("run", flow, *TOOLS, "--input", '{"items": [1, 2, 3, 4]}',
                         "--store", str(tmp_path / "s.sqlite"))  # fmt: skip
    assert code == 0, err
    assert re.fullmatch(r"\[1/1\] each completed \d+\.\d\ds \(4 instances\)", out.splitlines()[0])


def test_json_mode_keeps_stdout_for_the_result_even_on_a_terminal(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = write(tmp_path, "squares.flow.yaml", SQUARES)
    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    code, _, err = cli("run", flow, *TOOLS, "--input", '{"items": [2, 3]}', "--json",
                       "--store", str(tmp_path / "s.sqlite"))  # fmt: skip
    assert code == 0
    assert json.loads(screen.getvalue())["output"]["squares"] == [{"squared": 4}, {"squared": 9}]
    assert "[1/1] each completed" in err


def test_the_tracker_counts_map_instances_against_the_item_count() -> None:
    from dagwright import FlowExecutor, load_flow
    from dagwright.cli._progress import Tracker
    from dagwright.events import StepCompleted, StepStarted
    from tests.cli.cli_tools import TOOLS as ALL

    flow = load_flow(SQUARES)
    tracker = Tracker(flow, {"items": [1, 2, 3]})
    seen = []
    with FlowExecutor(ALL, max_concurrency=1) as ex:
        for event in ex.stream(flow, {"items": [1, 2, 3]}):
            tracker.event(event)  # type: ignore[arg-type]
            if isinstance(event, StepStarted | StepCompleted) and event.index is not None:
                done, running = tracker.snapshot()
                seen.append((type(event).__name__, done, [(s, m) for s, _, m in running]))
    assert seen == [
        ("StepStarted", 0, [("each", "0/3")]),
        ("StepCompleted", 0, [("each", "1/3")]),
        ("StepStarted", 0, [("each", "1/3")]),
        ("StepCompleted", 0, [("each", "2/3")]),
        ("StepStarted", 0, [("each", "2/3")]),
        ("StepCompleted", 0, [("each", "3/3")]),
    ]
    assert tracker.snapshot() == (1, [])


def test_the_live_area_names_the_running_steps_and_counts_map_instances() -> None:
    from rich.console import Console

    from dagwright import load_flow
    from dagwright.cli._progress import LiveDisplay, Tracker
    from dagwright.events import StepCompleted, StepStarted

    flow = load_flow(SQUARES)
    tracker = Tracker(flow, {"items": [1, 2, 3]})
    display = LiveDisplay(tracker, io.StringIO(), title="squares v1  run r9")
    try:
        display.event(StepStarted(run_id="r9", time=tracker.started, step_id="each"))
        display.event(StepStarted(run_id="r9", time=tracker.started, step_id="each", index=0))
        display.event(StepCompleted(run_id="r9", time=tracker.started, step_id="each",
                                    index=0, outputs={"squared": 1}))  # fmt: skip
        screen = Console(file=io.StringIO(), width=80)
        with screen.capture() as capture:
            screen.print(display._render())
    finally:
        display.close()
    lines = capture.get().splitlines()
    assert re.fullmatch(r"squares v1  run r9  0/1 steps  \d+\.\d\ds", lines[0])
    assert re.fullmatch(r"  ▸ each  map 1/3  \d+\.\d\ds", lines[1])

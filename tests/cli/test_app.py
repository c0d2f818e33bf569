"""The parser, the exit codes and the one-line errors every command shares."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dagwright.cli._errors import error_lines, report_internal
from dagwright.errors import CheckpointError, FlowFileError
from tests.cli.conftest import ROOT, Cli, run_script


def test_import_dagwright_loads_neither_the_cli_nor_its_libraries() -> None:
    code = (
        "import dagwright, sys; "
        "bad = [m for m in ('rich', 'dagwright.cli', 'yaml') if m in sys.modules]; "
        "assert not bad, bad"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_help_loads_no_command_and_no_rich() -> None:
    code = (
        "import sys; from dagwright.cli import main; "
        "sys.argv = ['dagwright', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in ('rich', 'yaml', 'dagwright.cli.run') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "usage: dagwright" in done.stdout


@pytest.mark.parametrize(
    "argv", [["--help"], *[[c, "--help"] for c in ("lint", "run", "mine", "runs", "graph",
                                                 "schema")],
             ["runs", "list", "--help"], ["tools", "export", "--help"]],
)  # fmt: skip
def test_every_command_has_help(cli: Cli, argv: list[str]) -> None:
    code, out, _ = cli(*argv)
    assert code == 0
    assert out.startswith("usage: dagwright")


def test_version(cli: Cli) -> None:
    from dagwright import __version__

    code, out, _ = cli("--version")
    assert (code, out.strip()) == (0, f"dagwright {__version__}")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["run"], "the following arguments are required: FILE"),
        (["run", "f.yaml", "--max-concurrency", "x"], "invalid int value: 'x'"),
        (["run", "f.yaml", "--max-concurrency", "0"], "--max-concurrency must be at least 1"),
        (["run", "f.yaml", "--resume", "r", "--input", "{}"], "--input cannot be used"),
        (["run", "f.yaml", "--resume", "r", "--run-id", "x"], "--run-id cannot be used"),
        (["lint", "f.yaml", "--format", "xml"], "invalid choice: 'xml'"),
        (["runs"], "the following arguments are required: ACTION"),
        (["runs", "show"], "the following arguments are required: RUN_ID"),
        (["graph", "f.yaml", "--format", "png"], "invalid choice: 'png'"),
    ],
)
def test_usage_errors_exit_2_with_argparse_message(cli: Cli, argv: list[str], message: str) -> None:
    code, out, err = cli(*argv)
    assert code == 2
    assert out == ""
    assert err.startswith("usage: dagwright")
    assert message in err
    assert "Traceback" not in err


def test_a_usage_error_through_the_console_script_exits_2() -> None:
    done = run_script("run")
    assert done.returncode == 2
    assert "dagwright run: error: the following arguments are required: FILE" in done.stderr


def test_python_dash_m_runs_the_same_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dagwright", "--version"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dagwright ")


def test_a_coded_error_is_one_line_with_its_position_then_its_hint() -> None:
    error = FlowFileError(
        "unknown key 'stpes'", path="flow.yaml", line=3, col=1, hint="did you mean 'steps'?"
    )
    assert error_lines(error) == [
        "dagwright: error: flow.yaml:3:1: [DW-E018] unknown key 'stpes'",
        "  hint: did you mean 'steps'?",
    ]
    multi = CheckpointError("no run store\nat x", path="x")
    assert error_lines(multi) == ["dagwright: error: [DW-E011] no run store at x"]


def test_an_internal_error_is_one_line_and_shows_its_traceback_only_with_debug(
    capsys: pytest.CaptureFixture[str],
) -> None:
    try:
        raise RuntimeError("unexpected\nstate")
    except RuntimeError as error:
        assert report_internal(error, debug=False) == 3
        quiet = capsys.readouterr().err
        assert report_internal(error, debug=True) == 3
        loud = capsys.readouterr().err
    assert quiet.splitlines() == [
        "dagwright: internal error: RuntimeError: unexpected state "
        "(run with --debug or DAGWRIGHT_DEBUG=1 for the traceback)"
    ]
    assert "Traceback (most recent call last)" in loud
    assert loud.splitlines()[-1] == "dagwright: internal error: RuntimeError: unexpected state"


def test_an_unexpected_exception_in_a_command_is_exit_3(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagwright.cli.schema

    def broken(args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(dagwright.cli.schema, "command", broken)
    monkeypatch.delenv("DAGWRIGHT_DEBUG", raising=False)
    code, _, err = cli("schema")
    assert code == 3
    assert err.splitlines() == [
        "dagwright: internal error: RuntimeError: a bug "
        "(run with --debug or DAGWRIGHT_DEBUG=1 for the traceback)"
    ]
    code, _, err = cli("schema", "--debug")
    assert code == 3
    assert "Traceback (most recent call last)" in err
    monkeypatch.setenv("DAGWRIGHT_DEBUG", "1")
    code, _, err = cli("schema")
    assert "Traceback (most recent call last)" in err

"""Ctrl-C on a real ``dagwright run`` process: exit 130, the run saved ``interrupted``,
the printed command resumes it, and the resumed run has an uninterrupted run's digest."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT, run_script, script
from tests.cli.flows import SUMS, write

TOOLS = ("--tools", "tests.cli.cli_tools")


# A parent that ignores SIGINT (a background job) passes that on to its children: the
# launcher gives the console script SIGINT's default disposition, as a terminal would.
LAUNCH = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("concurrency", ["8", "1"])  # the driver waits / the tool runs inline
def test_ctrl_c_saves_the_run_and_prints_the_command_that_finishes_it(
    tmp_path: Path, concurrency: str
) -> None:
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    store = str(tmp_path / "runs.sqlite")
    plain = run_script("run", flow, *TOOLS, "--input", '{"n": 3}', "--store", store, "--json")
    assert plain.returncode == 0, plain.stderr
    expected = json.loads(plain.stdout)["digest"]

    started = tmp_path / "square.started"
    argv = [sys.executable, "-c", LAUNCH, script(), "run", flow, *TOOLS, "--input",
            '{"n": 3}', "--store", store, "--run-id", "ctrl-c", "--max-concurrency",
            concurrency]  # fmt: skip
    env = {"DAGWRIGHT_TEST_SLOW": "1", "DAGWRIGHT_TEST_STARTED": str(started)}
    with subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **env},
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            line = process.stdout.readline()  # double is quick; square waits
            assert line.startswith("[1/3] double completed"), line
            deadline = time.monotonic() + 30
            while not started.exists():
                assert time.monotonic() < deadline, "square never started"
                time.sleep(0.02)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert "dagwright: interrupted: run ctrl-c stopped and was saved; resume it with:" in lines
    command = lines[
        lines.index(next(x for x in lines if x.startswith("dagwright: interrupted"))) + 1
    ]
    assert command == "  " + shlex.join(
        ["dagwright", "run", flow, *TOOLS, "--resume", "ctrl-c", "--store", store]
    )
    shown = run_script("runs", "show", "ctrl-c", "--store", store)
    assert "status   interrupted" in shown.stdout
    assert "lease    none" in shown.stdout

    words = shlex.split(command)
    resumed = run_script(*words[1:], "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["run_id"] == "ctrl-c"
    assert result["digest"] == expected
    assert "[" in resumed.stderr  # progress of the resumed steps went to stderr

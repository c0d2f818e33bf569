"""The crash example through the console script: a tool ends the process on its first
call; ``--resume`` finishes the run with the digest of an uninterrupted one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.conftest import run_script


@pytest.mark.timeout(120)
def test_a_crashed_run_resumes_from_its_journal(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.sqlite")
    inputs = json.dumps({"text": "  hello   world ", "marker_dir": str(tmp_path / "marker")})
    crashed = run_script("run", "examples/crash.flow.yaml", "--run-id", "boom",
                         "--input", inputs, "--store", store)  # fmt: skip
    assert crashed.returncode == 1  # os._exit(1) inside the tool: no clean-up at all
    assert crashed.stdout.splitlines() == [crashed.stdout.splitlines()[0]]
    assert crashed.stdout.startswith("[1/3] prepare completed")
    shown = run_script("runs", "show", "boom", "--store", store)
    assert "status   running" in shown.stdout
    assert "lease    gone (a resume takes it over)" in shown.stdout
    assert re.search(r"^prepare +completed", shown.stdout, re.M)

    resumed = run_script("run", "examples/crash.flow.yaml", "--resume", "boom", "--store", store)
    assert resumed.returncode == 0, resumed.stderr
    lines = resumed.stdout.splitlines()
    assert [line.split()[:3] for line in lines[:2]] == [
        ["[2/3]", "fragile", "completed"],
        ["[3/3]", "finish", "completed"],
    ]
    digest = lines[-1].rsplit(" ", 1)[1]

    other = str(tmp_path / "other.sqlite")  # the marker exists now: no crash this time
    plain = run_script("run", "examples/crash.flow.yaml", "--input", inputs, "--store", other,
                       "--json")  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["digest"] == digest

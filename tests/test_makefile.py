"""The Makefile finds a Python >= 3.11, and says so clearly when there is none.

Fake interpreters in a temporary PATH answer the version probe: exit 0 for "new enough",
1 for "too old". ``make -n`` prints the recipe the choice leads to, running nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make") or "make"  # the project builds with make: it must be there

pytestmark = [
    pytest.mark.timeout(60),
]


def _fake_path(tmp_path: Path, interpreters: dict[str, bool]) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, new_enough in interpreters.items():
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\nexit {0 if new_enough else 1}\n", encoding="utf-8")
        script.chmod(0o755)
    return str(bin_dir)


def _make(
    tmp_path: Path, interpreters: dict[str, bool], *args: str, dry: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "MAKEFLAGS", "MFLAGS")}
    env["PATH"] = _fake_path(tmp_path, interpreters)
    venv = tmp_path / "venv"  # not the checkout's own .venv, so its recipe shows
    command = [str(MAKE), "-s", "-C", str(ROOT), *(["-n"] if dry else []), f"VENV={venv}", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize(
    ("interpreters", "chosen"),
    [
        ({"python3.13": True, "python3.12": True, "python3": True}, "python3.13"),
        ({"python3.12": True, "python3.11": True, "python3": False}, "python3.12"),
        ({"python3.13": False, "python3.11": True, "python3": False}, "python3.11"),
        ({"python3": True}, "python3"),
        ({"python3": True, "python3.12": False}, "python3"),
    ],
)
@pytest.mark.parametrize("target", ["demo", "test"])
def test_the_newest_python_of_at_least_3_11_is_chosen(
    tmp_path: Path, interpreters: dict[str, bool], chosen: str, target: str
) -> None:
    done = _make(tmp_path, interpreters, target)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith(f"{chosen} -m venv "), done.stdout
    if target == "demo":
        assert "dagwright run examples/pipeline.flow.yaml examples/summarize.flow.yaml" in (
            done.stdout
        )
        assert "dagwright mine examples/traces --tools examples.pipeline_tools -o" in done.stdout
    else:
        assert "pytest" in done.stdout


@pytest.mark.parametrize("interpreters", [{}, {"python3": False}, {"python3.11": False}])
def test_no_python_new_enough_is_said_clearly_and_stops(
    tmp_path: Path, interpreters: dict[str, bool]
) -> None:
    planned = _make(tmp_path, interpreters, "demo")
    assert "-m venv" not in planned.stdout
    assert "no Python >= 3.11 found" in planned.stdout


def test_a_missing_python_fails_the_real_run_with_the_message(tmp_path: Path) -> None:
    done = _make(tmp_path, {"python3": False}, "demo", dry=False)
    assert done.returncode != 0
    assert "no Python >= 3.11 found on PATH" in done.stderr
    assert "PYTHON=" in done.stderr
    assert not (tmp_path / "venv").exists()


def test_python_on_the_command_line_still_overrides(tmp_path: Path) -> None:
    done = _make(tmp_path, {"python3.13": True}, "demo", "PYTHON=/opt/custom/python")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("/opt/custom/python -m venv ")


def test_python_from_the_environment_still_overrides(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    env["PATH"] = _fake_path(tmp_path, {})
    env["PYTHON"] = "/opt/env/python3.11"
    command = [str(MAKE), "-s", "-C", str(ROOT), "-n", f"VENV={tmp_path / 'venv'}", "demo"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("/opt/env/python3.11 -m venv ")


@pytest.mark.timeout(120)
def test_demo_runs_twice_in_a_row_on_one_checkout() -> None:
    """The demo's commands (its recipe, less the install) succeed when run again: each
    `make demo` names a new run."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "DEMO_RUN")}
    bin_dir = Path(sys.executable).parent
    ids = []
    for attempt in (1, 2):
        plan = subprocess.run(
            [str(MAKE), "-s", "-n", "-C", str(ROOT), f"BIN={bin_dir}", "demo"],
            env=env, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert plan.returncode == 0, plan.stderr
        recipe = plan.stdout.replace("\\\n", " ").splitlines()
        commands = [line for line in recipe if f"{bin_dir}/dagwright " in line]
        assert [c.split()[1] for c in commands] == [
            "run",
            "runs",
            "runs",
            "lint",
            "mine",
            "lint",
        ], recipe
        ids.append(commands[0].split("--run-id ")[1].split()[0])
        for command in commands:
            done = subprocess.run(
                command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True,
                timeout=60, check=False,
            )  # fmt: skip
            assert done.returncode == 0, f"attempt {attempt}: {command}\n{done.stderr}"
            if command.split()[1] == "mine":
                assert "matches" in done.stdout, done.stdout
        time.sleep(1.1)  # run ids are made to the second
    assert ids[0] != ids[1]

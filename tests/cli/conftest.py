"""Helpers of the CLI tests: the command in process, and the real console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dagwright import DAGFlow, FlowExecutor, SQLiteCheckpointer, Step
from tests.cli.cli_tools import TOOLS

ROOT = Path(__file__).resolve().parents[2]

Cli = Callable[..., tuple[int, str, str]]


def script() -> str:
    """The installed ``dagwright`` console script next to this interpreter."""
    found = shutil.which("dagwright", path=str(Path(sys.executable).parent))
    assert found is not None, "the dagwright console script is not installed in this venv"
    return found


def run_script(
    *argv: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real console script in a subprocess, from the repository root."""
    return subprocess.run(
        [script(), *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


def sums_flow(name: str = "sums") -> DAGFlow:
    """double and square in parallel, then add."""
    return DAGFlow(
        name,
        [
            Step(id="double", tool="double"),
            Step(id="square", tool="square"),
            Step(id="add", tool="add", depends_on=("double", "square")),
        ],
    )


@pytest.fixture
def store_with_runs(tmp_path: Path) -> Path:
    """A store holding two finished runs of ``sums`` (``first`` then ``second``)."""
    path = tmp_path / "runs.sqlite"
    store = SQLiteCheckpointer(path)
    try:
        with FlowExecutor(TOOLS, checkpointer=store) as ex:
            ex.run(sums_flow(), {"n": 3}, run_id="first").raise_for_error()
            ex.run(sums_flow(), {"n": 4}, run_id="second").raise_for_error()
    finally:
        store.close()
    return path

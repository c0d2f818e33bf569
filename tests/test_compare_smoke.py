"""``benchmarks/compare.py`` keeps running: a quick run of its smallest figure, no peers.

The run happens in a subprocess, bounded by a timeout, with ChainWeaver and LangGraph made
unimportable (``sys.modules[name] = None``, as if not installed, whether or not this venv
has them), and writes its JSON and Markdown into a temporary directory, never into
``benchmarks/results/``. Nothing here judges speed: only that the figure was measured for
dagwright and the floor, and that the peers' cells say they are not installed. The Dask
figures start a cluster and take a minute, so they run here only with Dask hidden too:
reported as not measured, quickly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPARE = ROOT / "benchmarks" / "compare.py"

pytestmark = pytest.mark.timeout(120)

# Runs compare.py as ``python benchmarks/compare.py`` would, with the modules named by
# its first argument (comma-separated) hidden.
_LAUNCH = """
import runpy, sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
PEERS = ("chainweaver", "langgraph")


def _compare(
    tmp_path: Path, *args: str, hide: tuple[str, ...] = PEERS
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "smoke.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    launch = [sys.executable, "-c", _LAUNCH, ",".join(hide), str(COMPARE)]
    done = subprocess.run(
        [*launch, "--quick", "--json", str(out), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    return done, out


@pytest.fixture(scope="module")
def linear5(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any], Path]:
    """One quick run of the linear5 figure: its stdout, its JSON and where it wrote."""
    tmp = tmp_path_factory.mktemp("compare")
    done, out = _compare(tmp, "--only", "linear5", "--min-time", "0.01")
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text()), out


def test_the_figure_is_measured_for_dagwright_and_the_floor(
    linear5: tuple[str, dict[str, Any], Path],
) -> None:
    _, data, _ = linear5
    (figure,) = data["figures"]
    assert figure["id"] == "linear5"
    for library in ("dagwright", "floor"):
        cell = figure["libraries"][library]
        assert cell["status"] == "measured", cell
        assert cell["n"] == 3
        assert 0 < cell["q1"] <= cell["median"] <= cell["q3"]
    ours = figure["libraries"]["dagwright"]
    assert ours["ratio_to_floor"] > 0
    spread = ours["ratio_to_floor_spread"]
    assert spread["n"] == 3
    assert spread["min"] <= spread["q1"] <= ours["ratio_to_floor"] <= spread["q3"] <= spread["max"]
    assert ours["ratio_to_best_peer"] is None
    assert figure["status"] in ("met", "MISSED")


def test_peers_that_are_not_installed_say_so(linear5: tuple[str, dict[str, Any], Path]) -> None:
    stdout, data, _ = linear5
    (figure,) = data["figures"]
    for peer, package in (("chainweaver", "chainweaver==0.14.1"), ("langgraph", "langgraph")):
        cell = figure["libraries"][peer]
        assert cell["status"] == "not installed"
        assert package in cell["reason"]
    (floor_check, peer_check) = figure["checks"]
    assert floor_check["against"] == "floor" and floor_check["met"] is not None
    assert peer_check["against"] == "chainweaver" and peer_check["met"] is None
    assert "ChainWeaver not installed" in peer_check["reason"]
    assert "not installed" in stdout and "linear5" in stdout


def test_the_markdown_report_is_written_beside_the_json(
    linear5: tuple[str, dict[str, Any], Path],
) -> None:
    _, data, out = linear5
    report = out.with_suffix(".md").read_text()
    assert "| linear5 " in report
    assert f"Python {data['meta']['python']}" in report
    assert "dagwright" in data["meta"]["versions"]


def test_the_dask_figures_say_so_without_dask(tmp_path: Path) -> None:
    hidden = (*PEERS, "distributed", "dask.distributed")
    done, out = _compare(tmp_path, "--only", "dask", hide=hidden)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = {f["id"]: f for f in json.loads(out.read_text())["figures"]}
    assert set(figures) == {"dask", "dask-speedup"}
    for figure in figures.values():
        assert figure["status"] == "not measured"
        ours = figure["libraries"]["dagwright"]
        assert ours == {"status": "unsupported", "reason": "dask.distributed not installed"}
    (speedup,) = figures["dask-speedup"]["checks"]
    assert speedup["higher"] is True and speedup["met"] is None
    assert "[dask] skipped: dask.distributed not installed" in done.stderr


def test_an_unknown_figure_is_refused(tmp_path: Path) -> None:
    done, out = _compare(tmp_path, "--only", "linear6")
    assert done.returncode == 2
    assert "unknown figure linear6" in done.stderr
    assert not out.exists()


def test_make_compare_installs_the_dev_extras_and_runs_compare(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    done = subprocess.run(
        ["make", "-s", "-n", "-C", str(ROOT), f"VENV={venv}", "compare"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f'{venv}/bin/python -m pip install -q -e ".[dev]"' in done.stdout
    assert f"{venv}/bin/python benchmarks/compare.py" in done.stdout
    assert "chainweaver" not in done.stdout and "langgraph" not in done.stdout

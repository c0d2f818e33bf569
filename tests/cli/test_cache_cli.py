"""``dagwright run --cache`` and ``dagwright cache stats | clear``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dagwright import CacheEntry, CacheKey, SQLiteStepCache
from tests.cli.conftest import ROOT, Cli, script

FLOW = """\
format_version: 1
kind: dag
name: squares
tools:
  square: tests.cache.cache_worker:square
steps:
  - id: all
    over: numbers
    item: n
    tool: square
    results: squares
"""


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "squares.flow.yaml"
    path.write_text(FLOW)
    return path


def _run(cli: Cli, flow: Path, tmp_path: Path, numbers: list[int], *extra: str) -> dict:  # type: ignore[type-arg]
    code, out, err = cli(
        "run", str(flow), "--input", json.dumps({"numbers": numbers}),
        "--store", str(tmp_path / "runs.sqlite"), "--json", *extra,
    )  # fmt: skip
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_run_with_a_cache_reuses_results(cli: Cli, flow_file: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache.sqlite")
    first = _run(cli, flow_file, tmp_path, [1, 2], "--cache", cache)
    second = _run(cli, flow_file, tmp_path, [2, 3, 1], "--cache", cache)
    children = second["steps"][0]["children"]
    assert [child["cached"] for child in children] == [True, False, True]
    assert second["output"]["squares"] == [{"square": 4}, {"square": 9}, {"square": 1}]
    assert not any(child["cached"] for child in first["steps"][0]["children"])


def test_runs_show_marks_cached_records(cli: Cli, flow_file: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache.sqlite")
    _run(cli, flow_file, tmp_path, [1], "--cache", cache)
    second = _run(cli, flow_file, tmp_path, [1, 2], "--cache", cache)
    code, out, _ = cli("runs", "show", second["run_id"], "--store", str(tmp_path / "runs.sqlite"))
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  all[")}
    assert "completed (cached)" in rows["all[0]"]
    assert "(cached)" not in rows["all[1]"]


def test_run_without_cache_never_reads_one(cli: Cli, flow_file: Path, tmp_path: Path) -> None:
    _run(cli, flow_file, tmp_path, [1])
    second = _run(cli, flow_file, tmp_path, [1])
    assert not second["steps"][0]["children"][0]["cached"]
    assert not (tmp_path / ".dagwright").exists()


def test_plain_progress_shows_hits(cli: Cli, flow_file: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache.sqlite")
    _run(cli, flow_file, tmp_path, [1, 2], "--cache", cache)
    code, out, _ = cli(
        "run", str(flow_file), "--input", '{"numbers": [1, 2, 5]}',
        "--store", str(tmp_path / "runs.sqlite"), "--cache", cache, "--no-progress",
    )  # fmt: skip
    assert code == 0
    assert "[1/1] all completed" in out and "(3 instances, 2 cached)" in out


def test_stats_and_clear(cli: Cli, flow_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    _run(cli, flow_file, tmp_path, [1, 2, 3], "--cache", str(cache))
    with SQLiteStepCache(cache) as direct:
        direct.put(CacheKey("other", "s", "0" * 64), CacheEntry({"x": 1}))
    code, out, err = cli("cache", "stats", "--cache", str(cache))
    assert (code, err) == (0, "")
    assert out.startswith(f"{cache}: 4 entries, ")
    rows = [line.split() for line in out.splitlines()[1:]]
    assert rows == [["tool", "entries"], ["other", "1"], ["square", "3"]]
    code, out, _ = cli("cache", "stats", "--cache", str(cache), "--json")
    data = json.loads(out)
    assert (code, data["entries"], data["tools"]) == (0, 4, {"other": 1, "square": 3})
    assert data["size_bytes"] > 0 and "hits" not in data
    code, out, _ = cli("cache", "clear", "--cache", str(cache), "--tool", "square")
    assert (code, out) == (0, f"deleted 3 entries of tool 'square' from {cache}\n")
    code, out, _ = cli("cache", "clear", "--cache", str(cache), "--json")
    assert (code, json.loads(out)) == (0, {"cache": str(cache), "tool": None, "deleted": 1})


def test_stats_of_a_missing_cache_is_an_error_and_creates_nothing(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite"
    code, out, err = cli("cache", "stats", "--cache", str(missing))
    assert code == 2 and out == ""
    assert err.startswith(f"dagwright: error: [DW-E027] no step cache at {missing}")
    assert not missing.exists()


def test_a_checkpoint_store_given_as_a_cache_is_refused(
    cli: Cli, flow_file: Path, tmp_path: Path
) -> None:
    _run(cli, flow_file, tmp_path, [1])
    code, _, err = cli("cache", "clear", "--cache", str(tmp_path / "runs.sqlite"))
    assert code == 2 and "[DW-E027]" in err and "is not a dagwright step cache" in err


def test_run_cache_default_path_through_the_console_script(tmp_path: Path) -> None:
    """``--cache`` with no path uses ``.dagwright/cache.sqlite`` (its directory made),
    which ``cache stats`` reads by default."""
    (tmp_path / "squares.flow.yaml").write_text(FLOW)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def script_run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script(), *argv], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip

    args = ("run", "squares.flow.yaml", "--input", '{"numbers": [4]}', "--json", "--cache")
    first = script_run(*args)
    assert first.returncode == 0, first.stderr
    second = script_run(*args)
    assert json.loads(second.stdout)["steps"][0]["children"][0]["cached"] is True
    assert (tmp_path / ".dagwright" / "cache.sqlite").is_file()
    stats = script_run("cache", "stats", "--json")
    assert json.loads(stats.stdout)["tools"] == {"square": 1}

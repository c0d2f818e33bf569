"""At-most-once across real process deaths.

A worker (``tests/intent_worker.py``) runs a flow whose non-idempotent tool ``charge``
checks, through its own store connection, that its intent is durable, records its
idempotency key in a file (its side effect), and SIGKILLs its own process before
returning. A fresh process resumes the run. No wall-clock assertions: each subprocess has
a generous timeout, nothing more.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dagwright.checkpoint import SQLiteCheckpointer, read_run

WORKER = Path(__file__).with_name("intent_worker.py")
TIMEOUT_S = 120


def worker(env: dict[str, str], db: Path, mode: str, keys: Path, *options: str) -> Any:
    argv = [sys.executable, str(WORKER), str(db), mode, str(keys), *options]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False, env=env
    )


def killed(env: dict[str, str], db: Path, keys: Path, *options: str) -> None:
    proc = worker(env, db, "run", keys, *options)
    assert proc.returncode == -signal.SIGKILL, f"{proc.returncode}:\n{proc.stderr}"


def finished(env: dict[str, str], db: Path, mode: str, keys: Path, *options: str) -> Any:
    proc = worker(env, db, mode, keys, *options)
    assert proc.returncode == 0, f"{proc.returncode}:\n{proc.stderr}"
    return json.loads(proc.stdout)


def key_lines(keys: Path) -> list[tuple[int, str]]:
    lines = keys.read_text().splitlines() if keys.exists() else []
    return [(int(index), key) for index, key in (line.split() for line in lines)]


def in_doubt(db: Path) -> list[dict[str, Any]]:
    with SQLiteCheckpointer(db) as store:
        return [dict(call) for call in read_run(store, "pay").in_doubt]


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_a_call_killed_after_its_intent_is_not_made_again(
    tmp_path: Path, env: dict[str, str], lane: str
) -> None:
    db, keys = tmp_path / "runs.sqlite", tmp_path / "keys.txt"
    killed(env, db, keys, "--lane", lane, "--kill-at", "-1")
    assert len(key_lines(keys)) == 1  # the side effect happened, its result is lost
    assert in_doubt(db) == [
        {"path": [], "step": "charge", "index": None, "tool": "charge", "attempt": 0}
    ]
    command = [str(Path(sys.executable).with_name("dagwright")), "runs", "show", "pay"]
    show = subprocess.run(
        [*command, "--store", str(db)],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False, env=env,
    )  # fmt: skip
    assert show.returncode == 0, show.stderr
    assert "in doubt  charge: tool charge (attempt 0) may have run" in show.stdout
    resumed = finished(env, db, "resume", keys, "--lane", lane)
    assert (resumed["success"], resumed["code"], resumed["step"]) == (
        False,
        "DW-E111",
        "charge",
    )
    assert len(key_lines(keys)) == 1  # not called again
    assert len(in_doubt(db)) == 1  # still in doubt: the step failed without calling
    again = finished(env, db, "resume", keys, "--lane", lane)
    assert again["code"] == "DW-E111"  # a failed step runs again, and is still in doubt...
    assert len(key_lines(keys)) == 1  # ...so it is still not called


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_on_interrupted_retry_calls_once_more_with_the_same_key(
    tmp_path: Path, env: dict[str, str], lane: str
) -> None:
    db, keys = tmp_path / "runs.sqlite", tmp_path / "keys.txt"
    killed(env, db, keys, "--lane", lane, "--retry", "--kill-at", "-1")
    resumed = finished(env, db, "resume", keys, "--lane", lane, "--retry")
    assert resumed["success"], resumed
    lines = key_lines(keys)
    assert len(lines) == 2
    assert lines[0] == lines[1]  # the same idempotency key both times
    clean_db, clean_keys = tmp_path / "clean.sqlite", tmp_path / "clean.txt"
    uninterrupted = finished(env, clean_db, "run", clean_keys, "--lane", lane, "--retry")
    assert resumed["output"] == uninterrupted["output"]
    assert key_lines(clean_keys) == lines[:1]  # same run id and path: the same key


def test_a_map_killed_inside_one_instance(tmp_path: Path, env: dict[str, str]) -> None:
    db, keys = tmp_path / "runs.sqlite", tmp_path / "keys.txt"
    killed(env, db, keys, "--flow", "map", "--kill-at", "2")
    first = key_lines(keys)
    assert [index for index, _ in first] == [0, 1, 2]
    resumed = finished(env, db, "resume", keys, "--flow", "map")
    assert resumed["success"], resumed
    lines = key_lines(keys)
    # Instances 0 and 1 were recorded, 2 is in doubt: only 3 and 4 are called now.
    assert [index for index, _ in lines] == [0, 1, 2, 3, 4]
    assert len({key for _, key in lines}) == 5
    assert [item["index"] for item in resumed["output"]["failed"]] == [2]
    assert resumed["output"]["failed"][0]["error_type"] == "StepInterruptedError"
    assert [r["receipt"] for r in resumed["output"]["receipts"]] == [
        "paid-100",
        "paid-101",
        "paid-103",
        "paid-104",
    ]


def test_a_map_instance_retried_after_the_kill_keeps_its_key(
    tmp_path: Path, env: dict[str, str]
) -> None:
    db, keys = tmp_path / "runs.sqlite", tmp_path / "keys.txt"
    killed(env, db, keys, "--flow", "map", "--retry", "--kill-at", "2")
    resumed = finished(env, db, "resume", keys, "--flow", "map", "--retry")
    assert resumed["success"], resumed
    assert resumed["output"]["failed"] == []
    lines = key_lines(keys)
    assert [index for index, _ in lines] == [0, 1, 2, 2, 3, 4]
    assert lines[2] == lines[3]

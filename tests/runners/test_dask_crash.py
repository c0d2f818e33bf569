"""A driver SIGKILLed mid-map, resumed in a new process against the same cluster.

The cluster lives in the test process and outlives the driver, as a real one does. The
resumed run gives the uninterrupted run's output and digest, and every map instance the
killed driver journaled is never called again.
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
from tests.runners.dask_driver import N_ITEMS

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120


def driver(
    address: str, db: Path, log: Path, mode: str, kill_at: int
) -> subprocess.CompletedProcess[str]:
    """Run the driver process to its end or its death."""
    argv = [sys.executable, "-m", "tests.runners.dask_driver", address, str(db), str(log), mode,
            str(kill_at)]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT,
                          check=False)  # fmt: skip


def printed(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, f"driver failed ({proc.returncode}):\n{proc.stderr}"
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


@pytest.mark.timeout(400)
@pytest.mark.parametrize("kill_at", [3, 17])
def test_a_killed_driver_resumes_against_the_same_cluster(
    cluster: Any, tmp_path: Path, kill_at: int
) -> None:
    address = cluster.scheduler_address
    log = tmp_path / "calls.log"  # an input of every call: the same in both runs
    whole = printed(driver(address, tmp_path / "whole.db", log, "run", 0))
    assert whole["success"]
    log.unlink()

    db = tmp_path / "crash.db"
    killed = driver(address, db, log, "run", kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    store = SQLiteCheckpointer(db, create=False)
    try:
        stored = read_run(store, "r1")
        instances = stored.in_progress.get("fan", ())
        journaled = {child.index for child in instances if child.status == "completed"}
    finally:
        store.close()
    assert journaled, "the driver died before any instance was journaled"
    assert len(journaled) < N_ITEMS

    resumed = printed(driver(address, db, log, "resume", 0))
    assert resumed["output"] == whole["output"]
    assert resumed["digest"] == whole["digest"]
    calls = [int(line) for line in log.read_text().split()]
    for index in journaled:  # item i is x=i
        assert calls.count(index) == 1, f"instance {index} was journaled, then called again"
    assert set(calls) == set(range(N_ITEMS))

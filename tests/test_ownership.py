"""One owner per run: leases make resume exactly-once, in one process and across many.

The two-process test crashes a run with a real SIGKILL, then starts two resumers at once
on one SQLite file, twenty times: every pending unit is called exactly once between them,
one resumer finishes the run and the other is refused (``RunLockedError``) or finds it
done, and the journal holds no unit twice. The crashed owner's death is seen at once on
this host: the leases last ten minutes, far past the subprocess timeout, so a resumer
that waited for the expiry would fail the test.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import (
    CheckpointBusyError,
    DAGFlow,
    FlowExecutor,
    InMemoryCheckpointer,
    RunLockedError,
    SQLiteCheckpointer,
    Step,
    tool,
)
from dagwright.checkpoint import Checkpointer, Owner
from tests.test_crash_resume import ALL_UNITS, entry_key, recorded_units

WORKER = Path(__file__).with_name("crash_worker.py")
TIMEOUT_S = 120
LONG_LEASE_S = "600"


class Out(BaseModel):
    value: int


STORES: dict[str, Callable[[Path], Checkpointer]] = {
    "memory": lambda _: InMemoryCheckpointer(),
    "sqlite": lambda tmp: SQLiteCheckpointer(tmp / "runs.sqlite"),
}


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    return env


def _lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


# ---- two processes resuming one crashed run -------------------------------------------


@pytest.mark.timeout(900)
def test_two_resumers_call_each_pending_unit_exactly_once(tmp_path: Path) -> None:
    env = _env(tmp_path)
    outcomes: Counter[str] = Counter()
    for attempt in range(20):
        here = tmp_path / f"a{attempt}"
        here.mkdir()
        db, crash_log = here / "runs.sqlite", here / "crash.log"
        lane = "sync" if attempt % 2 == 0 else "async"
        kill_at = 1 + attempt % 8
        base = [sys.executable, str(WORKER), str(db)]
        killed = subprocess.run(
            [*base, "run", lane, "4", str(kill_at), str(crash_log), "--lease-s", LONG_LEASE_S],
            capture_output=True, text=True, timeout=TIMEOUT_S, check=False, env=env,
        )  # fmt: skip
        assert killed.returncode == -9, killed.stderr
        with SQLiteCheckpointer(db) as store:
            _, at_kill = store.load("r1")
        recorded = recorded_units(at_kill)

        start = here / "go"
        procs = []
        for k in range(2):
            resumer_lane = ("sync", "async")[(attempt + k) % 2]
            argv = [*base, "resume", resumer_lane, "4", "0", str(here / f"resume{k}.log")]
            argv += ["--lease-s", LONG_LEASE_S, "--start-file", str(start)]
            procs.append(
                subprocess.Popen(
                    argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
                )
            )
        start.touch()  # both resume at once
        printed: list[dict[str, Any]] = []
        try:
            for proc in procs:
                out, err = proc.communicate(timeout=TIMEOUT_S)
                assert proc.returncode == 0, err
                printed.append(json.loads(out)["r1"])
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()

        finished = [p for p in printed if not p.get("locked")]
        assert finished, "neither resumer finished the run"
        assert all(p["success"] for p in finished), finished
        outcomes["locked" if len(finished) == 1 else "found done"] += 1
        ran = _lines(here / "resume0.log") + _lines(here / "resume1.log")
        # every unit not recorded at the kill ran exactly once, between both resumers
        assert Counter(ran) == Counter(ALL_UNITS - recorded), (attempt, ran)
        with SQLiteCheckpointer(db) as store:
            header, entries = store.load("r1")
        assert header.status == "succeeded"
        keys = [entry_key(entry) for entry in entries]
        assert len(keys) == len(set(keys)), "the journal holds a unit twice"
    assert sum(outcomes.values()) == 20


# ---- in one process -------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("lane", ["sync", "async"])
@pytest.mark.parametrize("store_kind", sorted(STORES))
def test_resume_of_a_run_a_live_owner_holds_is_refused(
    tmp_path: Path, store_kind: str, lane: str
) -> None:
    inside = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    @tool
    def slow(x: int) -> Out:
        calls.append("slow")
        inside.set()
        release.wait(10)
        return Out(value=x)

    flow = DAGFlow("owned", [Step(id="slow", tool="slow")])
    store = STORES[store_kind](tmp_path)
    owner_ex = FlowExecutor([slow], checkpointer=store)
    other_ex = FlowExecutor([slow], checkpointer=store)
    runner = threading.Thread(target=lambda: owner_ex.run(flow, {"x": 1}, run_id="held"))
    runner.start()
    try:
        assert inside.wait(10)
        with pytest.raises(RunLockedError) as info:
            if lane == "sync":
                other_ex.resume("held", flow)
            else:
                asyncio.run(other_ex.aresume("held", flow))
        assert info.value.code == "DW-E012"
        assert info.value.run_id == "held"
        assert str(os.getpid()) in str(info.value)
        assert calls == ["slow"], "the refused resume called a tool"
    finally:
        release.set()
        runner.join(10)
    # once the owner finished, the run resumes to its result without calling anything
    result = other_ex.resume("held", flow)
    assert result.success and calls == ["slow"]
    owner_ex.close()
    other_ex.close()


@pytest.mark.timeout(30)
def test_checkpointer_instances_on_one_file_never_collide(tmp_path: Path) -> None:
    """Instance A runs R (a step fails), B resumes it, then A resumes it again."""
    failing = {"on": True}

    @tool
    def first(x: int) -> Out:
        return Out(value=x + 1)

    @tool
    def flaky(value: int) -> Out:
        if failing["on"]:
            raise ValueError("not yet")
        return Out(value=value * 10)

    flow = DAGFlow(
        "two",
        [Step(id="first", tool="first"), Step(id="flaky", tool="flaky", depends_on=("first",))],
    )
    path = tmp_path / "shared.sqlite"
    a = FlowExecutor([first, flaky], checkpointer=SQLiteCheckpointer(path))
    b = FlowExecutor([first, flaky], checkpointer=SQLiteCheckpointer(path))
    assert not a.run(flow, {"x": 1}, run_id="R").success
    assert not b.resume("R", flow).success
    failing["on"] = False
    result = a.resume("R", flow)
    assert result.success, result.error
    assert result.output["value"] == 20
    store = a.checkpointer
    assert store is not None
    header, entries = store.load("R")
    assert header.status == "succeeded"
    # Every session's entries, each once: the two failures (kept for readers, never
    # replayed), then the completions.
    assert [(entry["kind"], entry["step"]) for entry in entries] == [
        ("step", "first"),
        ("failure", "flaky"),
        ("failure", "flaky"),
        ("step", "flaky"),
    ]
    a.close()
    b.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("store_kind", sorted(STORES))
def test_an_owner_that_lost_its_lease_writes_nothing(tmp_path: Path, store_kind: str) -> None:
    store = STORES[store_kind](tmp_path)
    stolen = threading.Event()

    @tool
    def slow(x: int) -> Out:
        # another owner takes the run over as if this one had stopped renewing
        store.acquire("lost", Owner.new(), time.time() + 10 * store.lease_s)
        stolen.set()
        return Out(value=x)

    flow = DAGFlow("lost", [Step(id="slow", tool="slow")])
    with FlowExecutor([slow], checkpointer=store) as ex, pytest.raises(RunLockedError):
        ex.run(flow, {"x": 1}, run_id="lost")
    assert stolen.is_set()
    _, entries = store.load("lost")
    assert entries == []


@pytest.mark.timeout(30)
def test_a_locked_store_fails_the_run_with_a_coded_error_and_leaves_it_resumable(
    tmp_path: Path,
) -> None:
    import sqlite3

    path = tmp_path / "busy.sqlite"
    blocker = sqlite3.connect(path, isolation_level=None, timeout=0)

    @tool
    def locks(x: int) -> Out:
        blocker.execute("BEGIN EXCLUSIVE")  # another connection holds the file now
        return Out(value=x)

    @tool
    def after(value: int) -> Out:
        return Out(value=value + 1)

    flow = DAGFlow(
        "busy",
        [Step(id="locks", tool="locks"), Step(id="after", tool="after", depends_on=("locks",))],
    )
    store = SQLiteCheckpointer(path, busy_timeout_s=0.2)
    with FlowExecutor([locks, after], checkpointer=store) as ex:
        with pytest.raises(CheckpointBusyError) as info:
            ex.run(flow, {"x": 1}, run_id="b1")
        assert info.value.path == str(path)
        assert info.value.run_id == "b1"
        blocker.execute("ROLLBACK")
        blocker.close()
    with FlowExecutor([_unlocking(), after], checkpointer=store) as again:
        result = again.resume("b1", flow)
    assert result.success, result.error
    assert result.output["value"] == 2


def _unlocking() -> Any:
    @tool(name="locks")
    def locks(x: int) -> Out:
        """The same tool, now that the store is free."""
        return Out(value=x)

    return locks

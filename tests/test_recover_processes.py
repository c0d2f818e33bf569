"""``recover`` with real processes, real SIGKILLs and one SQLite file.

* Twenty runs start in subprocesses (``tests/recover_worker.py``) on one store, each
  SIGKILLed at a journal entry chosen for it (some steps recorded, a call in flight or
  just done); then ONE ``recover()`` in a fresh process finishes all twenty: each
  result equals an uninterrupted run's, nothing the journal held at the kill ran again,
  and everything else ran exactly once.
* A run whose last tool SIGKILLs its own process every time is recovered by
  ``dagwright runs recover`` (the console script) in new processes until it is
  ``dead`` after ``--max-attempts`` recoveries; ``runs list --status dead`` shows it.
* Two processes released at once by a file barrier each run ``recover()`` on the same
  store: every run is resumed, and counted, exactly once between them.

Every tool call appends ``run:step:index`` to a log with an fsync, so the tests count
calls across processes. No wall-clock assertions: subprocesses get a timeout, nothing
more.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from dagwright import FlowExecutor, InMemoryCheckpointer, SQLiteCheckpointer
from dagwright.checkpoint import read_run
from tests import crash_worker as cw
from tests import recover_worker as rw
from tests.cli import recover_tools
from tests.cli.conftest import ROOT, run_script
from tests.cli.flows import write
from tests.test_crash_resume import ALL_UNITS, TOTAL_ENTRIES, canonical, recorded_units

TIMEOUT_S = 120


def worker(env: Mapping[str, str], db: Path, mode: str, log: Path, *extra: str) -> Any:
    argv = [sys.executable, "-m", "tests.recover_worker", str(db), mode, str(log), *extra]
    return subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False, env=env
    )


def start(env: Mapping[str, str], db: Path, mode: str, log: Path, *extra: str) -> Any:
    argv = [sys.executable, "-m", "tests.recover_worker", str(db), mode, str(log), *extra]
    return subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def printed(proc: Any) -> dict[str, Any]:
    assert proc.returncode == 0, f"worker failed ({proc.returncode}):\n{proc.stderr}"
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def calls(log: Path) -> Counter[tuple[str, str]]:
    """(run id, unit) -> how many calls; a unit as ``test_crash_resume`` names them."""
    found: Counter[tuple[str, str]] = Counter()
    if log.exists():
        for line in log.read_text().splitlines():
            run_id, step, index = line.split(":")
            found[(run_id, f"{step}:{index}")] += 1
    return found


def of_run(counted: Counter[tuple[str, str]], run_id: str) -> Counter[str]:
    return Counter({unit: n for (run, unit), n in counted.items() if run == run_id})


def steps_only(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The journal without its recovery entries."""
    return [entry for entry in entries if entry["kind"] != "recovery"]


def expected_runs(tmp: Path, seeds: range) -> dict[int, tuple[str, Any, list[str]]]:
    """Per seed, from an uninterrupted run here: digest, output and canonical journal."""
    memory = InMemoryCheckpointer()
    found = {}
    with FlowExecutor(rw.make_tools(tmp / "here.log"), checkpointer=memory) as executor:
        for seed in seeds:
            result = executor.run(cw.make_flow(), cw.run_inputs(seed), run_id=f"e{seed}")
            assert result.success, result.error
            found[seed] = (result.digest, result.output, canonical(memory.load(f"e{seed}")[1]))
    return found


def kill_runs(
    env: Mapping[str, str], db: Path, log: Path, runs: dict[str, tuple[int, int, str]]
) -> dict[str, set[str]]:
    """Start each run (seed, kill at, when) in its own process, four at a time, each
    SIGKILLed at its journal entry; the units each journal then holds."""

    def one(run_id: str) -> None:
        seed, kill_at, when = runs[run_id]
        killed = worker(env, db, "run", log, "--run-id", run_id, "--seed", str(seed),
                        "--kill-at", str(kill_at), "--kill-when", when)  # fmt: skip
        assert killed.returncode == -signal.SIGKILL, killed.stderr

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, runs))
    recorded: dict[str, set[str]] = {}
    store = SQLiteCheckpointer(db, create=False)
    try:
        for run_id, (_, kill_at, when) in runs.items():
            header, entries = store.load(run_id)
            assert header.status == "running"
            assert len(entries) == (kill_at if when == "after" else kill_at - 1)
            recorded[run_id] = recorded_units(entries)
    finally:
        store.close()
    return recorded


@pytest.mark.timeout(600)
def test_one_recover_finishes_twenty_runs_killed_mid_run(
    tmp_path: Path, env: dict[str, str]
) -> None:
    db, crash_log, recover_log = (
        tmp_path / "runs.sqlite",
        tmp_path / "crash.log",
        tmp_path / "recover.log",
    )
    # Kill points from 2 to TOTAL_ENTRIES - 1: something recorded, something left.
    runs = {
        f"run-{k:02d}": (k, 2 + k % (TOTAL_ENTRIES - 2), "after" if k % 2 else "before")
        for k in range(20)
    }
    expected = expected_runs(tmp_path, range(20))
    recorded = kill_runs(env, db, crash_log, runs)
    assert all(recorded.values()) and all(units != ALL_UNITS for units in recorded.values())
    crashed = calls(crash_log)
    for run_id, (_, _, when) in runs.items():
        in_flight = set(of_run(crashed, run_id)) - recorded[run_id]
        if when == "before":  # the unit whose entry was about to be written had run
            assert in_flight, run_id
        assert len(in_flight) <= 4, (run_id, in_flight)  # at most max_concurrency

    data = printed(worker(env, db, "recover", recover_log))

    report = data["report"]
    assert report["ok"] is True
    store = SQLiteCheckpointer(db, create=False)
    try:
        oldest_first = [h.run_id for h in store.runs()]
        assert [r["run_id"] for r in report["runs"]] == oldest_first
        assert sorted(oldest_first) == sorted(runs)
        assert [r["run_id"] for r in report["results"]] == oldest_first
        assert (report["dead"], report["skipped"], report["errors"]) == ([], [], [])
        recovered = calls(recover_log)
        for run_id, (seed, _, _) in runs.items():
            summary = data["summaries"][run_id]
            digest, output, journal = expected[seed]
            assert summary["success"], summary["error"]
            assert (summary["digest"], summary["output"]) == (digest, output)
            cw_map_check(summary, seed)
            # Nothing the journal held at the kill ran again; the rest ran exactly once.
            done = recorded[run_id]
            assert of_run(recovered, run_id) == Counter(ALL_UNITS - done), run_id
            assert done <= set(of_run(crashed, run_id)), "recorded without a call"
            stored = read_run(store, run_id)
            assert stored.header.status == "succeeded"
            assert stored.recoveries == 1
            assert canonical(steps_only(store.load(run_id)[1])) == journal
    finally:
        store.close()


def cw_map_check(summary: Mapping[str, Any], seed: int) -> None:
    """Every map item's result exactly once, in item order."""
    from tests.test_crash_resume import check_map_results

    check_map_results(summary, seed)


@pytest.mark.timeout(300)
def test_a_run_that_kills_its_process_every_time_ends_dead(tmp_path: Path) -> None:
    flow = write(tmp_path, "doomed.flow.yaml", recover_tools.DOOMED)
    store = str(tmp_path / "runs.sqlite")
    log = tmp_path / "calls.log"
    env = {"DAGWRIGHT_TEST_CALLS": str(log)}
    started = run_script("run", flow, "--run-id", "doomed", "--input", '{"n": 3}',
                         "--store", store, env=env)  # fmt: skip
    assert started.returncode == -signal.SIGKILL, started.stderr
    recover = ("runs", "recover", flow, "--store", store, "--max-attempts", "2")
    for attempt in (1, 2):  # each recovery resumes the run, whose tool kills it again
        died = run_script(*recover, env=env)
        assert died.returncode == -signal.SIGKILL, (attempt, died.stdout, died.stderr)
        checkpointer = SQLiteCheckpointer(store, create=False)
        try:
            stored = read_run(checkpointer, "doomed")
        finally:
            checkpointer.close()
        assert (stored.header.status, stored.recoveries) == ("running", attempt)

    dead = run_script(*recover, env=env)
    assert dead.returncode == 1, dead.stderr
    lines = dead.stdout.splitlines()
    assert lines[1].split()[:4] == ["doomed", "doomed", "1", "dead"]
    assert lines[2].endswith("0 succeeded, 0 failed, 1 dead, 0 skipped, 0 error(s)")
    calls_made = Counter(log.read_text().splitlines())
    assert calls_made == Counter(
        {"doomed:double": 1, "doomed:square": 1, "doomed:add": 1, "doomed:publish": 3}
    )  # the recorded steps never ran again; the killing one once per process

    listed = run_script("runs", "list", "--status", "dead", "--store", store)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:4] for line in listed.stdout.splitlines()[1:]] == [
        ["doomed", "doomed", "1", "dead"]
    ]
    as_json = run_script("runs", "list", "--status", "dead", "--store", store, "--json")
    assert [run["status"] for run in json.loads(as_json.stdout)["runs"]] == ["dead"]
    again = run_script(*recover, env=env)
    assert (again.returncode, again.stdout) == (0, f"no runs to recover in {store}\n")
    assert Counter(log.read_text().splitlines())["doomed:publish"] == 3
    checkpointer = SQLiteCheckpointer(store, create=False)
    try:
        stored = read_run(checkpointer, "doomed")
        assert (stored.header.status, stored.recoveries, stored.lease) == ("dead", 2, None)
    finally:
        checkpointer.close()


@pytest.mark.timeout(600)
def test_two_recovering_processes_resume_each_run_once(tmp_path: Path, env: dict[str, str]) -> None:
    db, go = tmp_path / "runs.sqlite", tmp_path / "go"
    runs = {f"r{k}": (k, 2 + (3 * k) % (TOTAL_ENTRIES - 2), "after") for k in range(8)}
    expected = expected_runs(tmp_path, range(8))
    recorded = kill_runs(env, db, tmp_path / "crash.log", runs)
    logs = [tmp_path / f"recover-{k}.log" for k in range(2)]
    procs = [start(env, db, "recover", log, "--start-file", str(go)) for log in logs]
    go.touch()  # both list the runs and race for them at once
    outcomes = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=TIMEOUT_S)
            outcomes.append(
                printed(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
            )
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    resumed = [r["run_id"] for data in outcomes for r in data["report"]["results"]]
    assert sorted(resumed) == sorted(runs)  # each run by exactly one of the two
    for data in outcomes:
        report = data["report"]
        assert report["ok"] and report["errors"] == [] and report["dead"] == []
        taken = {r["run_id"] for r in report["results"]}
        assert set(report["skipped"]) | taken == {r["run_id"] for r in report["runs"]}
        assert not set(report["skipped"]) & taken
    counted = calls(logs[0]) + calls(logs[1])
    store = SQLiteCheckpointer(db, create=False)
    try:
        for run_id, (seed, _, _) in runs.items():
            assert of_run(counted, run_id) == Counter(ALL_UNITS - recorded[run_id]), run_id
            stored = read_run(store, run_id)
            assert (stored.header.status, stored.recoveries) == ("succeeded", 1)
            assert canonical(steps_only(store.load(run_id)[1])) == expected[seed][2]
        summaries = {k: v for data in outcomes for k, v in data["summaries"].items()}
        for run_id, (seed, _, _) in runs.items():
            assert summaries[run_id]["digest"] == expected[seed][0]
    finally:
        store.close()

"""Crash-then-resume with real processes, real SIGKILLs and a real SQLite file.

Each case starts a checkpointed run in a subprocess (``tests/crash_worker.py``) that
SIGKILLs itself at its Nth journal write (right after the Nth entry is durable, or right
before it is written), then resumes the run in a fresh subprocess, for every N from 1
to the length of an uninterrupted run's journal, in the sync lane (max_concurrency 1
and 4) and the async lane. Tools append ``<step_id>:<index>`` to a log at every call,
so the tests count executions: what the journal held at the kill never runs again;
what was in flight may (at most ``max_concurrency`` units); the resumed result is
byte-identical to an uninterrupted run's. Cases run a few at a time (each in its own
directory); each test then checks its own. Two more tests: a resume killed in turn and
resumed again, and four processes writing one SQLite file at once, losing nothing.

No wall-clock assertions: every subprocess has a generous timeout, nothing more.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dagwright import FlowExecutor
from dagwright.checkpoint import InMemoryCheckpointer, SQLiteCheckpointer
from dagwright.results import StepRecord
from tests import crash_worker as cw

WORKER = Path(__file__).with_name("crash_worker.py")
TIMEOUT_S = 120
CRASH_WORKERS = 4

# Lane configurations: (lane, max_concurrency).
CONFIGS: dict[str, tuple[str, int]] = {
    "sync-1": ("sync", 1),
    "sync-4": ("sync", 4),
    "async-4": ("async", 4),
}

# Every unit of work that calls a tool, as the worker's side-effect log names it.
MAP_UNITS = tuple(f"{cw.MAP_STEP}:{i}" for i in range(cw.N_ITEMS))
ALL_UNITS = frozenset({f"{step}:-" for step in cw.PLAIN_STEPS} | set(MAP_UNITS))
# One entry per plain step, per map instance, and one for the map step itself. The
# baseline test checks an uninterrupted run journals exactly this many.
TOTAL_ENTRIES = len(cw.PLAIN_STEPS) + cw.N_ITEMS + 1
# Kill points "right before the Nth write": nothing recorded, a first batch, the middle,
# and the very last entry.
BEFORE_POINTS = (1, 2, 7, TOTAL_ENTRIES)


# ---- helpers ----------------------------------------------------------------------------


def worker(
    env: Mapping[str, str],
    db: Path,
    mode: str,
    config: str,
    kill_at: int,
    log: Path,
    *extra: str,
) -> subprocess.CompletedProcess[str]:
    """Run crash_worker.py to the end (or to its death) and return what happened."""
    lane, limit = CONFIGS[config]
    argv = [sys.executable, str(WORKER), str(db), mode, lane, str(limit), str(kill_at), str(log)]
    return subprocess.run(
        [*argv, *extra], capture_output=True, text=True, timeout=TIMEOUT_S, check=False, env=env
    )


def printed(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON a worker printed, after checking it exited cleanly."""
    assert proc.returncode == 0, f"worker failed ({proc.returncode}):\n{proc.stderr}"
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def log_lines(log: Path) -> list[str]:
    """The units a worker's tools ran, one per call, in order."""
    return log.read_text().splitlines() if log.exists() else []


def load(db: Path, run_id: str = "r1") -> tuple[Any, list[dict[str, Any]]]:
    """A run's header and journal, read by this process from the file."""
    checkpointer = SQLiteCheckpointer(db)
    try:
        return checkpointer.load(run_id)
    finally:
        checkpointer.close()


def entry_key(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    """What identifies the unit an entry records."""
    return (entry["kind"], tuple(entry["path"]), entry["step"], entry.get("index"))


def canonical(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """Entries without times, sorted: comparable across runs whatever the write order."""
    out = []
    for entry in entries:
        data = dict(entry)
        data["record"] = StepRecord.from_dict(entry["record"]).to_dict(times=False)
        out.append(json.dumps(data, sort_keys=True))
    return sorted(out)


def recorded_units(entries: Iterable[Mapping[str, Any]]) -> set[str]:
    """The tool-calling units a journal marks as done: never to run again."""
    units: set[str] = set()
    for entry in entries:
        assert entry["path"] == [], entry
        if entry["kind"] == "instance":
            assert entry["step"] == cw.MAP_STEP and entry["count"] == cw.N_ITEMS, entry
            units.add(f"{cw.MAP_STEP}:{entry['index']}")
        elif entry["step"] == cw.MAP_STEP:  # the map step: all of its instances
            children = entry["record"]["children"]
            assert [c["index"] for c in children] == list(range(cw.N_ITEMS)), entry
            units.update(MAP_UNITS)
        else:
            units.add(f"{entry['step']}:-")
    return units


def expected_squares(seed: int) -> list[dict[str, int]]:
    """The map's results, in item order, computed here without dagwright."""
    base = seed + 7
    values = [seed * 100 + 3 * i + 1 for i in range(cw.N_ITEMS)]
    return [{"i": i, "value": v * v + base} for i, v in enumerate(values)]


def check_map_results(result: Mapping[str, Any], seed: int) -> None:
    """Every item's result exactly once, in item order, in the output and the records."""
    squares = result["output"]["squares"]
    assert squares == expected_squares(seed)
    assert [index for index, _ in result["instances"]] == list(range(cw.N_ITEMS))
    assert [outputs for _, outputs in result["instances"]] == squares
    assert result["output"]["count"] == cw.N_ITEMS


@dataclass(frozen=True)
class Baseline:
    result: dict[str, Any]  # the worker's summary of an uninterrupted run
    entries: list[dict[str, Any]]
    log: list[str]


@pytest.fixture(scope="module")
def baseline(
    tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]
) -> Callable[[str], Baseline]:
    """An uninterrupted run per lane configuration, made once, on demand."""
    cache: dict[str, Baseline] = {}

    def get(config: str) -> Baseline:
        if config not in cache:
            tmp = tmp_path_factory.mktemp(f"baseline-{config}")
            db, log = tmp / "runs.sqlite", tmp / "effects.log"
            # One kill point past the expected journal: it must never be reached.
            result = printed(worker(env, db, "run", config, TOTAL_ENTRIES + 1, log))["r1"]
            header, entries = load(db)
            assert header.status == "succeeded"
            cache[config] = Baseline(result, entries, log_lines(log))
        return cache[config]

    return get


# ---- an uninterrupted run ---------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS)
def test_uninterrupted_run_journals_each_unit_once(
    config: str, baseline: Callable[[str], Baseline]
) -> None:
    base = baseline(config)
    assert base.result["success"], base.result["error"]
    check_map_results(base.result, seed=0)
    assert Counter(base.log) == Counter(ALL_UNITS)
    keys = [entry_key(entry) for entry in base.entries]
    assert len(keys) == len(set(keys)) == TOTAL_ENTRIES
    assert recorded_units(base.entries) == ALL_UNITS


def test_uninterrupted_runs_agree_across_lanes(baseline: Callable[[str], Baseline]) -> None:
    results = [baseline(config) for config in CONFIGS]
    assert len({b.result["digest"] for b in results}) == 1
    assert len({json.dumps(b.result["output"], sort_keys=True) for b in results}) == 1
    assert len({tuple(canonical(b.entries)) for b in results}) == 1


# ---- crash at every journal write, then resume in a fresh process -------------------------

CASES = [
    pytest.param(config, n, "after", id=f"{config}-after-{n}")
    for config in CONFIGS
    for n in range(1, TOTAL_ENTRIES + 1)
] + [
    pytest.param(config, n, "before", id=f"{config}-before-{n}")
    for config in CONFIGS
    for n in BEFORE_POINTS
]
CRASH_TEST = "test_sigkill_at_a_journal_write_then_resume"

Case = tuple[str, int, str]  # config, kill_at, when


@dataclass(frozen=True)
class Crash:
    """One case, played out: a run killed at a journal write, then resumed."""

    killed: subprocess.CompletedProcess[str]
    status_at_kill: str
    at_kill: list[dict[str, Any]]  # the journal as the kill left it
    before_kill: list[str]  # the killed process's tool calls
    resumed: subprocess.CompletedProcess[str]
    after_kill: list[str]  # the resuming process's tool calls
    final_status: str
    final: list[dict[str, Any]]  # the journal after the resume


def crash_and_resume(env: Mapping[str, str], tmp: Path, case: Case) -> Crash:
    """Start the run in a subprocess that SIGKILLs itself, then resume it in a fresh one."""
    config, kill_at, when = case
    db, run_log, resume_log = tmp / "runs.sqlite", tmp / "run.log", tmp / "resume.log"
    killed = worker(env, db, "run", config, kill_at, run_log, "--kill-when", when)
    header, at_kill = load(db)
    resumed = worker(env, db, "resume", config, 0, resume_log)
    final_header, final = load(db)
    return Crash(
        killed,
        header.status,
        at_kill,
        log_lines(run_log),
        resumed,
        log_lines(resume_log),
        final_header.status,
        final,
    )


@pytest.fixture(scope="module")
def crashes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]
) -> Iterator[Callable[[Case], Crash]]:
    """Plays every selected case, CRASH_WORKERS at a time (the processes mostly wait on
    fsync and on interpreter start-up), and hands each test its own."""
    selected: list[Case] = []
    for item in request.session.items:
        if getattr(item, "originalname", None) == CRASH_TEST:
            params = item.callspec.params  # type: ignore[attr-defined]
            selected.append((params["config"], params["kill_at"], params["when"]))
    with ThreadPoolExecutor(max_workers=CRASH_WORKERS) as pool:
        futures: dict[Case, Future[Crash]] = {}

        def play(case: Case) -> Future[Crash]:
            tmp = tmp_path_factory.mktemp("crash-{}-{}-{}".format(*case))
            return pool.submit(crash_and_resume, env, tmp, case)

        for case in selected:
            futures[case] = play(case)
        yield lambda case: (futures.get(case) or play(case)).result(timeout=4 * TIMEOUT_S)
        for future in futures.values():
            future.cancel()


@pytest.mark.parametrize(("config", "kill_at", "when"), CASES)
def test_sigkill_at_a_journal_write_then_resume(
    config: str,
    kill_at: int,
    when: str,
    baseline: Callable[[str], Baseline],
    crashes: Callable[[Case], Crash],
) -> None:
    base = baseline(config)
    assert kill_at <= len(base.entries)
    limit = CONFIGS[config][1]
    crash = crashes((config, kill_at, when))

    # The run died by SIGKILL at its kill_at-th journal write, leaving exactly the
    # entries before that point.
    killed = crash.killed
    assert killed.returncode == -signal.SIGKILL, (
        f"the run was not killed ({killed.returncode}):\n{killed.stderr}{killed.stdout}"
    )
    assert crash.status_at_kill == "running"
    assert len(crash.at_kill) == (kill_at if when == "after" else kill_at - 1)
    keys = [entry_key(entry) for entry in crash.at_kill]
    assert len(keys) == len(set(keys)), "an entry was journaled twice"
    recorded = recorded_units(crash.at_kill)
    before_kill, after_kill = crash.before_kill, crash.after_kill
    assert max(Counter(before_kill).values(), default=1) == 1, before_kill
    assert recorded <= set(before_kill), "a unit was recorded that never ran"
    # A record is durable before the slot it frees is reused: at most max_concurrency
    # units ran without being recorded (in flight, or done but not yet written).
    in_flight = set(before_kill) - recorded
    assert len(in_flight) <= limit, (in_flight, recorded)

    # A fresh process resumed it.
    result = printed(crash.resumed)["r1"]
    # (1) the same result as an uninterrupted run, to the byte.
    assert result["success"], result["error"]
    assert result["digest"] == base.result["digest"]
    assert result["output"] == base.result["output"]
    # (2) every map item's result exactly once, in order.
    check_map_results(result, seed=0)
    # (3) nothing recorded before the kill ran again; everything else ran exactly once
    # (units in flight at the kill ran again: at-least-once for them).
    rerun = sorted(set(after_kill) & recorded)
    assert not rerun, f"recorded before the kill, yet ran again on resume: {rerun}"
    assert Counter(after_kill) == Counter(ALL_UNITS - recorded)
    assert set(before_kill) | set(after_kill) == ALL_UNITS

    # The journal now holds each unit once, exactly as an uninterrupted run's does.
    assert crash.final_status == "succeeded"
    assert crash.final[: len(crash.at_kill)] == crash.at_kill
    assert canonical(crash.final) == canonical(base.entries)


# ---- several processes on one SQLite file ----------------------------------------------


def test_concurrent_processes_lose_no_journal_entry(tmp_path: Path, env: dict[str, str]) -> None:
    runs_each = 6
    processes = [("p0", "sync-4"), ("p1", "async-4"), ("p2", "sync-4"), ("p3", "async-4")]
    db, start = tmp_path / "shared.sqlite", tmp_path / "go"

    # What each seed's run must produce, from an in-memory run in this process.
    expected: dict[int, tuple[str, list[str]]] = {}
    memory = InMemoryCheckpointer()
    with FlowExecutor(
        cw.make_tools(tmp_path / "here.log"), checkpointer=memory, max_concurrency=1
    ) as executor:
        for seed in range(runs_each):
            result = executor.run(cw.make_flow(), cw.run_inputs(seed), run_id=f"e{seed}")
            assert result.success, result.error
            expected[seed] = (result.digest, canonical(memory.load(f"e{seed}")[1]))

    procs = []
    for prefix, config in processes:
        lane, limit = CONFIGS[config]
        argv = [sys.executable, str(WORKER), str(db), "many", lane, str(limit), "0"]
        argv += [str(tmp_path / f"{prefix}.log"), "--synchronous", "NORMAL"]
        argv += ["--runs", str(runs_each), "--prefix", prefix, "--start-file", str(start)]
        procs.append(
            subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
            )
        )
    start.touch()  # all four start their runs at once
    outcomes = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=TIMEOUT_S)
            outcomes.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    run_ids = []
    for (prefix, _), outcome in zip(processes, outcomes, strict=True):
        results = printed(outcome)
        for seed in range(runs_each):
            run_id = f"{prefix}-{seed}"
            run_ids.append(run_id)
            assert results[run_id]["success"], results[run_id]["error"]
            assert results[run_id]["digest"] == expected[seed][0]
            check_map_results(results[run_id], seed)
        lines = log_lines(tmp_path / f"{prefix}.log")
        assert Counter(lines) == Counter(dict.fromkeys(ALL_UNITS, runs_each))

    # Every run's journal holds exactly its expected entries: none lost, none doubled.
    journals: dict[str, list[dict[str, Any]]] = {}
    checkpointer = SQLiteCheckpointer(db)
    try:
        assert sorted(h.run_id for h in checkpointer.runs()) == sorted(run_ids)
        for run_id in run_ids:
            seed = int(run_id.rsplit("-", 1)[1])
            header, entries = checkpointer.load(run_id)
            assert header.status == "succeeded"
            assert dict(header.inputs) == cw.run_inputs(seed)
            assert len(entries) == TOTAL_ENTRIES
            assert canonical(entries) == expected[seed][1], run_id
            journals[run_id] = entries
    finally:
        checkpointer.close()

    # Every run resumes as already finished: nothing runs, same digest, journal unchanged.
    halves = {"sync-4": run_ids[: len(run_ids) // 2], "async-4": run_ids[len(run_ids) // 2 :]}
    for config, ids in halves.items():
        log = tmp_path / f"resume-{config}.log"
        results = printed(worker(env, db, "resume", config, 0, log, "--run-id", ",".join(ids)))
        assert log_lines(log) == [], "resuming a finished run ran tools"
        for run_id in ids:
            seed = int(run_id.rsplit("-", 1)[1])
            assert results[run_id]["success"]
            assert results[run_id]["digest"] == expected[seed][0]
            header, entries = load(db, run_id)
            assert header.status == "succeeded"
            assert entries == journals[run_id]


# ---- a crash during the resume, then another resume ----------------------------------------


@pytest.mark.parametrize("config", CONFIGS)
def test_sigkill_during_resume_then_resume_again(
    config: str, baseline: Callable[[str], Baseline], env: dict[str, str], tmp_path: Path
) -> None:
    base = baseline(config)
    db = tmp_path / "runs.sqlite"
    logs = [tmp_path / f"session-{k}.log" for k in range(3)]
    recorded: set[str] = set()
    entries: list[dict[str, Any]] = []
    # The run dies at its 3rd journal write, the first resume at its own 2nd.
    for session, (mode, kill_at) in enumerate((("run", 3), ("resume", 2))):
        killed = worker(env, db, mode, config, kill_at, logs[session])
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        ran = log_lines(logs[session])
        assert not set(ran) & recorded, f"session {session} re-ran recorded units"
        _, now = load(db)
        assert now[: len(entries)] == entries
        assert len(now) == len(entries) + kill_at
        entries = now
        recorded = recorded_units(entries)
    result = printed(worker(env, db, "resume", config, 0, logs[2]))["r1"]
    assert result["digest"] == base.result["digest"]
    check_map_results(result, seed=0)
    last = log_lines(logs[2])
    assert Counter(last) == Counter(ALL_UNITS - recorded)
    header, final = load(db)
    assert header.status == "succeeded"
    assert canonical(final) == canonical(base.entries)

"""``FlowExecutor.recover`` in one process, on both stores.

A run "dies" here in two ways: a tool raises ``KeyboardInterrupt`` (the run is recorded
``interrupted``, its lease released), or the store wrapper :class:`DiesAfter` raises
:class:`Crash` right after a journal write (the run stays ``running`` with a lease whose
owner, in this process, no longer holds it: gone, as a dead process's is). Every tool
call is noted with its run and step, so the tests see what ran again. Real processes and
SIGKILLs are in ``tests/test_recover_processes.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dagwright import (
    CheckpointMismatchError,
    ExecutorClosedError,
    Flow,
    FlowExecutor,
    FlowNotFoundError,
    FlowRegistry,
    InMemoryCheckpointer,
    RecoveryFailure,
    RecoveryReport,
    RunLockedError,
    SQLiteCheckpointer,
    Step,
    UsageError,
    current_call,
    tool,
)
from dagwright._recover import recover as recover_with
from dagwright.checkpoint import Checkpointer, Owner, RunHeader, RunList, read_run

# ---- tools that note each call, with traps per run ------------------------------------

CALLS: list[tuple[str, str]] = []
TRAPS: dict[tuple[str, str], Callable[[], None]] = {}
_LOCK = threading.Lock()


def note() -> None:
    """Record the call as (run id, step id), then spring the trap set for it, if any."""
    call = current_call()
    assert call is not None
    with _LOCK:
        CALLS.append((call.run_id, call.step_id))
        trap = TRAPS.get((call.run_id, call.step_id))
    if trap is not None:
        trap()


def interrupt() -> None:
    raise KeyboardInterrupt


@tool(output="a")
def first(n: int) -> int:
    """Step one."""
    note()
    return n + 1


@tool(output="b")
def second(a: int) -> int:
    """Step two."""
    note()
    return a * 10


@tool(output="c")
def third(b: int) -> int:
    """Step three."""
    note()
    return b - 1


TOOLS = [first, second, third]
FLOW = Flow("chain", [Step(tool="first"), Step(tool="second"), Step(tool="third")])
STEPS = ("first", "second", "third")


def expected(n: int) -> dict[str, int]:
    return {"n": n, "a": n + 1, "b": (n + 1) * 10, "c": (n + 1) * 10 - 1}


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    CALLS.clear()
    TRAPS.clear()
    yield
    TRAPS.clear()


def calls_of(run_id: str) -> list[str]:
    with _LOCK:
        return [step for run, step in CALLS if run == run_id]


class Crash(BaseException):
    """Stands for the process dying: nothing in dagwright catches it."""


class DiesAfter:
    """The store, until the "process" dies right after its ``n``-th journal append."""

    def __init__(self, inner: Checkpointer, n: int) -> None:
        self.inner = inner
        self.left = n
        self.lease_s = inner.lease_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def append(self, run_id: str, entries: Any, owner: Owner) -> None:
        self.inner.append(run_id, entries, owner)
        self.left -= len(entries)
        if self.left <= 0:
            raise Crash


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Checkpointer]:
    made: Checkpointer = (
        InMemoryCheckpointer() if request.param == "memory" else SQLiteCheckpointer(tmp_path / "s")
    )
    yield made
    made.close()


def registry() -> FlowRegistry:
    found = FlowRegistry()
    found.register(FLOW)
    return found


def executor(store: Checkpointer, **kw: Any) -> FlowExecutor:
    return FlowExecutor(TOOLS, registry=registry(), checkpointer=store, **kw)


def crashed(store: Checkpointer, run_id: str, n: int, after: int = 1, flow: Flow = FLOW) -> None:
    """A run of ``flow`` on ``n`` that died right after its ``after``-th journal write."""
    with executor(DiesAfter(store, after)) as ex, pytest.raises(Crash):  # type: ignore[arg-type]
        ex.run(flow, {"n": n}, run_id=run_id)
    assert store.header(run_id).status == "running"
    assert store.lease(run_id) is not None


def interrupted(store: Checkpointer, run_id: str, n: int, step: str = "second") -> None:
    """A run of ``n`` stopped by a KeyboardInterrupt in ``step`` (the trap is removed)."""
    TRAPS[(run_id, step)] = interrupt
    with executor(store) as ex, pytest.raises(KeyboardInterrupt):
        ex.run(FLOW, {"n": n}, run_id=run_id)
    del TRAPS[(run_id, step)]
    assert store.header(run_id).status == "interrupted"
    assert store.lease(run_id) is None


def finished(store: Checkpointer, run_id: str, n: int) -> None:
    with executor(store) as ex:
        ex.run(FLOW, {"n": n}, run_id=run_id).raise_for_error()


# ---- what is recovered ---------------------------------------------------------------


def test_crashed_and_interrupted_runs_finish_and_finished_ones_are_untouched(
    store: Checkpointer,
) -> None:
    finished(store, "done", 7)
    crashed(store, "crash", 1, after=1)  # `first` recorded
    interrupted(store, "stop", 2, step="third")  # `first` and `second` recorded
    done_before = store.load("done")
    CALLS.clear()

    with executor(store) as ex:
        report = ex.recover()

    assert isinstance(report, RecoveryReport)
    assert [h.run_id for h in report.runs] == ["crash", "stop"]  # oldest first
    assert [r.run_id for r in report.results] == ["crash", "stop"]
    assert report.recovered == ("crash", "stop")
    assert (report.dead, report.skipped, report.errors) == ((), (), ())
    assert report.ok
    assert report.results[0].output == expected(1)
    assert report.results[1].output == expected(2)
    # Nothing recorded before the stop ran again; the rest ran once.
    assert calls_of("crash") == ["second", "third"]
    assert calls_of("stop") == ["third"]
    assert calls_of("done") == []
    # The finished run: header and journal as they were.
    assert store.load("done") == done_before
    for run_id, count in (("crash", 1), ("stop", 1), ("done", 0)):
        assert store.header(run_id).status == "succeeded"
        assert read_run(store, run_id).recoveries == count
    # The report as JSON.
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is True
    assert [(r["run_id"], r["flow_name"], r["outcome"]) for r in data["runs"]] == [
        ("crash", "chain", "succeeded"),
        ("stop", "chain", "succeeded"),
    ]
    assert [r["output"] for r in data["results"]] == [expected(1), expected(2)]
    assert (data["dead"], data["skipped"], data["errors"]) == ([], [], [])

    # Nothing is left to recover.
    with executor(store) as ex:
        assert ex.recover() == RecoveryReport()


def test_the_results_equal_those_of_uninterrupted_runs(store: Checkpointer) -> None:
    crashed(store, "c", 5, after=2)
    with FlowExecutor(TOOLS) as plain:
        baseline = plain.run(FLOW, {"n": 5})
    with executor(store) as ex:
        (result,) = ex.recover().results
    assert result.digest == baseline.digest
    assert result.output == baseline.output


def test_a_resumed_run_that_fails_is_reported_failed(store: Checkpointer) -> None:
    interrupted(store, "bad", 1, step="third")

    def fail() -> None:
        raise ValueError("no third step today")

    TRAPS[("bad", "third")] = fail
    with executor(store) as ex:
        report = ex.recover()
    assert report.outcome("bad") == "failed"
    assert not report.ok
    assert report.recovered == ()
    (result,) = report.results
    assert not result.success
    assert result.error is not None and result.error.code == "DW-E101"
    assert store.header("bad").status == "failed"
    run = report.to_dict()["runs"][0]
    assert (run["outcome"], run["code"]) == ("failed", "DW-E101")
    # A failed run is finished: never a candidate.
    with executor(store) as ex:
        assert ex.recover().runs == ()


def test_a_run_a_live_owner_is_driving_is_not_touched(store: Checkpointer) -> None:
    crashed(store, "dead-owner", 1)
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        assert release.wait(30)

    TRAPS[("busy", "second")] = hold
    outcome: dict[str, Any] = {}
    with executor(store) as owner:
        driver = threading.Thread(
            target=lambda: outcome.update(r=owner.run(FLOW, {"n": 3}, run_id="busy"))
        )
        driver.start()
        try:
            assert entered.wait(30)
            journal = store.load("busy")[1]
            with executor(store) as ex:
                report = ex.recover()
            assert [h.run_id for h in report.runs] == ["dead-owner"]
            assert report.outcome("dead-owner") == "succeeded"
            with pytest.raises(KeyError):
                report.outcome("busy")
            assert store.load("busy")[1] == journal  # not a word written
            assert store.header("busy").status == "running"
        finally:
            release.set()
            driver.join(30)
    assert outcome["r"].success
    assert calls_of("busy") == ["first", "second", "third"]
    assert read_run(store, "busy").recoveries == 0


# ---- dead runs -----------------------------------------------------------------------


def test_a_run_out_of_recoveries_is_dead_reported_and_never_taken_again(
    store: Checkpointer,
) -> None:
    TRAPS[("doomed", "second")] = interrupt  # dies every time, as a crashing tool would
    with executor(store) as ex:
        with pytest.raises(KeyboardInterrupt):
            ex.run(FLOW, {"n": 1}, run_id="doomed")
        for attempt in (1, 2):
            with pytest.raises(KeyboardInterrupt):
                ex.recover(max_attempts=2)
            assert read_run(store, "doomed").recoveries == attempt
            assert store.header("doomed").status == "interrupted"
        assert calls_of("doomed") == ["first", "second", "second", "second"]

        report = ex.recover(max_attempts=2)
        assert report.dead == ("doomed",)
        assert report.outcome("doomed") == "dead"
        assert report.results == ()
        assert not report.ok
        assert report.to_dict()["runs"][0]["outcome"] == "dead"
        assert calls_of("doomed") == ["first", "second", "second", "second"]  # not resumed
        assert store.header("doomed").status == "dead"
        assert store.lease("doomed") is None
        assert read_run(store, "doomed").recoveries == 2  # marking it dead is no recovery

        # Never a candidate again, whatever max_attempts says now.
        assert ex.recover(max_attempts=10) == RecoveryReport()

        # A resume by hand still finishes it.
        del TRAPS[("doomed", "second")]
        assert ex.resume("doomed").output == expected(1)
    assert store.header("doomed").status == "succeeded"


def test_max_attempts_counts_the_recoveries_so_far(store: Checkpointer) -> None:
    interrupted(store, "once", 4)
    with executor(store) as ex:
        TRAPS[("once", "second")] = interrupt
        with pytest.raises(KeyboardInterrupt):
            ex.recover(max_attempts=1)
        del TRAPS[("once", "second")]
        assert ex.recover(max_attempts=2).recovered == ("once",)
    assert read_run(store, "once").recoveries == 2


# ---- runs that cannot be resumed -------------------------------------------------------


def test_a_missing_or_changed_flow_is_reported_and_the_others_recover(
    store: Checkpointer,
) -> None:
    other = Flow("other", [Step(tool="first"), Step(tool="second")])
    changed = Flow("chain", [Step(tool="first"), Step(tool="second")], version="2")
    crashed(store, "lost", 1, flow=other)
    crashed(store, "fine", 2)
    crashed(store, "moved", 3, flow=Flow("chain", FLOW.steps, version="2"))
    reg = registry()
    reg.register(changed)  # chain v2 is now another flow than the run's
    journals = {run_id: store.load(run_id)[1] for run_id in ("lost", "moved")}

    with FlowExecutor(TOOLS, registry=reg, checkpointer=store) as ex:
        report = ex.recover()

    assert [h.run_id for h in report.runs] == ["lost", "fine", "moved"]
    assert report.recovered == ("fine",)
    assert [(f.run_id, f.code) for f in report.errors] == [
        ("lost", FlowNotFoundError.code),
        ("moved", CheckpointMismatchError.code),
    ]
    assert all(isinstance(f, RecoveryFailure) and f.message for f in report.errors)
    assert "other" in report.errors[0].message
    assert report.outcome("lost") == "error"
    assert not report.ok
    for run_id, journal in journals.items():  # refused before the lease: nothing counted
        assert store.header(run_id).status == "running"
        assert store.load(run_id)[1] == journal
    runs = {run["run_id"]: run for run in report.to_dict()["runs"]}
    assert runs["lost"]["code"] == "DW-E003"
    assert report.to_dict()["errors"][1] == report.errors[1].to_dict()


# ---- races: the take decides ------------------------------------------------------------


class StaleListing:
    """The store, but ``runs()`` and ``lease()`` answer as they did before: every run
    unfinished and free. What a recoverer that listed a moment too early believes."""

    def __init__(self, inner: Checkpointer) -> None:
        self.inner = inner
        self.lease_s = inner.lease_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def runs(self, flow_name: str | None = None) -> RunList:
        return RunList([h.with_status("interrupted", h.updated_at) for h in self.inner.runs()])

    def lease(self, run_id: str) -> None:
        return None


class WithoutAcquireIf(StaleListing):
    """A stale listing over a checkpointer that has no ``acquire_if``."""

    def __getattr__(self, name: str) -> Any:
        if name == "acquire_if":
            raise AttributeError(name)
        return getattr(self.inner, name)


@pytest.mark.parametrize("view", [StaleListing, WithoutAcquireIf])
def test_a_run_ended_or_taken_since_the_listing_is_skipped_untouched(
    store: Checkpointer, live: Callable[[], Owner], view: type[StaleListing]
) -> None:
    finished(store, "ended", 1)
    interrupted(store, "taken", 2)
    crashed(store, "free", 3)
    owner = live()
    store.acquire("taken", owner, time.time())  # a live owner took it meanwhile
    before = {run_id: store.load(run_id) for run_id in ("ended", "taken")}

    with FlowExecutor(TOOLS, registry=registry(), checkpointer=view(store)) as ex:  # type: ignore[arg-type]
        report = ex.recover()

    assert report.skipped == ("ended", "taken")
    assert report.recovered == ("free",)
    assert report.ok
    for run_id, (header, journal) in before.items():
        assert store.load(run_id) == (header, journal)
    assert store.header("ended").status == "succeeded"


def test_acquire_if_takes_only_a_run_with_one_of_the_statuses(store: Checkpointer) -> None:
    finished(store, "ended", 1)
    interrupted(store, "paused", 2)
    header = store.header("ended")
    owner = Owner.new()
    with pytest.raises(RunLockedError, match="is succeeded now, not running or interrupted"):
        store.acquire_if("ended", owner, header.updated_at + 1, ("running", "interrupted"))  # type: ignore[attr-defined]
    assert store.header("ended") == header
    assert store.lease("ended") is None
    taken = store.acquire_if("paused", owner, header.updated_at + 1, ("interrupted",))  # type: ignore[attr-defined]
    assert isinstance(taken, RunHeader) and taken.status == "running"
    lease = store.lease("paused")
    assert lease is not None and lease.owner == owner


@pytest.mark.parametrize("rounds", range(3))
def test_two_recover_calls_at_once_resume_each_run_once(store: Checkpointer, rounds: int) -> None:
    ids = [f"r{k}" for k in range(6)]
    for k, run_id in enumerate(ids):
        crashed(store, run_id, k)
    CALLS.clear()
    both = threading.Barrier(2, timeout=30)
    reports: list[RecoveryReport] = []

    def go() -> None:
        with executor(store) as ex:
            both.wait()
            reports.append(ex.recover(max_workers=3))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(reports) == 2
    resumed = [r.run_id for report in reports for r in report.results]
    assert sorted(resumed) == ids  # each run resumed exactly once between the two
    for report in reports:
        assert report.ok and report.errors == () and report.dead == ()
        assert set(report.skipped) | set(report.recovered) == {h.run_id for h in report.runs}
    for k, run_id in enumerate(ids):
        assert calls_of(run_id) == ["second", "third"]
        assert read_run(store, run_id).recoveries == 1
        assert store.header(run_id).status == "succeeded"
        assert store.load(run_id)[1][-1]["record"]["outputs"] == {"c": expected(k)["c"]}


# ---- interrupts ----------------------------------------------------------------------


def test_keyboard_interrupt_stops_recover_and_the_runs_in_flight() -> None:
    store = InMemoryCheckpointer()
    for run_id, n in (("a", 1), ("b", 2), ("c", 3)):
        interrupted(store, run_id, n, step="first")
    CALLS.clear()
    stop = threading.Event()
    b_started = threading.Event()

    def a_second() -> None:
        assert b_started.wait(30)
        raise KeyboardInterrupt

    def b_first() -> None:
        b_started.set()
        assert stop.wait(30)  # the call stops while b is in flight

    TRAPS[("a", "second")] = a_second
    TRAPS[("b", "first")] = b_first
    with executor(store) as ex, pytest.raises(KeyboardInterrupt):
        recover_with(ex, 3, max_workers=2, stop=stop)
    assert stop.is_set()
    # a and b were in flight: recorded interrupted, lease released; b stopped at the
    # event after its first step, so its second step never ran. c never started.
    assert calls_of("a") == ["first", "second"]
    assert calls_of("b") == ["first"]
    assert calls_of("c") == []
    for run_id, count in (("a", 1), ("b", 1), ("c", 0)):
        assert store.header(run_id).status == "interrupted"
        assert store.lease(run_id) is None
        assert read_run(store, run_id).recoveries == count
    TRAPS.clear()
    with executor(store) as ex:
        assert ex.recover().recovered == ("a", "b", "c")
    assert calls_of("b") == ["first", "second", "third"]


# ---- misuse --------------------------------------------------------------------------


def test_recover_without_a_checkpointer_is_a_usage_error() -> None:
    with FlowExecutor(TOOLS) as ex, pytest.raises(UsageError, match="recover needs a FlowExecutor"):
        ex.recover()


@pytest.mark.parametrize("name", ["max_attempts", "max_workers"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5, "3", None])
def test_counts_must_be_ints_of_at_least_one(name: str, value: Any) -> None:
    with executor(InMemoryCheckpointer()) as ex, pytest.raises(UsageError) as caught:
        ex.recover(**{name: value})
    assert caught.value.code == "DW-E017"
    assert f"{name} must be an int >= 1" in caught.value.message
    assert caught.value.hint


def test_recover_on_a_closed_executor_raises() -> None:
    ex = executor(InMemoryCheckpointer())
    ex.close()
    with pytest.raises(ExecutorClosedError):
        ex.recover()

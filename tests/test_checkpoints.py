"""Checkpoints and resume: the scenarios that matter, in both lanes and stores.

A crash is simulated in-process by a checkpointer that raises a ``BaseException`` right
after its Nth entry was durably appended (the lane calls it from the driving thread, in
every lane and at any concurrency). Real SIGKILLed processes are in test_crash_resume.py.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import (
    CheckpointMismatchError,
    CheckpointNotFoundError,
    DAGFlow,
    ExecutionResult,
    Flow,
    FlowExecutor,
    FlowRegistry,
    InMemoryCheckpointer,
    Literal,
    MapStep,
    RetryPolicy,
    SQLiteCheckpointer,
    Step,
    tool,
)
from dagwright.checkpoint import Checkpointer, Lease, Owner, RunHeader, RunList, RunStatus


class Crash(BaseException):
    """Stands for the process dying: nothing in dagwright catches it."""


class CrashingCheckpointer:
    """Delegates to a real checkpointer; dies right after the Nth entry is appended."""

    def __init__(self, inner: Checkpointer, crash_after: int) -> None:
        self.inner = inner
        self.crash_after = crash_after
        self.appended = 0
        self.lease_s = inner.lease_s

    def begin(self, header: RunHeader, owner: Owner) -> None:
        self.inner.begin(header, owner)

    def acquire(self, run_id: str, owner: Owner, at: float) -> RunHeader:
        return self.inner.acquire(run_id, owner, at)

    def renew(self, run_id: str, owner: Owner, at: float) -> bool:
        return self.inner.renew(run_id, owner, at)

    def append(self, run_id: str, entries: Sequence[Mapping[str, Any]], owner: Owner) -> None:
        for entry in entries:
            self.inner.append(run_id, [entry], owner)
            self.appended += 1
            if self.appended == self.crash_after:
                raise Crash

    def finish(self, run_id: str, status: RunStatus, at: float, owner: Owner) -> None:
        self.inner.finish(run_id, status, at, owner)

    def lease(self, run_id: str) -> Lease | None:
        return self.inner.lease(run_id)

    def header(self, run_id: str) -> RunHeader:
        return self.inner.header(run_id)

    def load(self, run_id: str) -> tuple[RunHeader, list[dict[str, Any]]]:
        return self.inner.load(run_id)

    def runs(self, flow_name: str | None = None) -> RunList:
        return self.inner.runs(flow_name)

    def delete(self, run_id: str) -> None:
        self.inner.delete(run_id)

    def close(self) -> None:
        self.inner.close()


class Echo(BaseModel):
    value: int


class Ledger:
    """Counts executions of each unit (step id, item)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def note(self, name: str, x: int) -> None:
        with self.lock:
            self.calls.append((name, x))

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()


LEDGER = Ledger()
FAIL_ON: set[int] = set()


@tool
def work(x: int) -> Echo:
    """Doubles x; fails on the items in FAIL_ON."""
    LEDGER.note("work", x)
    if x in FAIL_ON:
        raise ValueError(f"item {x} failed")
    return Echo(value=2 * x)


@tool
def first(x: int) -> Echo:
    """First step of the per-item sub-flow."""
    LEDGER.note("first", x)
    return Echo(value=x + 100)


@tool
def second(value: int) -> Echo:
    """Second step of the per-item sub-flow."""
    LEDGER.note("second", value)
    return Echo(value=value + 1000)


ITEMS = [1, 2, 3, 4, 5, 6]
MAP_FLOW = DAGFlow(
    "mapped",
    [
        MapStep(id="each", over="xs", tool="work", item="x", results="out", max_concurrency=2),
        Step(id="tail", tool="work", inputs={"x": Literal(99)}, depends_on=("each",),
             outputs={"tail": "value"}),
    ],
)  # fmt: skip

Lane = Callable[..., ExecutionResult]


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    LEDGER.reset()
    FAIL_ON.clear()
    yield
    FAIL_ON.clear()


@pytest.fixture(params=["sync-1", "sync-4", "async-1", "async-4"])
def setting(request: pytest.FixtureRequest) -> tuple[str, int]:
    lane, k = request.param.split("-")
    return lane, int(k)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Checkpointer]:
    """A factory of checkpointers on one store (a new one per simulated process)."""
    if request.param == "memory":
        shared = InMemoryCheckpointer()
        return lambda: shared
    path = tmp_path / "runs.sqlite"
    return lambda: SQLiteCheckpointer(path, synchronous="NORMAL")


def go(setting: tuple[str, int], executor: FlowExecutor, call: str, *args: Any) -> ExecutionResult:
    lane, _ = setting
    if lane == "sync":
        return getattr(executor, call)(*args)  # type: ignore[no-any-return]
    return asyncio.run(getattr(executor, f"a{call}")(*args))  # type: ignore[no-any-return]


def executor_for(
    setting: tuple[str, int], checkpointer: Any, registry: FlowRegistry | None = None
) -> FlowExecutor:
    return FlowExecutor(
        [work, first, second], max_concurrency=setting[1], checkpointer=checkpointer,
        registry=registry,
    )  # fmt: skip


def crash_then_resume(
    setting: tuple[str, int],
    store: Callable[[], Checkpointer],
    flow: Any,
    inputs: dict[str, Any],
    crash_after: int,
    registry: FlowRegistry | None = None,
) -> tuple[list[dict[str, Any]], ExecutionResult]:
    """Run until the crash; return the journal at the crash and the resumed result."""
    crashing = CrashingCheckpointer(store(), crash_after)
    with executor_for(setting, crashing, registry) as ex, pytest.raises(Crash):
        go(setting, ex, "run", flow, inputs, "r1")
    _, journal = store().load("r1")
    LEDGER.reset()
    with executor_for(setting, store(), registry) as ex:
        resumed = go(setting, ex, "resume", "r1", flow)
    return journal, resumed


def uninterrupted(
    flow: Any, inputs: dict[str, Any], registry: FlowRegistry | None = None
) -> ExecutionResult:
    with FlowExecutor([work, first, second], registry=registry) as ex:
        result = ex.run(flow, inputs)
    LEDGER.reset()
    return result


def recorded_items(journal: list[dict[str, Any]], step: str) -> set[int]:
    return {e["index"] for e in journal if e["kind"] == "instance" and e["step"] == step}


@pytest.mark.parametrize("crash_after", [1, 3, 5])
def test_completed_instances_are_not_run_again(
    setting: tuple[str, int], store: Callable[[], Checkpointer], crash_after: int
) -> None:
    expected = uninterrupted(MAP_FLOW, {"xs": ITEMS})
    journal, resumed = crash_then_resume(setting, store, MAP_FLOW, {"xs": ITEMS}, crash_after)
    assert resumed.success, resumed.error
    done = {ITEMS[i] for i in recorded_items(journal, "each")}
    assert len(done) == crash_after
    rerun = {x for name, x in LEDGER.calls if name == "work" and x != 99}
    assert not rerun & done  # nothing recorded ran again
    assert rerun == set(ITEMS) - done  # and everything else ran
    # exactly one result per item, in order: no double append, nothing missing
    assert resumed.output["out"] == [{"value": 2 * x} for x in ITEMS]
    assert resumed.digest == expected.digest
    assert [c.index for c in resumed.step("each").children] == list(range(len(ITEMS)))


PAIR_REGISTRY = FlowRegistry()
PAIR_REGISTRY.register(Flow("pair", [Step(tool="first"), Step(tool="second")]))
PAIRS = DAGFlow(
    "pairs",
    [MapStep(id="each", over="xs", flow="pair", item="x", results="out", max_concurrency=1)],
)


def test_map_instances_are_recorded_whole(
    setting: tuple[str, int], store: Callable[[], Checkpointer]
) -> None:
    with executor_for(setting, store(), PAIR_REGISTRY) as ex:
        go(setting, ex, "run", PAIRS, {"xs": [1, 2]}, "r1")
    _, journal = store().load("r1")
    # one entry per instance and one for the map step: none for the steps inside
    assert [(e["kind"], e["path"], e.get("index")) for e in journal] == [
        ("instance", [], 0),
        ("instance", [], 1),
        ("step", [], None),
    ]


@pytest.mark.parametrize("setting", [("sync", 4), ("async", 4)])
def test_in_flight_sub_flow_instance_reruns_from_its_first_step(
    setting: tuple[str, int], store: Callable[[], Checkpointer]
) -> None:
    """Instance 1 ran its first step, then the process died: it re-runs from the start."""
    reached = threading.Event()

    @tool
    def first_then_signal(x: int) -> Echo:
        """Like `first`, but tells the sibling once item 2 has been through it."""
        LEDGER.note("first", x)
        if x == 2:
            reached.set()
        return Echo(value=x + 100)

    @tool
    def waits(x: int) -> Echo:
        """A sibling whose record (the crash point) comes after instance 1's first step."""
        assert reached.wait(10)
        return Echo(value=x)

    held = threading.Event()

    @tool
    def second_held(value: int) -> Echo:
        """Instance 1's second step cannot finish before the crash."""
        LEDGER.note("second", value)
        if value == 102 and not held.is_set():
            held.wait(10)
        return Echo(value=value + 1000)

    registry = FlowRegistry()
    registry.register(Flow("pair", [Step(tool="first_then_signal"), Step(tool="second_held")]))
    flow = DAGFlow(
        "pairs",
        [
            MapStep(id="each", over="xs", flow="pair", item="x", results="out", max_concurrency=1),
            Step(id="side", tool="waits", inputs={"x": Literal(0)}, outputs={"side": "value"}),
        ],
    )
    tools = [first_then_signal, second_held, waits]
    held.set()
    expected = FlowExecutor(tools, registry=registry).run(flow, {"xs": [1, 2]})
    held.clear()
    reached.clear()
    crashing = CrashingCheckpointer(store(), crash_after=2)  # instance 0, then `side`
    ex = FlowExecutor(tools, registry=registry, max_concurrency=setting[1], checkpointer=crashing)
    with pytest.raises(Crash):
        go(setting, ex, "run", flow, {"xs": [1, 2]}, "r1")
    held.set()  # let the abandoned call end, as the dead process's threads would have
    ex.close()
    _, journal = store().load("r1")
    assert [(e["kind"], e.get("index"), e["step"]) for e in journal] == [
        ("instance", 0, "each"),
        ("step", None, "side"),
    ]
    LEDGER.reset()
    with FlowExecutor(tools, registry=registry, max_concurrency=setting[1],
                      checkpointer=store()) as ex:  # fmt: skip
        resumed = go(setting, ex, "resume", "r1", flow)
    assert LEDGER.calls == [("first", 2), ("second", 102)]
    assert resumed.digest == expected.digest


def test_fail_fast_resume_reruns_only_failed_and_unfinished_instances(
    setting: tuple[str, int], store: Callable[[], Checkpointer]
) -> None:
    FAIL_ON.add(3)
    checkpointer = store()
    with executor_for(setting, checkpointer) as ex:
        failed = go(setting, ex, "run", MAP_FLOW, {"xs": ITEMS}, "r1")
    assert not failed.success
    _, journal = store().load("r1")
    done = {ITEMS[i] for i in recorded_items(journal, "each")}
    assert 3 not in done
    FAIL_ON.clear()
    LEDGER.reset()
    with executor_for(setting, store()) as ex:
        resumed = go(setting, ex, "resume", "r1", MAP_FLOW)
    assert resumed.success, resumed.error
    rerun = {x for name, x in LEDGER.calls if name == "work" and x != 99}
    assert rerun == set(ITEMS) - done and 3 in rerun
    assert resumed.output["out"] == [{"value": 2 * x} for x in ITEMS]
    assert resumed.digest == uninterrupted(MAP_FLOW, {"xs": ITEMS}).digest


def test_collect_error_records_roll_forward_once(
    setting: tuple[str, int], store: Callable[[], Checkpointer]
) -> None:
    FAIL_ON.update({2, 5})
    flow = DAGFlow(
        "collecting",
        [MapStep(id="each", over="xs", tool="work", item="x", results="out", errors="errs",
                 error_policy="collect", max_concurrency=2)],
    )  # fmt: skip
    expected = uninterrupted(flow, {"xs": ITEMS})
    journal, resumed = crash_then_resume(setting, store, flow, {"xs": ITEMS}, 4)
    recorded = recorded_items(journal, "each")
    rerun = {x for name, x in LEDGER.calls if name == "work"}
    assert not rerun & {ITEMS[i] for i in recorded}  # recorded errors are not retried
    assert resumed.output["errs"] == expected.output["errs"]
    assert [e["index"] for e in resumed.output["errs"]] == [1, 4]  # once each, in order
    assert resumed.digest == expected.digest


def test_batching_loses_only_unflushed_instances(setting: tuple[str, int], tmp_path: Path) -> None:
    path = tmp_path / "batched.sqlite"
    flow = DAGFlow(
        "batched", [MapStep(id="each", over="xs", tool="work", item="x", results="out",
                            max_concurrency=1)]
    )  # fmt: skip
    xs = list(range(1, 8))
    # the crash comes with the 5th instance entry; with flush_every=3 only 3 were flushed
    crashing = CrashingCheckpointer(SQLiteCheckpointer(path, flush_every=3), crash_after=5)
    with executor_for(setting, crashing) as ex, pytest.raises(Crash):
        go(setting, ex, "run", flow, {"xs": xs}, "r1")
    with SQLiteCheckpointer(path) as fresh:  # a new process: what was buffered is gone
        _, journal = fresh.load("r1")
    assert sorted(recorded_items(journal, "each")) == [0, 1, 2]
    LEDGER.reset()
    with SQLiteCheckpointer(path) as store, executor_for(setting, store) as ex:
        resumed = go(setting, ex, "resume", "r1", flow)
    assert sorted(x for _, x in LEDGER.calls) == xs[3:]
    assert resumed.output["out"] == [{"value": 2 * x} for x in xs]


def test_item_count_drift_fails_before_any_work(
    setting: tuple[str, int], store: Callable[[], Checkpointer]
) -> None:
    """A map's instances were recorded against 3 items; on resume the list has 2."""
    registry = FlowRegistry()
    flow = DAGFlow(
        "drift",
        [
            Step(id="size", tool="work", inputs={"x": "n"}),
            MapStep(id="each", over="xs", tool="work", item="x", results="out",
                    depends_on=("size",)),
        ],
    )  # fmt: skip
    checkpointer = store()
    with executor_for(setting, checkpointer, registry) as ex:
        header = RunHeader(
            "r2", "drift", "1", ex.compile(flow).digest, {"n": 1, "xs": [1, 2]}, "running", 0, 0
        )
        writer = Owner.new()  # a writer of this process that is gone now
        checkpointer.begin(header, writer)
        # an instance recorded when the list had three items
        record = {
            "step_id": "each", "status": "completed", "tool": "work", "flow": None,
            "inputs": {"x": 1}, "outputs": {"value": 2}, "attempts": [], "error": None,
            "index": 0, "children": [], "fallback": None,
        }  # fmt: skip
        checkpointer.append(
            "r2",
            [{"kind": "instance", "path": [], "step": "each", "index": 0, "count": 3,
              "record": record}],
            writer,
        )  # fmt: skip
        LEDGER.reset()
        resumed = go(setting, ex, "resume", "r2", flow)
    assert not resumed.success
    assert resumed.error is not None and resumed.error.type == "CheckpointMismatchError"
    assert resumed.error.step_id == "each"
    assert [name for name, _ in LEDGER.calls] == ["work"]  # only the step before the map


def test_crash_right_after_an_instance_record_resumes_with_only_the_rest(
    setting: tuple[str, int], store: Callable[[], Checkpointer]
) -> None:
    journal, resumed = crash_then_resume(setting, store, MAP_FLOW, {"xs": ITEMS}, 1)
    assert journal[0]["kind"] == "instance"
    assert resumed.success
    assert len([x for name, x in LEDGER.calls if x != 99]) == len(ITEMS) - 1


def test_dag_step_completed_while_a_sibling_failed_is_not_rerun(
    setting: tuple[str, int], store: Callable[[], Checkpointer]
) -> None:
    FAIL_ON.add(7)
    flow = DAGFlow(
        "siblings",
        [
            Step(id="ok", tool="work", inputs={"x": Literal(1)}, outputs={"a": "value"}),
            Step(id="bad", tool="work", inputs={"x": Literal(7)}, outputs={"b": "value"}),
        ],
    )
    with executor_for(setting, store()) as ex:
        first_try = go(setting, ex, "run", flow, {}, "r1")
    assert not first_try.success
    FAIL_ON.clear()
    completed_before = (
        first_try.step("ok").status == "completed"
        if any(s.step_id == "ok" for s in first_try.steps)
        else False
    )
    LEDGER.reset()
    with executor_for(setting, store()) as ex:
        resumed = go(setting, ex, "resume", "r1", flow)
    assert resumed.success
    if completed_before:
        assert ("work", 1) not in LEDGER.calls
    assert ("work", 7) in LEDGER.calls


def test_retry_attempts_restart_at_zero_on_resume(
    setting: tuple[str, int], store: Callable[[], Checkpointer]
) -> None:
    FAIL_ON.add(5)
    flow = DAGFlow(
        "retrying",
        [Step(id="s", tool="work", inputs={"x": Literal(5)}, retry=RetryPolicy(max_attempts=2))],
    )
    with executor_for(setting, store()) as ex:
        assert not go(setting, ex, "run", flow, {}, "r1").success
    FAIL_ON.clear()
    with executor_for(setting, store()) as ex:
        resumed = go(setting, ex, "resume", "r1", flow)
    assert [a.number for a in resumed.step("s").attempts] == [0]


def test_a_finished_run_resumes_without_running_anything(
    setting: tuple[str, int], store: Callable[[], Checkpointer]
) -> None:
    with executor_for(setting, store()) as ex:
        done = go(setting, ex, "run", MAP_FLOW, {"xs": ITEMS}, "r1")
    LEDGER.reset()
    with executor_for(setting, store()) as ex:
        again = go(setting, ex, "resume", "r1", MAP_FLOW)
    assert LEDGER.calls == []
    assert again.digest == done.digest and again.output == done.output


def test_unknown_run_and_changed_flow_are_refused(store: Callable[[], Checkpointer]) -> None:
    registry = FlowRegistry()
    registry.register(MAP_FLOW)
    with FlowExecutor([work], checkpointer=store(), registry=registry) as ex:
        ex.run(MAP_FLOW, {"xs": [1]}, "r1")
        with pytest.raises(CheckpointNotFoundError):
            ex.resume("nope")
        changed = DAGFlow(
            "mapped",
            [MapStep(id="each", over="xs", tool="work", item="x", results="out",
                     max_concurrency=3)],
        )  # fmt: skip
        with pytest.raises(CheckpointMismatchError):
            ex.resume("r1", changed)
        # without a flow argument, the registry supplies the run's flow by name+version
        assert ex.resume("r1").success


def test_a_run_id_cannot_be_reused(store: Callable[[], Checkpointer]) -> None:
    with FlowExecutor([work], checkpointer=store()) as ex:
        ex.run(MAP_FLOW, {"xs": [1]}, "r1")
        with pytest.raises(ValueError, match="already has a checkpoint"):
            ex.run(MAP_FLOW, {"xs": [1]}, "r1")


def test_sqlite_store_is_versioned_and_closes(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "v.sqlite"
    SQLiteCheckpointer(path).close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.execute("UPDATE schema_version SET version = 99")
    db.commit()
    db.close()
    from dagwright import CheckpointError

    with pytest.raises(CheckpointError, match="schema version 99"):
        SQLiteCheckpointer(path)


def test_a_sub_flow_step_resumes_inside_without_rerunning_its_done_steps(
    setting: tuple[str, int], store: Callable[[], Checkpointer]
) -> None:
    registry = FlowRegistry()
    registry.register(Flow("pair", [Step(tool="first"), Step(tool="second")]))
    flow = Flow("outer", [Step(flow="pair", inputs={"x": "x"})])
    expected = uninterrupted(flow, {"x": 5}, registry)
    # the first inner step's entry is written, then the process dies
    journal, resumed = crash_then_resume(setting, store, flow, {"x": 5}, 1, registry)
    assert [(e["kind"], e["path"], e["step"]) for e in journal] == [("step", ["pair"], "first")]
    assert LEDGER.calls == [("second", 105)]
    assert resumed.success and resumed.digest == expected.digest
    assert [c.step_id for c in resumed.step("pair").children] == ["first", "second"]

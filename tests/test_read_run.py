"""Reading stored runs: ``read_run`` gives back what the journal holds, equal to the run's
own records, without taking the run's lease or writing anything."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagwright import (
    DAGFlow,
    ExecutionResult,
    Flow,
    FlowExecutor,
    FlowRegistry,
    MapStep,
    RetryPolicy,
    Step,
    tool,
)
from dagwright.checkpoint import (
    Checkpointer,
    InMemoryCheckpointer,
    Owner,
    RunHeader,
    SQLiteCheckpointer,
    read_run,
)
from dagwright.compiler import compile_flow
from dagwright.errors import (
    CheckpointCorruptError,
    CheckpointMismatchError,
    CheckpointNotFoundError,
    RunLockedError,
)

CALLS: dict[str, int] = {}


@tool
def twice(n: int) -> int:
    """Double a number; fails on 13."""
    if n == 13:
        raise ValueError("unlucky")
    return n * 2


@tool
def flaky(seed: int) -> int:
    """Fails on its first two calls of a run."""
    CALLS["flaky"] = CALLS.get("flaky", 0) + 1
    if CALLS["flaky"] <= 2:
        raise ConnectionError(f"try {CALLS['flaky']}")
    return seed + 1


@tool
def boom(seed: int) -> int:
    """Always fails."""
    raise RuntimeError(f"boom {seed}")


@tool(output="boom")
def rescue(seed: int) -> int:
    """The fallback of ``boom``."""
    return -seed


@tool
def fragile(seed: int) -> int:
    """Always fails (a step that is skipped on error)."""
    raise KeyError("fragile")


@tool
def explode(seed: int) -> int:
    """Always fails (the step that fails the run)."""
    raise OSError("exploded")


@tool
def label(seed: int) -> str:
    """A label for the seed."""
    return f"seed-{seed}"


@tool
def echo(seed: int) -> int:
    """The seed itself."""
    return seed


TOOLS = [twice, flaky, boom, rescue, fragile, explode, label, echo]
INNER = Flow("inner", [Step(tool="label"), Step(tool="echo", outputs={"inner_echo": "echo"})])
STORY = DAGFlow(
    "story",
    [
        MapStep(id="fan", over="items", tool="twice", item="n", results="doubled"),
        Step(id="retry", tool="flaky", retry=RetryPolicy(max_attempts=3)),
        Step(id="fb", tool="boom", on_error="fallback:rescue"),
        Step(id="gated", tool="echo", when="seed > 100"),
        Step(id="soft", tool="fragile", on_error="skip"),
        Step(id="sub", flow="inner"),
        Step(id="bad", tool="explode", depends_on=("fan", "retry", "fb", "gated", "soft", "sub")),
        Step(id="after", tool="echo", depends_on="bad", outputs={"late": "echo"}),
    ],
)


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    CALLS.clear()


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Checkpointer]:
    checkpointer: Checkpointer = (
        InMemoryCheckpointer()
        if request.param == "memory"
        else SQLiteCheckpointer(tmp_path / "runs.sqlite", synchronous="NORMAL")
    )
    yield checkpointer
    checkpointer.close()


def db_path(store: Checkpointer) -> Path:
    assert isinstance(store, SQLiteCheckpointer)
    return store.path


def registry() -> FlowRegistry:
    found = FlowRegistry()
    found.register(INNER)
    return found


def run_story(store: Checkpointer, run_id: str = "r1") -> ExecutionResult:
    with FlowExecutor(TOOLS, registry=registry(), checkpointer=store, max_concurrency=1) as ex:
        result = ex.run(STORY, {"items": [1, 2, 3], "seed": 5}, run_id=run_id)
    assert not result.success and result.error is not None and result.error.step_id == "bad"
    return result


def test_a_finished_run_reads_back_as_its_own_records(store: Checkpointer) -> None:
    result = run_story(store)
    stored = read_run(store, "r1", flow=STORY)
    expected = tuple(r for r in result.steps if r.status in ("completed", "skipped"))
    assert [r.step_id for r in expected] == ["fan", "retry", "fb", "gated", "soft", "sub"]
    assert stored.steps == expected
    assert [r.to_dict() for r in stored.steps] == [r.to_dict() for r in expected]
    assert stored.header.status == "failed" and stored.header.flow_name == "story"
    assert stored.lease is None and not stored.live
    assert stored.in_progress == {}
    # what each record carries, as the run recorded it
    assert [c.index for c in stored.step("fan").children] == [0, 1, 2]
    assert [c.outputs for c in stored.step("fan").children] == [{"twice": n} for n in (2, 4, 6)]
    assert [a.status for a in stored.step("retry").attempts] == ["failed", "failed", "completed"]
    assert stored.step("fb").fallback == "rescue"
    assert stored.step("fb").outputs == {"boom": -5}
    soft_error = stored.step("soft").error
    assert soft_error is not None and soft_error.type == "KeyError"
    assert [c.step_id for c in stored.step("sub").children] == ["label", "echo"]
    assert stored.statuses == {
        "fan": "completed",
        "retry": "completed",
        "fb": "completed",
        "gated": "skipped",
        "soft": "skipped",
        "sub": "completed",
        "bad": "pending",
        "after": "pending",
    }


def test_without_the_flow_records_come_in_recorded_order(store: Checkpointer) -> None:
    result = run_story(store)
    stored = read_run(store, "r1")
    expected = {r.step_id: r for r in result.steps if r.status in ("completed", "skipped")}
    assert {r.step_id: r for r in stored.steps} == expected
    assert stored.order is None
    assert set(stored.statuses) == set(expected)  # no "pending": the steps are unknown


def test_a_compiled_flow_orders_records_canonically(store: Checkpointer) -> None:
    run_story(store)
    compiled = compile_flow(STORY, TOOLS, registry())
    assert read_run(store, "r1", flow=compiled) == read_run(store, "r1", flow=STORY)
    assert read_run(store, "r1", flow=compiled).order == compiled.canonical_order


def test_a_linear_flow_gets_its_default_ids(store: Checkpointer) -> None:
    flow = Flow("chain", [Step(tool="echo"), Step(tool="twice", inputs={"n": "echo"})])
    with FlowExecutor(TOOLS, checkpointer=store) as ex:
        result = ex.run(flow, {"seed": 4}, run_id="lin").raise_for_error()
    stored = read_run(store, "lin", flow=flow)
    assert stored.steps == result.steps
    assert stored.statuses == {"echo": "completed", "twice": "completed"}
    assert stored.header.status == "succeeded"


def test_a_failed_map_shows_its_recorded_instances_in_progress(store: Checkpointer) -> None:
    flow = DAGFlow(
        "maps",
        [
            MapStep(
                id="fan.out", over="items", tool="twice", item="n", results="r", max_concurrency=1
            ),
            Step(id="tail", tool="echo", depends_on="fan.out"),
        ],
    )
    with FlowExecutor(TOOLS, checkpointer=store, max_concurrency=1) as ex:
        result = ex.run(flow, {"items": [1, 2, 13, 4], "seed": 0}, run_id="m")
    assert not result.success
    stored = read_run(store, "m", flow=flow)
    assert stored.steps == ()
    [(step_id, done)] = stored.in_progress.items()
    assert step_id == "fan.out"
    assert done == result.step("fan.out").children[:2]
    assert [r.index for r in done] == [0, 1]
    assert stored.item_counts == {"fan.out": 4}
    assert stored.statuses == {"fan.out": "incomplete", "tail": "pending"}


def test_a_stored_run_is_plain_json_data(store: Checkpointer) -> None:
    result = run_story(store)
    data = read_run(store, "r1", flow=STORY).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["header"] == store.header("r1").to_dict()
    assert data["lease"] is None and data["live"] is False
    assert data["statuses"]["bad"] == "pending" and data["statuses"]["fan"] == "completed"
    assert data["steps"] == [r.to_dict() for r in result.steps if r.step_id != "bad"]
    assert data["order"] == ["fan", "retry", "fb", "gated", "soft", "sub", "bad", "after"]
    assert (data["in_progress"], data["item_counts"]) == ({}, {})


def test_a_failed_sub_flow_shows_its_recorded_inner_steps_in_progress(
    store: Checkpointer,
) -> None:
    inner = Flow("shaky", [Step(tool="label"), Step(tool="explode")])
    outer = DAGFlow(
        "calls", [Step(id="call", flow="shaky"), Step(id="end", tool="echo", depends_on="call")]
    )
    found = FlowRegistry()
    found.register(inner)
    with FlowExecutor(TOOLS, registry=found, checkpointer=store) as ex:
        result = ex.run(outer, {"seed": 2}, run_id="s")
    assert not result.success
    compiled = compile_flow(outer, TOOLS, found)
    for flow in (outer, compiled):
        stored = read_run(store, "s", flow=flow)
        assert stored.steps == ()
        assert stored.in_progress == {"call": result.step("call").children[:1]}
        assert stored.statuses == {"call": "incomplete", "end": "pending"}


def test_an_unknown_run_is_not_found(store: Checkpointer) -> None:
    with pytest.raises(CheckpointNotFoundError, match="'nope'"):
        read_run(store, "nope")


def test_a_flow_of_another_name_is_a_mismatch(store: Checkpointer) -> None:
    run_story(store)
    with pytest.raises(CheckpointMismatchError, match="'story'") as caught:
        read_run(store, "r1", flow=INNER)
    assert caught.value.code == "DW-E010"


@pytest.mark.parametrize(
    "entry",
    [
        {"kind": "step"},
        {"kind": "mystery", "path": [], "step": "a", "record": {}},
        {"kind": "instance", "path": [], "step": "a", "index": 5, "count": 2, "record": None},
    ],
    ids=["no-record", "unknown-kind", "bad-instance"],
)
def test_an_unreadable_entry_is_corrupt(store: Checkpointer, entry: dict[str, object]) -> None:
    owner = Owner.new()
    now = time.time()
    store.begin(RunHeader("bad", "story", "1", "d", {}, "running", now, now), owner)
    store.append("bad", [entry], owner)
    with pytest.raises(CheckpointCorruptError, match="journal entry 0") as caught:
        read_run(store, "bad")
    error = caught.value
    assert error.code == "DW-E015" and error.run_id == "bad"
    assert error.path == (None if isinstance(store, InMemoryCheckpointer) else str(db_path(store)))


def test_an_entry_recorded_twice_counts_once(store: Checkpointer) -> None:
    run_story(store)
    _, entries = store.load("r1")
    owner = Owner.new()
    store.acquire("r1", owner, time.time())
    store.append("r1", [entries[0]], owner)
    stored = read_run(store, "r1", flow=STORY)
    assert [r.step_id for r in stored.steps] == ["fan", "retry", "fb", "gated", "soft", "sub"]


# ---- reading a run another process is running ---------------------------------------

WORKER = """
import sys, time
from pathlib import Path
from dagwright import DAGFlow, FlowExecutor, MapStep, Step, tool
from dagwright.checkpoint import SQLiteCheckpointer

gate = Path(sys.argv[2])

@tool
def first(seed: int) -> int:
    return seed

@tool
def held(n: int) -> int:
    if n == 2:
        deadline = time.monotonic() + 60
        while not gate.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    return n

flow = DAGFlow("held", [
    Step(id="first", tool="first"),
    MapStep(id="fan", over="items", tool="held", item="n", results="r",
            max_concurrency=1, depends_on="first"),
    Step(id="last", tool="first", depends_on="fan", outputs={"again": "first"}),
])
with SQLiteCheckpointer(sys.argv[1]) as store, FlowExecutor([first, held], checkpointer=store,
                                                           max_concurrency=1) as ex:
    result = ex.run(flow, {"seed": 1, "items": [1, 2]}, run_id="live")
print(result.success)
"""


@pytest.mark.timeout(90)
def test_reading_a_run_another_process_holds_changes_nothing(tmp_path: Path) -> None:
    script, gate, db = tmp_path / "worker.py", tmp_path / "gate", tmp_path / "runs.sqlite"
    script.write_text(textwrap.dedent(WORKER))
    worker = subprocess.Popen(
        [sys.executable, str(script), str(db), str(gate)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert worker.poll() is None, worker.communicate()
            if db.exists():
                with SQLiteCheckpointer(db) as reader:
                    try:
                        stored = read_run(reader, "live")
                    except CheckpointNotFoundError:
                        stored = None
                if stored is not None and "fan" in stored.in_progress:
                    break
            assert time.monotonic() < deadline, "the worker never recorded an instance"
            time.sleep(0.05)
        with SQLiteCheckpointer(db) as reader:
            before = reader.load("live"), reader.lease("live")
            stored = read_run(reader, "live")
            assert stored.header.status == "running"
            assert stored.live and stored.lease is not None
            assert stored.lease.owner.pid == worker.pid
            assert [r.step_id for r in stored.steps] == ["first"]
            assert [r.index for r in stored.in_progress["fan"]] == [0]
            assert stored.item_counts == {"fan": 2}
            assert stored.statuses == {"first": "completed", "fan": "running"}
            data = stored.to_dict()
            assert data["lease"]["pid"] == worker.pid and data["live"] is True
            assert [r["index"] for r in data["in_progress"]["fan"]] == [0]
            with pytest.raises(RunLockedError):
                reader.delete("live")
            assert (reader.load("live"), reader.lease("live")) == before
        gate.touch()
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        assert out.strip() == "True"
        with SQLiteCheckpointer(db) as reader:
            done = read_run(reader, "live")
            assert done.header.status == "succeeded" and not done.live
            assert list(done.statuses.values()) == ["completed"] * 3
            assert json.dumps(done.step("fan").outputs) == '{"r": [{"held": 1}, {"held": 2}]}'
            reader.delete("live")
            with pytest.raises(CheckpointNotFoundError):
                read_run(reader, "live")
    finally:
        gate.touch()
        if worker.poll() is None:
            worker.kill()
            worker.communicate()

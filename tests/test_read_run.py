"""Reading stored runs: ``read_run`` gives back what the journal holds, equal to the run's
own records, without taking the run's lease or writing anything."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    expected = result.steps
    assert [r.step_id for r in expected] == ["fan", "retry", "fb", "gated", "soft", "sub", "bad"]
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
    bad = stored.step("bad")
    assert bad.status == "failed" and [a.status for a in bad.attempts] == ["failed"]
    assert bad.error is not None and (bad.error.type, bad.error.message) == ("OSError", "exploded")
    assert bad.error.traceback is not None and 'raise OSError("exploded")' in bad.error.traceback
    assert stored.statuses == {
        "fan": "completed",
        "retry": "completed",
        "fb": "completed",
        "gated": "skipped",
        "soft": "skipped",
        "sub": "completed",
        "bad": "failed",
        "after": "pending",
    }


def test_without_the_flow_records_come_in_recorded_order(store: Checkpointer) -> None:
    result = run_story(store)
    stored = read_run(store, "r1")
    expected = {r.step_id: r for r in result.steps}
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


def test_a_failed_map_is_recorded_with_its_instances(store: Checkpointer) -> None:
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
    assert stored.steps == result.steps
    fan = stored.step("fan.out")
    assert fan.status == "failed" and fan.error is not None and fan.error.index == 2
    assert [(r.index, r.status) for r in fan.children] == [
        (0, "completed"),
        (1, "completed"),
        (2, "failed"),
    ]
    assert (stored.in_progress, stored.item_counts) == ({}, {})
    assert stored.statuses == {"fan.out": "failed", "tail": "pending"}


def test_a_stored_run_is_plain_json_data(store: Checkpointer) -> None:
    result = run_story(store)
    data = read_run(store, "r1", flow=STORY).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["header"] == store.header("r1").to_dict()
    assert data["lease"] is None and data["live"] is False
    assert data["statuses"]["bad"] == "failed" and data["statuses"]["fan"] == "completed"
    assert data["statuses"]["after"] == "pending"
    assert data["steps"] == [r.to_dict() for r in result.steps]
    assert data["order"] == ["fan", "retry", "fb", "gated", "soft", "sub", "bad", "after"]
    assert (data["in_progress"], data["item_counts"]) == ({}, {})


def test_a_failed_sub_flow_is_recorded_with_its_inner_steps(
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
        assert stored.steps == result.steps
        call = stored.step("call")
        assert [(c.step_id, c.status) for c in call.children] == [
            ("label", "completed"),
            ("explode", "failed"),
        ]
        assert call.error is not None and call.error.type == "SubflowError"
        assert stored.in_progress == {}
        assert stored.statuses == {"call": "failed", "end": "pending"}


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
    assert [r.step_id for r in stored.steps] == [
        "fan",
        "retry",
        "fb",
        "gated",
        "soft",
        "sub",
        "bad",
    ]


# ---- failed and cancelled units: recorded, and run again by a resume ---------------

DOWN: dict[str, bool] = {}
GATE: dict[str, Any] = {}


@tool
def outage(seed: int) -> int:
    """Fails while ``DOWN["outage"]`` is set, counting its calls."""
    CALLS["outage"] = CALLS.get("outage", 0) + 1
    if DOWN.get("outage"):
        raise ConnectionError(f"down {CALLS['outage']}")
    return seed + 100


@tool
def spotty(n: int) -> int:
    """Fails on 3 while ``DOWN["spotty"]`` is set, counting its calls."""
    CALLS[f"spotty{n}"] = CALLS.get(f"spotty{n}", 0) + 1
    if n == 3 and DOWN.get("spotty"):
        raise ValueError(f"item {n} is down")
    return n * 10


@tool
async def hang(n: int) -> int:
    """Waits (until cancelled) once it has said it started; 0 fails once two others hang."""
    if n == 0:
        while GATE["started"] < 2:
            await asyncio.sleep(0.001)
        raise RuntimeError("first item broke")
    GATE["started"] += 1
    await asyncio.sleep(60)
    return n


@tool
async def stall(seed: int) -> int:
    """Waits (until cancelled)."""
    GATE["started"] += 1
    await asyncio.sleep(60)
    return seed


@tool
async def crash_soon(seed: int) -> int:
    """Fails once ``stall`` has started."""
    while GATE["started"] < 1:
        await asyncio.sleep(0.001)
    raise RuntimeError("sibling broke")


MORE = [*TOOLS, outage, spotty, hang, stall, crash_soon]


@pytest.fixture(autouse=True)
def _fresh_state() -> None:
    DOWN.clear()
    GATE.clear()
    GATE["started"] = 0


def kinds(store: Checkpointer, run_id: str) -> list[tuple[str, str, int | None]]:
    """The journal's entries as (kind, step, index)."""
    return [(e["kind"], e["step"], e.get("index")) for e in store.load(run_id)[1]]


def test_retries_then_failure_are_one_record_with_every_attempt(store: Checkpointer) -> None:
    DOWN["outage"] = True
    flow = Flow("retried", [Step(tool="outage", retry=RetryPolicy(max_attempts=3))])
    with FlowExecutor(MORE, checkpointer=store) as ex:
        result = ex.run(flow, {"seed": 1}, run_id="t")
    assert not result.success
    stored = read_run(store, "t", flow=flow)
    assert stored.steps == result.steps
    [record] = stored.steps
    assert [(a.status, a.error.message if a.error else None) for a in record.attempts] == [
        ("failed", "down 1"),
        ("failed", "down 2"),
        ("failed", "down 3"),
    ]
    assert stored.statuses == {"outage": "failed"}
    assert kinds(store, "t") == [("failure", "outage", None)]  # one entry, not one per try


@pytest.mark.timeout(60)
def test_a_fail_fast_map_records_its_failed_and_cancelled_instances(
    store: Checkpointer,
) -> None:
    flow = DAGFlow(
        "fanfail",
        [MapStep(id="fan", over="items", tool="hang", item="n", results="r", max_concurrency=3)],
    )

    async def go() -> ExecutionResult:
        with FlowExecutor(MORE, checkpointer=store, max_concurrency=4) as ex:
            return await ex.arun(flow, {"items": [0, 1, 2, 3, 4]}, run_id="ff")

    result = asyncio.run(go())
    assert not result.success
    fan = result.step("fan")
    assert [(c.index, c.status) for c in fan.children] == [
        (0, "failed"),
        (1, "cancelled"),
        (2, "cancelled"),
    ]
    stored = read_run(store, "ff", flow=flow)
    assert stored.steps == result.steps
    assert stored.statuses == {"fan": "failed"}
    assert sorted(kinds(store, "ff"), key=str) == sorted(
        [
            ("failure", "fan", 0),
            ("failure", "fan", 1),
            ("failure", "fan", 2),
            ("failure", "fan", None),
        ],
        key=str,
    )
    assert stored.header.status == "failed"


@pytest.mark.timeout(60)
def test_a_cancelled_sibling_in_the_async_lane_is_recorded(store: Checkpointer) -> None:
    flow = DAGFlow(
        "siblings",
        [
            Step(id="slow", tool="stall"),
            Step(id="quick", tool="crash_soon"),
            Step(id="end", tool="echo", depends_on=("slow", "quick")),
        ],
    )

    async def go() -> ExecutionResult:
        with FlowExecutor(MORE, checkpointer=store, max_concurrency=2) as ex:
            return await ex.arun(flow, {"seed": 1}, run_id="sib")

    result = asyncio.run(go())
    assert [(r.step_id, r.status) for r in result.steps] == [
        ("slow", "cancelled"),
        ("quick", "failed"),
    ]
    stored = read_run(store, "sib", flow=flow)
    assert stored.steps == result.steps
    assert stored.statuses == {"slow": "cancelled", "quick": "failed", "end": "pending"}
    slow = stored.step("slow")
    assert slow.error is not None and slow.error.type == "StepCancelledError"
    assert [a.status for a in slow.attempts] == ["cancelled"]


def test_after_a_resume_the_latest_record_wins(store: Checkpointer) -> None:
    DOWN["outage"] = True
    flow = DAGFlow(
        "again",
        [Step(id="first", tool="echo"), Step(id="down", tool="outage", depends_on="first")],
    )
    with FlowExecutor(MORE, checkpointer=store) as ex:
        failed = ex.run(flow, {"seed": 1}, run_id="again")
        assert read_run(store, "again", flow=flow).statuses == {
            "first": "completed",
            "down": "failed",
        }
        DOWN["outage"] = False
        resumed = ex.resume("again", flow).raise_for_error()
    assert failed.step("down").status == "failed"
    assert CALLS["outage"] == 2  # the failed step ran again, once
    for given in (flow, None):
        stored = read_run(store, "again", flow=given)
        assert stored.steps == resumed.steps
        assert [(r.step_id, r.status) for r in stored.steps] == [
            ("first", "completed"),
            ("down", "completed"),
        ]
    assert stored.header.status == "succeeded"
    assert kinds(store, "again") == [
        ("step", "first", None),
        ("failure", "down", None),
        ("step", "down", None),
    ]


def test_a_resumed_fail_fast_map_reruns_only_its_failed_instance(store: Checkpointer) -> None:
    DOWN["spotty"] = True
    flow = DAGFlow(
        "spots",
        [MapStep(id="fan", over="items", tool="spotty", item="n", results="r", max_concurrency=1)],
    )
    with FlowExecutor(MORE, checkpointer=store, max_concurrency=1) as ex:
        assert not ex.run(flow, {"items": [1, 2, 3, 4]}, run_id="sp").success
        assert read_run(store, "sp", flow=flow).step("fan").status == "failed"
        DOWN["spotty"] = False
        resumed = ex.resume("sp", flow).raise_for_error()
    assert [CALLS[f"spotty{n}"] for n in (1, 2, 3, 4)] == [1, 1, 2, 1]
    stored = read_run(store, "sp", flow=flow)
    assert stored.steps == resumed.steps
    assert [(c.index, c.status) for c in stored.step("fan").children] == [
        (i, "completed") for i in range(4)
    ]


def test_a_resumed_sub_flow_reads_back_completed_with_its_inner_steps(
    store: Checkpointer,
) -> None:
    DOWN["outage"] = True
    inner = Flow("remote", [Step(tool="label"), Step(tool="outage")])
    outer = DAGFlow("calls", [Step(id="call", flow="remote")])
    found = FlowRegistry()
    found.register(inner)
    with FlowExecutor(MORE, registry=found, checkpointer=store) as ex:
        failed = ex.run(outer, {"seed": 2}, run_id="sub")
        assert read_run(store, "sub", flow=outer).steps == failed.steps
        DOWN["outage"] = False
        resumed = ex.resume("sub", outer).raise_for_error()
    stored = read_run(store, "sub", flow=outer)
    assert stored.steps == resumed.steps
    assert [(c.step_id, c.status) for c in stored.step("call").children] == [
        ("label", "completed"),
        ("outage", "completed"),
    ]
    assert kinds(store, "sub") == [
        ("step", "label", None),
        ("failure", "outage", None),
        ("failure", "call", None),
        ("step", "outage", None),
        ("step", "call", None),
    ]


def test_a_map_of_sub_flows_records_a_failed_instance_whole(store: Checkpointer) -> None:
    inner = Flow("per_item", [Step(tool="twice")])
    flow = DAGFlow(
        "maps_of_flows",
        [MapStep(id="fan", over="items", flow="per_item", item="n", results="r",
                 max_concurrency=1)],
    )  # fmt: skip
    found = FlowRegistry()
    found.register(inner)
    with FlowExecutor(MORE, registry=found, checkpointer=store, max_concurrency=1) as ex:
        result = ex.run(flow, {"items": [1, 13, 2]}, run_id="mf")
    assert not result.success
    stored = read_run(store, "mf", flow=flow)
    assert stored.steps == result.steps
    [ok, bad] = stored.step("fan").children
    assert (ok.status, bad.status, bad.index) == ("completed", "failed", 1)
    assert [(c.step_id, c.status) for c in bad.children] == [("twice", "failed")]
    # the instance is the unit: nothing inside it is journaled on its own
    assert kinds(store, "mf") == [
        ("instance", "fan", 0),
        ("failure", "fan", 1),
        ("failure", "fan", None),
    ]


class Recording(InMemoryCheckpointer):
    """Notes each journal write and the final status, in the order they happen."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, ...]] = []

    def append(self, run_id: str, entries: Any, owner: Owner) -> None:
        super().append(run_id, entries, owner)
        self.writes.extend(("append", e["kind"], e["step"]) for e in entries)

    def finish(self, run_id: str, status: Any, at: float, owner: Owner) -> None:
        super().finish(run_id, status, at, owner)
        self.writes.append(("finish", status))


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_failure_entries_are_written_before_the_run_is_marked_failed(lane: str) -> None:
    flow = DAGFlow(
        "halts",
        [
            MapStep(id="fan", over="items", tool="twice", item="n", results="r"),
            Step(id="tail", tool="echo", depends_on="fan"),
        ],
    )
    store = Recording()
    with FlowExecutor(MORE, checkpointer=store, max_concurrency=2) as ex:
        inputs = {"items": [1, 13, 2], "seed": 0}
        if lane == "sync":
            result = ex.run(flow, inputs, run_id="h")
        else:
            result = asyncio.run(ex.arun(flow, inputs, run_id="h"))
    assert not result.success
    assert store.writes[-1] == ("finish", "failed")
    assert ("append", "failure", "fan") in store.writes[:-1]
    assert store.writes.count(("append", "failure", "fan")) == 2  # instance 1, then the map
    assert read_run(store, "h", flow=flow).steps == result.steps


def copy_run(store: Checkpointer, source: str, target: str, entries: list[Any]) -> None:
    """A run ``target`` with ``source``'s header (failed) and ``entries`` as its journal."""
    header = store.header(source)
    owner = Owner.new()
    store.begin(dataclasses.replace(header, run_id=target, status="running"), owner)
    store.append(target, entries, owner)
    store.finish(target, "failed", time.time(), owner)


def test_a_crash_right_after_a_failure_entry_reruns_what_failed(store: Checkpointer) -> None:
    DOWN["outage"] = True
    flow = DAGFlow(
        "cut",
        [
            Step(id="first", tool="echo"),
            Step(id="down", tool="outage", depends_on="first"),
            Step(id="last", tool="label", depends_on="down"),
        ],
    )
    with FlowExecutor(MORE, checkpointer=store) as ex:
        ex.run(flow, {"seed": 1}, run_id="cut")
        entries = store.load("cut")[1]
        assert [e["kind"] for e in entries] == ["step", "failure"]
        copy_run(store, "cut", "cut2", entries)  # the journal a crash right after leaves
        DOWN["outage"] = False
        resumed = ex.resume("cut2", flow).raise_for_error()
        uninterrupted = ex.run(flow, {"seed": 1}, run_id="clean").raise_for_error()
    assert CALLS["outage"] == 3  # the first run, the resume and the clean run
    assert resumed.digest == uninterrupted.digest
    assert read_run(store, "cut2", flow=flow).steps == resumed.steps


def test_a_journal_without_failure_entries_still_loads_and_resumes(store: Checkpointer) -> None:
    result = run_story(store)
    _, entries = store.load("r1")
    old = [e for e in entries if e["kind"] != "failure"]
    assert len(old) == len(entries) - 1
    copy_run(store, "r1", "old", old)
    stored = read_run(store, "old", flow=STORY)
    assert stored.steps == result.steps[:-1]
    assert stored.statuses["bad"] == "pending"
    with FlowExecutor(TOOLS, registry=registry(), checkpointer=store, max_concurrency=1) as ex:
        again = ex.resume("old", STORY)
    assert again.step("bad").status == "failed" and CALLS["flaky"] == 3  # not re-run
    assert read_run(store, "old", flow=STORY).steps == again.steps


def test_a_failure_entry_never_replaces_a_completion(store: Checkpointer) -> None:
    run_story(store)
    _, entries = store.load("r1")
    fan = next(e for e in entries if e["step"] == "fan" and e["kind"] == "step")
    bad = next(e for e in entries if e["kind"] == "failure")
    forged = {**bad, "step": "fan", "record": {**bad["record"], "step_id": "fan"}}
    copy_run(store, "r1", "forged", [*entries, forged])
    stored = read_run(store, "forged", flow=STORY)
    assert stored.step("fan").to_dict() == fan["record"]  # as a resume would keep it


def test_a_failure_entry_must_hold_a_failed_or_cancelled_record(store: Checkpointer) -> None:
    run_story(store)
    _, entries = store.load("r1")
    done = next(e for e in entries if e["kind"] == "step")
    copy_run(store, "r1", "odd", [{**done, "kind": "failure"}])
    with pytest.raises(CheckpointCorruptError, match="journal entry 0"):
        read_run(store, "odd")


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

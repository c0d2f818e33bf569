"""``current_call()``: the running call's context in every lane, and its idempotency key.

The key is the sha256 of run id, step path and index path: the same for every attempt
and every resume of one logical call, different for every other call.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import (
    CallContext,
    DAGFlow,
    Flow,
    FlowExecutor,
    FlowRegistry,
    MapStep,
    RetryPolicy,
    Step,
    current_call,
    tool,
)
from dagwright.checkpoint import SQLiteCheckpointer


class Seen(BaseModel):
    """What a tool saw of its call."""

    run_id: str
    step_id: str
    index: list[int]
    attempt: int
    key: str


def seen() -> Seen:
    context = current_call()
    assert isinstance(context, CallContext)
    return Seen(
        run_id=context.run_id,
        step_id=context.step_id,
        index=list(context.index),
        attempt=context.attempt,
        key=context.idempotency_key,
    )


@tool
def who(x: int = 0) -> Seen:
    """The call's context (sync)."""
    return seen()


@tool
async def awho(x: int = 0) -> Seen:
    """The call's context (async)."""
    await asyncio.sleep(0)
    return seen()


FAILS_FIRST: dict[str, int] = {}


@tool
def fails_first(x: int = 0) -> Seen:
    """Fails on the first attempt of each call, then gives its context."""
    context = current_call()
    assert context is not None
    calls = FAILS_FIRST.get(context.idempotency_key, 0)
    FAILS_FIRST[context.idempotency_key] = calls + 1
    if calls == 0:
        raise ConnectionError("first attempt fails")
    return seen()


TOOLS = [who, awho, fails_first]


def key(run_id: str, *path: str | int) -> str:
    text = json.dumps([run_id, list(path)], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def run(flow: Any, inputs: dict[str, Any], lane: str, **options: Any) -> Any:
    with FlowExecutor(TOOLS, **options) as ex:
        if lane == "sync":
            return ex.run(flow, inputs, run_id="run-1")
        return asyncio.run(ex.arun(flow, inputs, run_id="run-1"))


def test_outside_a_call_there_is_no_context() -> None:
    @tool
    def outside() -> bool:
        """Whether the tool runs outside any call."""
        return current_call() is None

    assert current_call() is None
    assert outside().outside is True  # a tool called as a function is no call of a run


@pytest.mark.parametrize("lane", ["sync", "async"])
@pytest.mark.parametrize("name", ["who", "awho"])
@pytest.mark.parametrize(
    ("limit", "timeout_s"),
    [(1, None), (8, None), (8, 5.0)],
    ids=["inline", "concurrent", "pooled-with-timeout"],
)
def test_every_lane_and_placement_gives_the_context(
    lane: str, name: str, limit: int, timeout_s: float | None
) -> None:
    flow = Flow("one", [Step(id="s", tool=name, timeout_s=timeout_s)])
    result = run(flow, {}, lane, max_concurrency=limit)
    assert result.success, result.error
    assert result.output == {
        "run_id": "run-1",
        "step_id": "s",
        "index": [],
        "attempt": 0,
        "key": key("run-1", "s"),
    }
    assert current_call() is None  # reset after the call, in the caller too


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_map_instances_and_nested_paths_have_their_own_keys(lane: str) -> None:
    registry = FlowRegistry()
    registry.register(
        DAGFlow("inner", [MapStep(id="m", over="ys", tool="awho", item="x", results="got")])
    )
    flow = DAGFlow(
        "outer",
        [
            MapStep(id="fan", over="ns", tool="who", item="x", results="top"),
            MapStep(id="subs", over="xs", flow="inner", item="ys", results="nested"),
        ],
    )
    result = run(flow, {"ns": [5, 6], "xs": [[1, 2], [3]]}, lane, registry=registry)
    assert result.success, result.error
    top = result.output["top"]
    assert [item["index"] for item in top] == [[0], [1]]
    assert [item["key"] for item in top] == [key("run-1", "fan", 0), key("run-1", "fan", 1)]
    nested = [got for instance in result.output["nested"] for got in instance["got"]]
    assert [item["index"] for item in nested] == [[0, 0], [0, 1], [1, 0]]
    assert [item["step_id"] for item in nested] == ["m", "m", "m"]
    assert nested[1]["key"] == key("run-1", "subs", 0, "m", 1)
    keys = [item["key"] for item in top + nested]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_retries_keep_the_key_and_count_attempts(lane: str) -> None:
    FAILS_FIRST.clear()
    step = Step(id="r", tool="fails_first", retry=RetryPolicy(max_attempts=2))
    result = run(Flow("retry", [step]), {}, lane)
    assert result.success, result.error
    assert result.output["attempt"] == 1
    assert result.output["key"] == key("run-1", "r")
    assert {key("run-1", "r"): 2} == FAILS_FIRST


def test_a_resumed_call_has_the_key_of_the_first_attempt(tmp_path: Path) -> None:
    """The first run fails (no retry); its resume, in a fresh executor, calls again
    with the same key."""
    FAILS_FIRST.clear()
    flow = Flow("resumable", [Step(id="a", tool="who"), Step(id="b", tool="fails_first")])
    db = tmp_path / "runs.db"
    with FlowExecutor(TOOLS, checkpointer=SQLiteCheckpointer(db)) as ex:
        first = ex.run(flow, {}, run_id="run-9")
    assert not first.success
    with FlowExecutor(TOOLS, checkpointer=SQLiteCheckpointer(db)) as ex:
        resumed = ex.resume("run-9", flow)
    assert resumed.success, resumed.error
    assert resumed.output["key"] == key("run-9", "b")
    assert {key("run-9", "b"): 2} == FAILS_FIRST


def test_other_runs_have_other_keys() -> None:
    flow = Flow("one", [Step(id="s", tool="who")])
    with FlowExecutor(TOOLS) as ex:
        keys = {ex.run(flow, {}).output["key"] for _ in range(3)}
    assert len(keys) == 3

"""Faults a hostile tool can cause never hang a run, and both lanes agree on them.

Each test is bounded by a per-test timeout: a hang fails the test instead of stalling CI.
Concurrency and ordering are proven with events, never with wall-clock thresholds.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import (
    DAGFlow,
    Flow,
    FlowExecutor,
    Literal,
    RetryPolicy,
    Step,
    tool,
)
from dagwright.events import Event, StepFailed, StepStarted
from tests.conftest import Lane
from tests.overlap import Overlap

RELEASE = threading.Event()


@pytest.fixture(autouse=True)
def _release_hangs() -> Iterator[None]:
    RELEASE.clear()
    yield
    RELEASE.set()


class Out(BaseModel):
    value: int


@tool
def hang(x: int) -> Out:
    """Never returns within a test (released at teardown)."""
    RELEASE.wait(120)
    return Out(value=x)


@tool
def ok(x: int) -> Out:
    """Returns at once."""
    return Out(value=x)


# ---- async tools raising BaseExceptions on the sync lane ---------------------------------


@tool
async def araise(x: int, kind: str) -> Out:
    """Raises what it is told to, from a coroutine."""
    await asyncio.sleep(0)
    if kind == "cancelled":
        raise asyncio.CancelledError
    if kind == "keyboard_interrupt":
        raise KeyboardInterrupt
    raise SystemExit(2)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("concurrency", [1, 4])
def test_async_tool_cancelled_error_is_a_tool_failure_on_the_sync_lane(concurrency: int) -> None:
    flow = Flow("f", [Step(tool="araise", inputs={"kind": Literal("cancelled")})])
    with FlowExecutor([araise], max_concurrency=concurrency) as ex:
        result = ex.run(flow, {"x": 1})
    assert not result.success
    assert result.error is not None
    assert (result.error.code, result.error.type) == ("DW-E101", "CancelledError")


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", ["keyboard_interrupt", "system_exit"])
def test_async_tool_fatal_exception_propagates_from_run(kind: str) -> None:
    flow = Flow("f", [Step(tool="araise", inputs={"kind": Literal(kind)})])
    expected = KeyboardInterrupt if kind == "keyboard_interrupt" else SystemExit
    with FlowExecutor([araise]) as ex, pytest.raises(expected):
        ex.run(flow, {"x": 1})


# ---- sync timeouts never starve later calls -------------------------------------------


@pytest.mark.timeout(30)
def test_abandoned_calls_give_their_workers_back(lane: Lane) -> None:
    """Two workers; every run's call hangs past its timeout; the third run still runs."""
    flow = Flow("f", [Step(tool="hang", timeout_s=0.2)])
    with FlowExecutor([hang, ok], max_concurrency=2) as ex:
        for _ in range(4):
            result = lane(ex, flow, {"x": 1})
            assert result.error is not None
            assert result.error.type == "StepTimeoutError"
        assert ex.abandoned_calls == 4
        # and ordinary parallel work still gets both workers
        overlap = Overlap(2)

        @tool
        def meet(x: int) -> Out:
            overlap.meet()
            return Out(value=x)

        with FlowExecutor([meet], max_concurrency=2) as other:
            both = DAGFlow(
                "both",
                [Step(id="a", tool="meet"), Step(id="b", tool="meet", outputs={"other": "value"})],
            )
            assert lane(other, both, {"x": 1}).success
            assert overlap.peak == 2


@pytest.mark.timeout(30)
def test_retries_of_a_hanging_call_each_get_a_worker(lane: Lane) -> None:
    flow = Flow("f", [Step(tool="hang", timeout_s=0.2, retry=RetryPolicy(max_attempts=3))])
    with FlowExecutor([hang], max_concurrency=2) as ex:
        result = lane(ex, flow, {"x": 1})
    record = result.step("hang")
    assert [a.status for a in record.attempts] == ["failed"] * 3
    assert {a.error.type for a in record.attempts if a.error} == {"StepTimeoutError"}


@pytest.mark.timeout(20)
def test_close_does_not_wait_for_an_abandoned_call(lane: Lane) -> None:
    flow = Flow("f", [Step(tool="hang", timeout_s=0.2)])
    with FlowExecutor([hang]) as ex:
        result = lane(ex, flow, {"x": 1})
    assert result.error is not None and result.error.type == "StepTimeoutError"


@pytest.mark.timeout(20)
def test_timeout_starts_when_the_call_starts_not_when_it_is_queued(lane: Lane) -> None:
    """One pool worker, held by another run for 0.6 s after this run's call was queued
    behind it: the queued call's 0.4 s timeout has not started yet, so it passes."""
    queued = threading.Event()

    @tool
    def holder(x: int) -> Out:
        queued.wait(10)
        RELEASE.wait(0.6)
        return Out(value=x)

    @tool
    def quick(x: int) -> Out:
        return Out(value=x + 1)

    def on_event(event: Event) -> None:
        if isinstance(event, StepStarted) and event.step_id == "quick":
            queued.set()

    holding = Flow("holding", [Step(tool="holder", timeout_s=5.0)])
    flow = Flow("timed", [Step(tool="quick", timeout_s=0.4)])
    with FlowExecutor([holder, quick], max_concurrency=1) as ex:
        other = threading.Thread(target=ex.run, args=(holding, {"x": 1}))
        other.start()
        try:
            result = lane(ex, flow, {"x": 1}, hooks=[on_event])
        finally:
            other.join(10)
    assert result.success, result.error


# ---- nested runs on the executor that runs them ---------------------------------------

EXECUTORS: list[FlowExecutor] = []  # the executor running `nest`, while a test runs
INNER = DAGFlow("inner", [Step(id="a", tool="ok"), Step(id="b", tool="ok", outputs={"y": "value"})])


@tool
def nest(x: int, depth: int) -> Out:
    """Runs a flow on the executor running this tool, ``depth`` levels down."""
    ex = EXECUTORS[-1]
    if depth > 1:
        flow = Flow("deeper", [Step(tool="nest", inputs={"depth": Literal(depth - 1)})])
        return Out(value=ex.run(flow, {"x": x}).output["value"])
    return Out(value=ex.run(INNER, {"x": x}).output["value"] + 1)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("depth", [1, 3])
def test_tools_may_run_flows_on_their_own_executor(lane: Lane, depth: int) -> None:
    overlap = Overlap(2)

    @tool
    def outer(x: int) -> Out:
        overlap.meet()  # both pool workers are taken by outer calls at once
        return nest.fn(nest.input_schema(x=x, depth=depth))  # type: ignore[no-any-return]

    flow = DAGFlow(
        "outer",
        [Step(id="p", tool="outer"), Step(id="q", tool="outer", outputs={"other": "value"})],
    )
    with FlowExecutor([outer, nest, ok], max_concurrency=2) as ex:
        EXECUTORS.append(ex)
        try:
            result = lane(ex, flow, {"x": 1})
        finally:
            EXECUTORS.pop()
    assert result.success, result.error
    assert result.output["value"] == 2 and result.output["other"] == 2


# ---- halts: async calls are cancelled, sync calls finish, in both lanes ----------------


@pytest.mark.timeout(20)
def test_halt_cancels_async_calls_and_lets_sync_calls_finish(lane: Lane) -> None:
    sync_started = threading.Event()
    async_started = threading.Event()
    failed = threading.Event()

    @tool
    def bad(x: int) -> Out:
        sync_started.wait(10)
        async_started.wait(10)
        raise ValueError("bad")

    @tool
    def steady(x: int) -> Out:
        sync_started.set()
        failed.wait(10)  # released by the StepFailed hook of `bad`
        return Out(value=x)

    @tool
    async def endless(x: int) -> Out:
        async_started.set()
        await asyncio.sleep(60)
        return Out(value=x)

    def on_event(event: Event) -> None:
        if isinstance(event, StepFailed) and event.step_id == "bad":
            failed.set()

    flow = DAGFlow(
        "halt",
        [
            Step(id="bad", tool="bad"),
            Step(id="steady", tool="steady", outputs={"s": "value"}),
            Step(id="endless", tool="endless", outputs={"e": "value"}),
        ],
    )
    with FlowExecutor([bad, steady, endless], max_concurrency=3, hooks=[on_event]) as ex:
        result = lane(ex, flow, {"x": 1})
    assert not result.success
    statuses = {record.step_id: record.status for record in result.steps}
    assert statuses == {"bad": "failed", "steady": "completed", "endless": "cancelled"}


# ---- fatal exceptions from pooled sync tools propagate in both lanes -------------------


@tool
def exits(x: int) -> Out:
    """Raises SystemExit from a worker thread."""
    raise SystemExit(4)


@pytest.mark.timeout(20)
def test_system_exit_from_a_pooled_sync_tool_propagates(lane: Lane) -> None:
    flow = DAGFlow(
        "f", [Step(id="a", tool="exits"), Step(id="b", tool="ok", outputs={"b": "value"})]
    )
    with FlowExecutor([exits, ok], max_concurrency=2) as ex, pytest.raises(SystemExit):
        lane(ex, flow, {"x": 1})


@pytest.mark.timeout(20)
def test_timeout_is_recorded_word_for_word_alike_in_both_lanes() -> None:
    flow = Flow("f", [Step(tool="hang", timeout_s=0.1)])
    with FlowExecutor([hang]) as ex:
        first = ex.run(flow, {"x": 1})
        second = asyncio.run(ex.arun(flow, {"x": 1}))
    assert first.step("hang").to_dict(times=False) == second.step("hang").to_dict(times=False)
    assert first.digest == second.digest


# ---- the sync lane's private loop dying never hangs run() -------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("escape", [KeyboardInterrupt, SystemExit])
def test_the_private_loop_dying_ends_the_run(
    monkeypatch: pytest.MonkeyPatch, escape: type[BaseException]
) -> None:
    """Whatever kills the loop thread of a run's async tools, run() raises, never waits."""
    from dagwright.lanes import aio

    async def dies(*args: Any) -> Any:
        def stop_the_loop() -> None:
            raise escape

        # asyncio lets these two out of a loop callback: they end run_forever.
        asyncio.get_running_loop().call_soon(stop_the_loop)
        await asyncio.sleep(60)

    monkeypatch.setattr(aio, "execute_async", dies)
    flow = Flow("f", [Step(tool="araise", inputs={"kind": Literal("cancelled")})])
    with FlowExecutor([araise]) as ex, pytest.raises(escape):
        ex.run(flow, {"x": 1})

"""Events, hooks, streaming and logging, in both lanes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import (
    DAGFlow,
    ExecutionResult,
    Flow,
    FlowExecutor,
    FlowInputError,
    FlowRegistry,
    MapStep,
    RetryPolicy,
    Step,
    tool,
)
from dagwright.events import (
    Event,
    RunFinished,
    RunStarted,
    StepCompleted,
    StepEvent,
    StepFailed,
    StepRetried,
    StepSkipped,
    StepStarted,
)
from tests.conftest import Result, double, increment, square


def names(events: list[Any]) -> list[tuple[str, str | None]]:
    return [(type(e).__name__, getattr(e, "step_id", None)) for e in events]


def collect_stream(executor: FlowExecutor, flow: Any, inputs: Any, lane: str) -> list[Any]:
    if lane == "sync":
        return list(executor.stream(flow, inputs))

    async def main() -> list[Any]:
        return [item async for item in executor.astream(flow, inputs)]

    return asyncio.run(main())


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_stream_yields_events_in_order_then_the_result(lane: str) -> None:
    flow = Flow("chain", [Step(tool="double"), Step(tool="increment", when="result > 0")])
    with FlowExecutor([double, increment]) as ex:
        items = collect_stream(ex, flow, {"n": 2}, lane)
    result = items[-1]
    assert isinstance(result, ExecutionResult) and result.success
    events = items[:-1]
    assert names(events) == [
        ("RunStarted", None),
        ("StepStarted", "double"),
        ("StepCompleted", "double"),
        ("StepStarted", "increment"),
        ("StepCompleted", "increment"),
        ("RunFinished", None),
    ]
    assert all(e.run_id == result.run_id for e in events)
    times = [e.time for e in events]
    assert times == sorted(times)
    completed = events[2]
    assert isinstance(completed, StepCompleted) and completed.outputs == {"result": 4}
    assert isinstance(events[0], RunStarted) and events[0].flow_name == "chain"
    assert isinstance(events[-1], RunFinished) and events[-1].success


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_retry_skip_and_failure_events(lane: str) -> None:
    calls = {"n": 0}

    @tool
    def flaky(n: int) -> Result:
        """Fails once."""
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("blip")
        return Result(result=n)

    @tool
    def bad(n: int) -> Result:
        """Always fails."""
        raise ValueError("bad")

    flow = DAGFlow(
        "mixed",
        [
            Step(id="flaky", tool="flaky", retry=RetryPolicy(max_attempts=2)),
            Step(id="gated", tool="square", when="n > 5", outputs={"g": "result"}),
            Step(id="bad", tool="bad", depends_on=("flaky",), outputs={"b": "result"}),
        ],
    )
    with FlowExecutor([flaky, square, bad], max_concurrency=1) as ex:
        items = collect_stream(ex, flow, {"n": 1}, lane)
    events = [i for i in items if isinstance(i, StepEvent)]
    flaky_events = [(type(e).__name__, e.attempt) for e in events if e.step_id == "flaky"]
    assert flaky_events == [
        ("StepStarted", 0),
        ("StepRetried", 0),
        ("StepStarted", 1),
        ("StepCompleted", 1),
    ]
    retried = next(e for e in events if isinstance(e, StepRetried))
    assert retried.error.type == "ConnectionError"
    gated = [e for e in events if e.step_id == "gated"]
    assert len(gated) == 1 and isinstance(gated[0], StepSkipped) and gated[0].error is None
    failed = [e for e in events if isinstance(e, StepFailed)]
    assert [(e.step_id, e.error.type) for e in failed] == [("bad", "ValueError")]
    finished = items[-2]
    assert isinstance(finished, RunFinished) and not finished.success
    assert finished.error is not None and finished.error.step_id == "bad"


def test_sub_flow_and_map_instance_events_carry_path_and_index() -> None:
    class Echo(BaseModel):
        value: int

    @tool
    def echo(x: int) -> Echo:
        """Echo."""
        return Echo(value=x)

    registry = FlowRegistry()
    registry.register(Flow("inner", [Step(tool="double")]))
    flow = DAGFlow(
        "nested",
        [
            Step(id="sub", flow="inner", outputs={"d": "result"}),
            MapStep(id="each", over="xs", tool="echo", item="x", results="out"),
        ],
    )
    events: list[Event] = []
    with FlowExecutor([double, echo], registry=registry, max_concurrency=1) as ex:
        result = ex.run(flow, {"n": 1, "xs": [5, 6]}, hooks=[events.append])
    assert result.success, result.error
    steps = [e for e in events if isinstance(e, StepEvent)]
    inner = [(type(e).__name__, e.path) for e in steps if e.step_id == "double"]
    assert inner == [("StepStarted", ("sub",)), ("StepCompleted", ("sub",))]
    instances = [(type(e).__name__, e.index) for e in steps if e.step_id == "each"]
    assert instances == [
        ("StepStarted", None),
        ("StepStarted", 0),
        ("StepCompleted", 0),
        ("StepStarted", 1),
        ("StepCompleted", 1),
        ("StepCompleted", None),
    ]


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_a_failing_hook_is_logged_and_never_breaks_the_run(
    lane: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("hook bug")

    with FlowExecutor([double], hooks=[broken]) as ex, caplog.at_level(logging.WARNING):
        flow = Flow("one", [Step(tool="double")])
        if lane == "sync":
            result = ex.run(flow, {"n": 1}, hooks=[seen.append])
        else:
            result = asyncio.run(ex.arun(flow, {"n": 1}, hooks=[seen.append]))
    assert result.success
    assert len(seen) == 4  # the per-run hook still got every event
    assert any("hook_failed" in r.getMessage() for r in caplog.records)


def test_hooks_are_called_one_at_a_time_in_order() -> None:
    inside = {"now": 0, "max": 0}
    lock = threading.Lock()
    order: list[tuple[str, str | None]] = []

    def hook(event: Event) -> None:
        with lock:
            inside["now"] += 1
            inside["max"] = max(inside["max"], inside["now"])
        order.append((type(event).__name__, getattr(event, "step_id", None)))
        with lock:
            inside["now"] -= 1

    flow = DAGFlow(
        "wide", [Step(id=f"s{i}", tool="square", outputs={f"r{i}": "result"}) for i in range(16)]
    )
    with FlowExecutor([square], max_concurrency=8, hooks=[hook]) as ex:
        ex.run(flow, {"n": 2})
    assert inside["max"] == 1
    for i in range(16):
        assert order.index(("StepStarted", f"s{i}")) < order.index(("StepCompleted", f"s{i}"))


def test_misuse_raises_when_stream_is_called_not_when_iterated() -> None:
    with FlowExecutor([double]) as ex:
        with pytest.raises(FlowInputError):
            ex.stream(Flow("needs_n", [Step(tool="double")]), {})
        with pytest.raises(FlowInputError):
            ex.astream(Flow("needs_n", [Step(tool="double")]), {})


def test_breaking_out_of_a_stream_stops_the_run() -> None:
    started: list[str] = []

    @tool
    def record(n: int) -> Result:
        """Notes that it ran."""
        started.append("ran")
        return Result(result=n)

    flow = Flow("long", [Step(tool="record") for _ in range(5)])
    with FlowExecutor([record], max_concurrency=1) as ex:
        stream = ex.stream(flow, {"n": 1})
        for item in stream:
            if isinstance(item, StepCompleted):
                break
        stream.close()  # type: ignore[attr-defined]
    assert started == ["ran"]


def test_breaking_out_of_an_async_stream_cancels_calls_in_flight() -> None:
    finished = threading.Event()

    @tool
    async def long(n: int) -> Result:
        """Would take a minute."""
        await asyncio.sleep(60)
        finished.set()
        return Result(result=n)

    @tool
    async def quick(n: int) -> Result:
        """Returns at once."""
        return Result(result=n)

    flow = DAGFlow(
        "two",
        [Step(id="long", tool="long"), Step(id="quick", tool="quick", outputs={"q": "result"})],
    )

    async def main() -> None:
        with FlowExecutor([long, quick], max_concurrency=2) as ex:
            async with contextlib.aclosing(ex.astream(flow, {"n": 1})) as stream:  # type: ignore[type-var]
                async for item in stream:
                    if isinstance(item, StepCompleted):
                        break

    asyncio.run(asyncio.wait_for(main(), 10))
    assert not finished.is_set()


def test_events_are_logged_at_debug_with_run_and_step(caplog: pytest.LogCaptureFixture) -> None:
    with FlowExecutor([double]) as ex, caplog.at_level(logging.DEBUG, logger="dagwright"):
        result = ex.run(Flow("one", [Step(tool="double")]), {"n": 1})
    messages = [r.getMessage() for r in caplog.records if r.name == "dagwright"]
    started = [m for m in messages if "StepStarted" in m]
    assert started and f"run_id='{result.run_id}'" in started[0]
    assert "step_id='double'" in started[0]


def test_quiet_by_default(caplog: pytest.LogCaptureFixture) -> None:
    with FlowExecutor([double]) as ex, caplog.at_level(logging.INFO, logger="dagwright"):
        ex.run(Flow("one", [Step(tool="double")]), {"n": 1})
    assert not [r for r in caplog.records if r.name == "dagwright"]


def test_no_observer_means_no_events_are_built() -> None:
    class Spy(list[Event]):
        pass

    spy = Spy()
    with FlowExecutor([double, increment]) as ex:
        ex.run(Flow("chain", [Step(tool="double"), Step(tool="increment")]), {"n": 1})
        ex.run(
            Flow("chain", [Step(tool="double"), Step(tool="increment")]),
            {"n": 1},
            hooks=[spy.append],
        )
    assert len([e for e in spy if isinstance(e, StepStarted)]) == 2

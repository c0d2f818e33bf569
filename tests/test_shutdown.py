"""close(): runs in flight finish, later use is coded, in both lanes and every flow shape."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import (
    DAGFlow,
    ExecutorClosedError,
    Flow,
    FlowExecutor,
    InMemoryCheckpointer,
    MapStep,
    Step,
    tool,
)


class Out(BaseModel):
    value: int


class Many(BaseModel):
    xs: list[int]


@tool
def work(x: int) -> Out:
    """Returns its input."""
    return Out(value=x)


@tool
def spread(x: int) -> Many:
    """Three items."""
    return Many(xs=[x, x + 1, x + 2])


SHAPES: dict[str, Flow] = {
    "linear": Flow("linear", [Step(tool="work")]),
    "parallel": DAGFlow(
        "parallel", [Step(id="a", tool="work"), Step(id="b", tool="work", outputs={"b": "value"})]
    ),
    "map": DAGFlow(
        "map",
        [
            Step(id="s", tool="spread"),
            MapStep(id="m", over="xs", tool="work", item="x", results="out", depends_on=("s",)),
        ],
    ),
}


def _uses(ex: FlowExecutor, flow: Flow) -> dict[str, Any]:
    async def agen() -> None:
        async for _ in ex.astream(flow, {"x": 1}):
            pass

    return {
        "run": lambda: ex.run(flow, {"x": 1}),
        "arun": lambda: asyncio.run(ex.arun(flow, {"x": 1})),
        "stream": lambda: list(ex.stream(flow, {"x": 1})),
        "astream": lambda: asyncio.run(agen()),
        "resume": lambda: ex.resume("some-run"),
        "aresume": lambda: asyncio.run(ex.aresume("some-run")),
        "compile": lambda: ex.compile(flow),
    }


@pytest.mark.timeout(20)
@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize(
    "use", ["run", "arun", "stream", "astream", "resume", "aresume", "compile"]
)
def test_every_use_after_close_is_coded(shape: str, use: str) -> None:
    flow = SHAPES[shape]
    ex = FlowExecutor([work, spread], checkpointer=InMemoryCheckpointer())
    ex.run(flow, {"x": 1})  # it worked before
    ex.close()
    assert ex.closed
    with pytest.raises(ExecutorClosedError) as info:
        _uses(ex, flow)[use]()
    assert info.value.code == "DW-E016"
    assert isinstance(info.value, RuntimeError)
    assert "close" in str(info.value)
    ex.close()  # twice is harmless


@pytest.mark.timeout(30)
@pytest.mark.parametrize("lane", ["sync", "async"])
def test_close_waits_for_runs_in_flight(lane: str) -> None:
    inside = threading.Event()
    release = threading.Event()

    @tool
    def slow(x: int) -> Out:
        inside.set()
        release.wait(10)
        return Out(value=x)

    flow = DAGFlow(
        "slow", [Step(id="a", tool="slow"), Step(id="b", tool="work", outputs={"b": "value"})]
    )
    ex = FlowExecutor([slow, work], max_concurrency=2)
    results: list[Any] = []

    def drive() -> None:
        if lane == "sync":
            results.append(ex.run(flow, {"x": 1}))
        else:
            results.append(asyncio.run(ex.arun(flow, {"x": 1})))

    runner = threading.Thread(target=drive)
    runner.start()
    assert inside.wait(10)
    closed = threading.Event()

    def close() -> None:
        ex.close()
        closed.set()

    closer = threading.Thread(target=close)
    closer.start()
    # close() is waiting for the run: a new run is already refused meanwhile
    with pytest.raises(ExecutorClosedError):
        ex.run(flow, {"x": 1})
    assert not closed.is_set()
    release.set()
    runner.join(10)
    closer.join(10)
    assert closed.is_set()
    assert len(results) == 1 and results[0].success, results


@pytest.mark.timeout(20)
def test_close_from_inside_a_tool_does_not_deadlock() -> None:
    holder: list[FlowExecutor] = []

    @tool
    def closes(x: int) -> Out:
        holder[0].close()
        return Out(value=x)

    flow = DAGFlow(
        "c", [Step(id="a", tool="closes"), Step(id="b", tool="work", outputs={"b": "value"})]
    )
    ex = FlowExecutor([closes, work], max_concurrency=2)
    holder.append(ex)
    result = ex.run(flow, {"x": 1})
    assert result.success, result.error
    assert ex.closed
    with pytest.raises(ExecutorClosedError):
        ex.run(flow, {"x": 1})


@pytest.mark.timeout(20)
def test_a_stream_started_before_close_is_refused_after_it() -> None:
    ex = FlowExecutor([work], checkpointer=InMemoryCheckpointer())
    stream = ex.stream(SHAPES["linear"], {"x": 1}, run_id="late")
    ex.close()
    with pytest.raises(ExecutorClosedError):
        next(iter(stream))
    store = ex.checkpointer
    assert store is not None
    assert store.header("late").status == "interrupted"
    assert store.lease("late") is None


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", ["stream", "astream"])
def test_a_stream_dropped_unread_releases_its_run(kind: str) -> None:
    import gc

    store = InMemoryCheckpointer()
    with FlowExecutor([work], checkpointer=store) as ex:
        if kind == "stream":
            stream: Any = ex.stream(SHAPES["linear"], {"x": 1}, run_id="dropped")
        else:
            stream = ex.astream(SHAPES["linear"], {"x": 1}, run_id="dropped")
        assert store.lease("dropped") is not None
        del stream
        gc.collect()
        assert store.lease("dropped") is None
        assert store.header("dropped").status == "interrupted"
        result = ex.resume("dropped", SHAPES["linear"])  # taken over at once
    assert result.success
    assert result.output == {"x": 1, "value": 1}

"""Interrupts from outside the tools: Ctrl-C while run() waits, a cancelled arun().

Both stop the run at once, record it ``interrupted`` with what had completed, release
its lease, and leave it resumable; the interrupt propagates to the caller.
"""

from __future__ import annotations

import _thread
import asyncio
import threading

import pytest
from pydantic import BaseModel

from dagwright import DAGFlow, FlowExecutor, InMemoryCheckpointer, Step, tool
from dagwright.events import StepStarted

PRESSED = threading.Event()  # the interrupt was sent
RELEASE = threading.Event()  # lets the waiting tools return at the end of a test


class Out(BaseModel):
    value: int


@tool
def quick(x: int) -> Out:
    """Completes at once."""
    return Out(value=x)


@tool
def presses_ctrl_c(value: int) -> Out:
    """Interrupts the main thread as a user pressing Ctrl-C would, then waits."""
    if not PRESSED.is_set():
        PRESSED.set()
        _thread.interrupt_main()
        RELEASE.wait(10)
    return Out(value=value + 1)


@tool
def waits(value: int) -> Out:
    """Waits (in a worker thread) until released, the first time it is called."""
    if not PRESSED.is_set():
        PRESSED.set()
        RELEASE.wait(10)
    return Out(value=value + 1)


@pytest.fixture(autouse=True)
def _reset() -> object:
    PRESSED.clear()
    RELEASE.clear()
    yield
    RELEASE.set()


def _flow(tool_name: str) -> DAGFlow:
    return DAGFlow(
        "interrupted",
        [
            Step(id="first", tool="quick"),
            Step(id="second", tool=tool_name, depends_on=("first",), timeout_s=30),
        ],
    )


@pytest.mark.timeout(30)
def test_ctrl_c_while_run_waits_stops_the_run_resumably() -> None:
    store = InMemoryCheckpointer()
    flow = _flow("presses_ctrl_c")
    with FlowExecutor([quick, presses_ctrl_c], checkpointer=store) as ex:
        with pytest.raises(KeyboardInterrupt):
            ex.run(flow, {"x": 1}, run_id="c1")
        assert store.header("c1").status == "interrupted"
        assert store.lease("c1") is None
        _, entries = store.load("c1")
        assert [entry["step"] for entry in entries] == ["first"]
        RELEASE.set()
        result = ex.resume("c1", flow)
    assert result.success, result.error
    assert result.output["value"] == 2


@pytest.mark.timeout(30)
def test_cancelling_arun_stops_the_run_resumably() -> None:
    store = InMemoryCheckpointer()
    flow = _flow("waits")

    async def cancel_midway(ex: FlowExecutor) -> None:
        task = asyncio.ensure_future(ex.arun(flow, {"x": 1}, run_id="a1"))
        while not PRESSED.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with FlowExecutor([quick, waits], checkpointer=store) as ex:
        asyncio.run(cancel_midway(ex))
        assert store.header("a1").status == "interrupted"
        assert store.lease("a1") is None
        _, entries = store.load("a1")
        assert [entry["step"] for entry in entries] == ["first"]
        RELEASE.set()
        result = asyncio.run(ex.aresume("a1", flow))
    assert result.success, result.error
    assert result.output["value"] == 2


@pytest.mark.timeout(30)
def test_ctrl_c_while_a_stream_waits_stops_the_run_resumably() -> None:
    store = InMemoryCheckpointer()
    flow = _flow("presses_ctrl_c")
    with FlowExecutor([quick, presses_ctrl_c], checkpointer=store) as ex:
        seen = []
        with pytest.raises(KeyboardInterrupt):
            for item in ex.stream(flow, {"x": 1}, run_id="s1"):
                seen.append(type(item).__name__)
        assert "StepStarted" in seen
        assert store.header("s1").status == "interrupted"
        assert store.lease("s1") is None
        _, entries = store.load("s1")
        assert [entry["step"] for entry in entries] == ["first"]
        RELEASE.set()
        result = ex.resume("s1", flow)
    assert result.success, result.error
    assert result.output["value"] == 2


@pytest.mark.timeout(30)
def test_ctrl_c_in_the_loop_of_a_stream_stops_the_run_once_the_stream_is_closed() -> None:
    store = InMemoryCheckpointer()
    flow = _flow("waits")
    with FlowExecutor([quick, waits], checkpointer=store) as ex:
        stream = ex.stream(flow, {"x": 1}, run_id="s2")
        with pytest.raises(KeyboardInterrupt):
            for item in stream:
                if isinstance(item, StepStarted) and item.step_id == "second":
                    raise KeyboardInterrupt  # as if Ctrl-C hit the consumer's own code
        stream.close()  # type: ignore[attr-defined]  # a generator
        assert store.header("s2").status == "interrupted"
        assert store.lease("s2") is None
        RELEASE.set()
        result = ex.resume("s2", flow)
    assert result.success, result.error

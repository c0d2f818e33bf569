"""Both lanes: every feature behaves the same through run() and arun().

Concurrency is proven with barriers and event order, never with wall-clock thresholds.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from dagwright import (
    DAGFlow,
    ExecutionResult,
    Flow,
    FlowCompileError,
    FlowExecutor,
    FlowInputError,
    FlowNotFoundError,
    FlowRegistry,
    RetryPolicy,
    Step,
    tool,
)
from dagwright.events import Event, StepCancelled, StepCompleted, StepStarted
from tests.conftest import Lane, Number, Result, double, increment, square
from tests.overlap import Overlap


@tool
async def adouble(n: int) -> Result:
    """Async double."""
    await asyncio.sleep(0)
    return Result(result=2 * n)


@tool
async def aincrement(result: int) -> Number:
    """Async increment."""
    return Number(n=result + 1)


@pytest.mark.parametrize("kinds", ["sync_tools", "async_tools", "mixed"])
def test_linear_flow_same_result_in_both_lanes(lane: Lane, kinds: str) -> None:
    first, second = {
        "sync_tools": ("double", "increment"),
        "async_tools": ("adouble", "aincrement"),
        "mixed": ("adouble", "increment"),
    }[kinds]
    flow = Flow("chain", [Step(tool=first), Step(tool=second), Step(tool="square")])
    with FlowExecutor([double, increment, square, adouble, aincrement]) as ex:
        result = lane(ex, flow, {"n": 3})
    assert result.success, result.error
    assert result.output == {"n": 7, "result": 49}
    assert [s.step_id for s in result.steps] == [first, second, "square"]


def test_misuse_raises_at_the_call_in_both_lanes(lane: Lane) -> None:
    with FlowExecutor([double]) as ex:
        with pytest.raises(FlowNotFoundError):
            lane(ex, "missing", {})
        with pytest.raises(FlowCompileError):
            lane(ex, Flow("bad", [Step(tool="nope")]), {})
        with pytest.raises(FlowInputError):
            lane(ex, Flow("needs_n", [Step(tool="double")]), {})


def test_when_retry_fallback_and_subflows_in_both_lanes(lane: Lane) -> None:
    calls = {"n": 0}
    lock = threading.Lock()

    @tool
    def flaky(n: int) -> Result:
        """Fails twice, then works."""
        with lock:
            calls["n"] += 1
            if calls["n"] <= 2:
                raise ConnectionError("transient")
        return Result(result=n)

    @tool
    def broken(n: int) -> Result:
        """Always fails."""
        raise RuntimeError("down")

    registry = FlowRegistry()
    registry.register(Flow("inner", [Step(tool="double"), Step(tool="increment")]))
    retry = RetryPolicy(max_attempts=3)
    flow = DAGFlow(
        "features",
        [
            Step(id="gate", tool="square", when="n > 100", outputs={"big": "result"}),
            Step(id="after_gate", tool="double", depends_on=("gate",), outputs={"x": "result"}),
            Step(id="retry", tool="flaky", retry=retry, outputs={"r": "result"}),
            Step(id="fb", tool="broken", on_error="fallback:double", outputs={"f": "result"}),
            Step(id="soft", tool="broken", on_error="skip", outputs={"s": "result"}),
            Step(id="sub", flow="inner", outputs={"sub_n": "n", "sub_result": "result"}),
        ],
    )  # fmt: skip
    with FlowExecutor([square, double, increment, flaky, broken], registry=registry) as ex:
        result = lane(ex, flow, {"n": 3})
    assert result.success, result.error
    status = {s.step_id: s.status for s in result.steps}
    assert status == {
        "gate": "skipped",
        "after_gate": "skipped",
        "retry": "completed",
        "fb": "completed",
        "soft": "skipped",
        "sub": "completed",
    }
    assert [a.status for a in result.step("retry").attempts] == ["failed", "failed", "completed"]
    assert result.step("fb").fallback == "double"
    assert result.output == {"n": 3, "r": 3, "f": 6, "sub_n": 7, "sub_result": 6}


@pytest.mark.parametrize("k", [2, 3])
def test_exactly_k_calls_at_once_async_lane(k: int) -> None:
    overlap = Overlap(k)

    @tool
    async def meet(n: int) -> Result:
        """k calls must overlap to pass the barrier."""
        await overlap.ameet()
        return Result(result=n)

    flow = DAGFlow(
        "wide", [Step(id=f"s{i}", tool="meet", outputs={f"r{i}": "result"}) for i in range(2 * k)]
    )
    with FlowExecutor([meet], max_concurrency=k) as ex:
        result = asyncio.run(ex.arun(flow, {"n": 1}))
    assert result.success, result.error
    assert overlap.peak == k


def test_sync_tools_on_the_async_lane_share_the_executor_pool() -> None:
    k = 3
    barrier = threading.Barrier(k, timeout=10)
    threads: set[str] = set()

    @tool
    def meet(n: int) -> Result:
        """Blocks until k calls overlap; records its thread."""
        threads.add(threading.current_thread().name)
        barrier.wait()
        return Result(result=n)

    flow = DAGFlow(
        "wide", [Step(id=f"s{i}", tool="meet", outputs={f"r{i}": "result"}) for i in range(k)]
    )
    with FlowExecutor([meet], max_concurrency=k) as ex:
        result = asyncio.run(ex.arun(flow, {"n": 1}))
    assert result.success, result.error
    # the executor's own workers, not asyncio's default executor ("asyncio_N")
    assert threads and all(name.startswith("dagwright_") for name in threads)


def test_dependency_driven_dispatch_in_both_lanes(lane: Lane) -> None:
    """Skewed DAG: C (after fast B) starts while slow A runs; read from the event order."""
    c_started = threading.Event()
    events: list[Event] = []

    @tool
    def slow_a(n: int) -> Result:
        """Finishes only once C has started."""
        assert c_started.wait(10), "C did not start while A was running"
        return Result(result=n)

    @tool
    def fast_b(n: int) -> Number:
        """Quick."""
        return Number(n=n)

    @tool
    def c_after_b(n: int) -> Number:
        """Signals that it started."""
        c_started.set()
        return Number(n=n)

    flow = DAGFlow(
        "skewed",
        [
            Step(id="a", tool="slow_a"),
            Step(id="b", tool="fast_b", outputs={"nb": "n"}),
            Step(id="c", tool="c_after_b", depends_on=("b",), outputs={"nc": "n"}),
            Step(id="d", tool="square", depends_on=("a", "c"), outputs={"sq": "result"}),
        ],
    )
    with FlowExecutor([slow_a, fast_b, c_after_b, square], max_concurrency=4) as ex:
        result = lane(ex, flow, {"n": 2}, hooks=[events.append])
    assert result.success, result.error
    order = [(type(e).__name__, getattr(e, "step_id", None)) for e in events]
    assert order.index(("StepStarted", "c")) < order.index(("StepCompleted", "a"))
    assert order.index(("StepStarted", "d")) > order.index(("StepCompleted", "a"))


def test_failing_async_sibling_cancels_a_long_one() -> None:
    finished = threading.Event()
    events: list[Event] = []

    @tool
    async def long(n: int) -> Result:
        """Would run for a minute."""
        await asyncio.sleep(60)
        finished.set()
        return Result(result=n)

    @tool
    async def fails(n: int) -> Number:
        """Fails once the long one is running."""
        await asyncio.sleep(0)
        raise ValueError("no")

    flow = DAGFlow(
        "cancel",
        [Step(id="long", tool="long"), Step(id="fails", tool="fails", outputs={"m": "n"})],
    )
    with FlowExecutor([long, fails], max_concurrency=2) as ex:
        result = asyncio.run(ex.arun(flow, {"n": 1}, hooks=[events.append]))
    assert not result.success
    assert result.error is not None and result.error.step_id == "fails"
    assert {s.step_id: s.status for s in result.steps} == {"long": "cancelled", "fails": "failed"}
    assert result.step("long").error is not None
    assert result.step("long").error.code == "DW-E105"
    cancelled = [e for e in events if isinstance(e, StepCancelled)]
    assert [e.step_id for e in cancelled] == ["long"]
    assert not any(isinstance(e, StepCompleted) and e.step_id == "long" for e in events)
    assert not finished.is_set()


def test_completed_while_a_sibling_failed_is_recorded_completed(lane: Lane) -> None:
    proceed = threading.Event()

    @tool
    def quick(n: int) -> Result:
        """Completes, then lets the sibling fail."""
        proceed.set()
        return Result(result=n)

    @tool
    def fails_after(n: int) -> Number:
        """Fails once quick has run."""
        assert proceed.wait(10)
        raise ValueError("late failure")

    flow = DAGFlow(
        "partial",
        [Step(id="quick", tool="quick"), Step(id="fails", tool="fails_after", outputs={"m": "n"})],
    )
    with FlowExecutor([quick, fails_after], max_concurrency=2) as ex:
        result = lane(ex, flow, {"n": 1})
    assert not result.success
    assert result.step("quick").status == "completed"
    assert result.output["result"] == 1


def test_async_timeout_cancels_the_call(lane: Lane) -> None:
    finished = threading.Event()

    @tool(timeout_s=0.05)
    async def hangs(n: int) -> Result:
        """Sleeps far past its timeout."""
        await asyncio.sleep(30)
        finished.set()
        return Result(result=n)

    with FlowExecutor([hangs]) as ex:
        result = lane(ex, Flow("t", [Step(tool="hangs")]), {"n": 1})
    assert not result.success
    assert result.error is not None
    assert (result.error.code, result.error.type) == ("DW-E104", "StepTimeoutError")
    assert not finished.is_set()


def test_run_works_inside_a_running_event_loop() -> None:
    loops: list[int] = []

    @tool
    async def where(n: int) -> Result:
        """Records the loop it runs on."""
        loops.append(id(asyncio.get_running_loop()))
        return Result(result=n)

    flow = DAGFlow(
        "loops", [Step(id=f"s{i}", tool="where", outputs={f"r{i}": "result"}) for i in range(4)]
    )

    async def notebook_cell() -> ExecutionResult:
        outer = id(asyncio.get_running_loop())
        with FlowExecutor([where], max_concurrency=2) as ex:
            result = ex.run(flow, {"n": 1})  # a blocking call from inside a running loop
        assert outer not in loops
        return result

    result = asyncio.run(notebook_cell())
    assert result.success, result.error
    assert len(loops) == 4 and len(set(loops)) == 1  # one private loop for the whole run


def test_sync_lane_fail_fast_lets_running_calls_finish() -> None:
    gate = threading.Event()
    started: list[str] = []

    @tool
    def slow(n: int) -> Result:
        """Finishes after the failure happened."""
        started.append("slow")
        assert gate.wait(10)
        return Result(result=n)

    @tool
    def fail_now(n: int) -> Number:
        """Fails and releases the slow sibling."""
        gate.set()
        raise RuntimeError("no")

    @tool
    def later(result: int) -> Number:
        """Must never start."""
        started.append("later")
        return Number(n=result)

    flow = DAGFlow(
        "ff",
        [
            Step(id="slow", tool="slow"),
            Step(id="fail", tool="fail_now", outputs={"f": "n"}),
            Step(id="later", tool="later", depends_on=("slow",), outputs={"l": "n"}),
        ],
    )
    events: list[Event] = []
    with FlowExecutor([slow, fail_now, later], max_concurrency=2) as ex:
        result = ex.run(flow, {"n": 1}, hooks=[events.append])
    assert "later" not in started
    assert {s.step_id: s.status for s in result.steps} == {"slow": "completed", "fail": "failed"}
    assert not any(isinstance(e, StepStarted) and e.step_id == "later" for e in events)

"""The sync lane: what a user sees from FlowExecutor.run."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import (
    ContextCollisionError,
    DAGFlow,
    Flow,
    FlowCompileError,
    FlowExecutor,
    FlowInputError,
    FlowNotFoundError,
    FlowRegistry,
    Literal,
    RetryPolicy,
    RunFailedError,
    Step,
    tool,
)
from tests.conftest import Result, double, increment, square
from tests.overlap import Overlap


def test_linear_flow_chains_outputs(executor: FlowExecutor) -> None:
    flow = Flow("chain", [Step(tool="double"), Step(tool="increment"), Step(tool="square")])
    result = executor.run(flow, {"n": 3})
    assert result.success
    # double(3)=6 -> increment -> n=7 -> square -> 49
    assert result.output == {"n": 7, "result": 49}
    assert [s.step_id for s in result.steps] == ["double", "increment", "square"]
    assert [s.status for s in result.steps] == ["completed"] * 3
    assert result.steps[1].inputs == {"result": 6}
    assert result.steps[1].outputs == {"n": 7}
    assert result.error is None
    assert result.raise_for_error() is result


def test_repeated_tool_ids_are_suffixed(executor: FlowExecutor) -> None:
    flow = Flow("twice", [Step(tool="double"), Step(tool="double", inputs={"n": "result"})])
    result = executor.run(flow, {"n": 1})
    assert [s.step_id for s in result.steps] == ["double", "double-2"]
    assert result.output["result"] == 4


def test_literal_pointer_and_renamed_outputs(executor: FlowExecutor) -> None:
    flow = Flow(
        "sources",
        [
            Step(tool="double", id="a", inputs={"n": Literal(5)}, outputs={"ten": "result"}),
            Step(tool="double", id="b", inputs={"n": "/cfg/size"}, outputs={"big": "result"}),
            Step(tool="double", id="c", inputs={"n": "ten"}, outputs={"twenty": "result"}),
        ],
    )
    result = executor.run(flow, {"cfg": {"size": 21}})
    assert result.output == {"cfg": {"size": 21}, "ten": 10, "big": 42, "twenty": 20}


def test_inputs_validated_and_required_inputs_named(executor: FlowExecutor) -> None:
    flow = Flow("needs_n", [Step(tool="double")])
    with pytest.raises(FlowInputError) as info:
        executor.run(flow, {})
    assert info.value.missing == ("n",)
    assert info.value.code == "DW-E004"

    class In(BaseModel):
        n: int

    typed = Flow("typed", [Step(tool="double")], input_schema=In)
    with pytest.raises(FlowInputError) as bad:
        executor.run(typed, {"n": "not a number"})
    assert bad.value.errors and bad.value.errors[0]["loc"] == ("n",)
    assert executor.run(typed, In(n=2)).output == {"n": 2, "result": 4}


def test_unknown_flow_name_and_invalid_flow_raise(executor: FlowExecutor) -> None:
    with pytest.raises(FlowNotFoundError):
        executor.run("nope", {})
    with pytest.raises(FlowCompileError) as info:
        executor.run(Flow("bad", [Step(tool="missing_tool")]), {})
    assert any(d.code == "DW104" for d in info.value.diagnostics)


def test_run_by_name_through_registry() -> None:
    registry = FlowRegistry()
    registry.register(Flow("named", [Step(tool="double")], version="1"))
    registry.register(Flow("named", [Step(tool="square")], version="2"))
    with FlowExecutor([double, square], registry=registry) as ex:
        result = ex.run("named", {"n": 3})
    assert result.flow_version == "2"
    assert result.output["result"] == 9


def test_dag_branches_and_join() -> None:
    class Pair(BaseModel):
        total: int

    @tool
    def add(left: int, right: int) -> Pair:
        """Add two numbers."""
        return Pair(total=left + right)

    flow = DAGFlow(
        "diamond",
        [
            Step(id="a", tool="double", outputs={"left": "result"}),
            Step(id="b", tool="square", outputs={"right": "result"}),
            Step(id="join", tool="add", depends_on=("a", "b")),
        ],
    )
    with FlowExecutor([double, square, add], max_concurrency=2) as ex:
        result = ex.run(flow, {"n": 4})
    assert result.output == {"n": 4, "left": 8, "right": 16, "total": 24}
    assert [s.step_id for s in result.steps] == ["a", "b", "join"]


def test_when_skips_and_skips_propagate(executor: FlowExecutor) -> None:
    flow = DAGFlow(
        "gated",
        [
            Step(id="a", tool="double", when="n > 10"),
            Step(id="b", tool="increment", depends_on=("a",), outputs={"m": "n"}),
            Step(id="c", tool="square", inputs={"n": "n"}, outputs={"sq": "result"}),
        ],
    )
    result = executor.run(flow, {"n": 3})
    assert result.success
    statuses = {s.step_id: s.status for s in result.steps}
    assert statuses == {"a": "skipped", "b": "skipped", "c": "completed"}
    assert result.output == {"n": 3, "sq": 9}
    taken = executor.run(flow, {"n": 11})
    assert {s.step_id: s.status for s in taken.steps} == dict.fromkeys("abc", "completed")


def test_linear_implicit_edge_does_not_propagate_skips(executor: FlowExecutor) -> None:
    flow = Flow(
        "linear_skip",
        [
            Step(tool="double", when="n > 10", outputs={"doubled": "result"}),
            Step(tool="square"),
        ],
    )
    result = executor.run(flow, {"n": 2})
    assert [s.status for s in result.steps] == ["skipped", "completed"]
    assert result.output["result"] == 4


class Flaky:
    """A tool body that fails a given number of times, then succeeds."""

    def __init__(self, failures: int, exc: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.calls = 0
        self.exc = exc
        self.lock = threading.Lock()

    def __call__(self, n: int) -> Result:
        with self.lock:
            self.calls += 1
            if self.calls <= self.failures:
                raise self.exc(f"failure {self.calls}")
        return Result(result=n)


def test_retry_records_every_attempt() -> None:
    body = Flaky(2)
    flaky = tool(name="flaky")(body.__call__)
    flow = Flow("retry", [Step(tool="flaky", retry=RetryPolicy(max_attempts=3))])
    with FlowExecutor([flaky]) as ex:
        result = ex.run(flow, {"n": 5})
    assert result.success
    attempts = result.steps[0].attempts
    assert [a.number for a in attempts] == [0, 1, 2]
    assert [a.status for a in attempts] == ["failed", "failed", "completed"]
    assert attempts[0].error is not None and attempts[0].error.type == "ConnectionError"
    assert body.calls == 3


def test_retry_on_filters_exception_types() -> None:
    body = Flaky(1, exc=KeyError)
    flaky = tool(name="flaky")(body.__call__)
    policy = RetryPolicy(max_attempts=3, retry_on=("ConnectionError",))
    flow = Flow("retry", [Step(tool="flaky", retry=policy)])
    with FlowExecutor([flaky]) as ex:
        result = ex.run(flow, {"n": 5})
    assert not result.success
    assert len(result.steps[0].attempts) == 1
    assert result.error is not None and result.error.type == "KeyError"
    assert result.error.code == "DW-E101"


@tool
def boom(n: int) -> Result:
    """Always fails."""
    raise ValueError(f"cannot handle {n}")


def test_failure_is_recorded_not_raised() -> None:
    flow = Flow("fails", [Step(tool="double"), Step(tool="boom", inputs={"n": "result"})])
    with FlowExecutor([double, boom]) as ex:
        result = ex.run(flow, {"n": 1})
    assert not result.success
    assert result.error is not None
    assert (result.error.step_id, result.error.type, result.error.code) == (
        "boom",
        "ValueError",
        "DW-E101",
    )
    assert "cannot handle 2" in result.error.message
    assert [s.status for s in result.steps] == ["completed", "failed"]
    with pytest.raises(RunFailedError) as info:
        result.raise_for_error()
    assert info.value.result is result


def test_on_error_skip_and_fallback() -> None:
    flow = DAGFlow(
        "recover",
        [
            Step(id="soft", tool="boom", on_error="skip"),
            Step(id="after_soft", tool="square", depends_on=("soft",)),
            Step(id="fb", tool="boom", on_error="fallback:double", outputs={"fb": "result"}),
        ],
    )
    with FlowExecutor([boom, square, double]) as ex:
        result = ex.run(flow, {"n": 3})
    assert result.success
    soft, after, fb = result.steps
    assert soft.status == "skipped" and soft.error is not None
    assert after.status == "skipped"
    assert fb.status == "completed" and fb.fallback == "double"
    assert [a.tool for a in fb.attempts] == ["boom", "double"]
    assert result.output == {"n": 3, "fb": 6}


def test_invalid_tool_output_is_a_step_failure() -> None:
    @tool
    def liar(n: int) -> Result:
        """Returns the wrong shape."""
        return {"wrong": n}  # type: ignore[return-value]

    with FlowExecutor([liar]) as ex:
        result = ex.run(Flow("lies", [Step(tool="liar")]), {"n": 1})
    assert result.error is not None and result.error.code == "DW-E103"


def test_sub_flow_returns_only_its_outputs() -> None:
    registry = FlowRegistry()
    registry.register(Flow("inner", [Step(tool="double"), Step(tool="increment")]))
    outer = Flow("outer", [Step(flow="inner"), Step(tool="square")])
    with FlowExecutor([double, increment, square], registry=registry) as ex:
        result = ex.run(outer, {"n": 2})
    assert result.success
    inner = result.steps[0]
    assert inner.flow == "inner" and inner.tool is None
    assert [c.step_id for c in inner.children] == ["double", "increment"]
    # the inner flow wrote result=4 then n=5; it returns only what its steps wrote
    assert inner.outputs == {"result": 4, "n": 5}
    assert result.output == {"n": 5, "result": 25}


def test_max_concurrency_one_runs_in_calling_thread() -> None:
    threads: list[str] = []

    @tool
    def where(n: int) -> Result:
        """Records the thread it ran on."""
        threads.append(threading.current_thread().name)
        return Result(result=n)

    flow = DAGFlow(
        "same_thread",
        [Step(id=f"s{i}", tool="where", outputs={f"r{i}": "result"}) for i in range(4)],
    )
    with FlowExecutor([where], max_concurrency=1) as ex:
        ex.run(flow, {"n": 1})
    assert threads == [threading.current_thread().name] * 4


@pytest.mark.parametrize("k", [2, 3, 4])
def test_max_concurrency_k_runs_exactly_k_at_once(k: int) -> None:
    overlap = Overlap(k)

    @tool
    def meet(n: int) -> Result:
        """Passes only when k calls overlap."""
        overlap.meet()
        return Result(result=n)

    flow = DAGFlow(
        "wide", [Step(id=f"s{i}", tool="meet", outputs={f"r{i}": "result"}) for i in range(2 * k)]
    )
    with FlowExecutor([meet], max_concurrency=k) as ex:
        result = ex.run(flow, {"n": 1})
    assert result.success, result.error
    assert overlap.peak == k


def test_sync_timeout_abandons_the_call() -> None:
    release = threading.Event()

    @tool(timeout_s=0.05)
    def hangs(n: int) -> Result:
        """Blocks until released."""
        release.wait(10)
        return Result(result=n)

    with FlowExecutor([hangs], max_concurrency=1) as ex:
        result = ex.run(Flow("t", [Step(tool="hangs")]), {"n": 1})
        release.set()
    assert not result.success
    assert result.error is not None
    assert (result.error.code, result.error.type) == ("DW-E104", "StepTimeoutError")


def test_async_tool_on_sync_lane() -> None:
    @tool
    async def adouble(n: int) -> Result:
        """Async double."""
        return Result(result=2 * n)

    with FlowExecutor([adouble]) as ex:
        result = ex.run(Flow("a", [Step(tool="adouble")]), {"n": 4})
    assert result.output["result"] == 8


def test_one_executor_serves_concurrent_runs(executor: FlowExecutor) -> None:
    flow = Flow("chain", [Step(tool="double"), Step(tool="increment")])
    results: dict[int, Any] = {}

    def go(i: int) -> None:
        results[i] = executor.run(flow, {"n": i})

    threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i: r.output["n"] for i, r in results.items()} == {i: 2 * i + 1 for i in range(8)}


def test_digest_is_stable_and_ignores_times(executor: FlowExecutor) -> None:
    flow = Flow("chain", [Step(tool="double"), Step(tool="increment")])
    first = executor.run(flow, {"n": 3})
    second = executor.run(flow, {"n": 3})
    assert first.digest == second.digest
    assert first.run_id != second.run_id
    assert executor.run(flow, {"n": 4}).digest != first.digest


def test_shout_tool_used(executor: FlowExecutor) -> None:
    result = executor.run(Flow("s", [Step(tool="shout")]), {"text": "hi"})
    assert result.output == {"text": "HI"}


def test_only_unseen_input_keys_count_as_collisions(caplog: pytest.LogCaptureFixture) -> None:
    # n is a declared input that the first step reads and a later step rewrites: an
    # ordered overwrite the compiler saw; nothing to report at run time.
    flow = Flow("rewrite", [Step(tool="double"), Step(tool="increment")])
    with FlowExecutor([double, increment]) as ex, caplog.at_level("WARNING", "dagwright"):
        ex.run(flow, {"n": 1})
        assert not caplog.records
        # `result` is written by a step but the caller passed it too: unseen, so it warns
        ex.run(flow, {"n": 1, "result": 99})
    assert any("input_overwritten" in r.getMessage() for r in caplog.records)
    strict = Flow(
        "strict", [Step(tool="double"), Step(tool="increment")], on_context_collision="error"
    )
    with FlowExecutor([double, increment]) as ex, pytest.raises(ContextCollisionError):
        ex.run(strict, {"n": 1, "result": 99})

"""Errors keep their story, in both lanes: tracebacks, chained causes, fallbacks, logs."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import threading
from collections.abc import Callable
from typing import Any

import pytest

from dagwright import (
    ErrorInfo,
    ExecutionResult,
    Flow,
    FlowExecutor,
    FlowRegistry,
    MapStep,
    RunFailedError,
    Step,
    StepRecord,
    StepTimeoutError,
    Tool,
    tool,
)
from dagwright.events import (
    EVENT_CLASSES,
    RunFinished,
    StepCompleted,
    StepEvent,
    StepFailed,
    StepFallback,
    StepStarted,
)
from tests.conftest import Lane, Result, double
from tests.test_events import collect_stream


@tool
def explode(result: int) -> Result:
    """Always fails."""
    raise ValueError(f"kaboom at {result}")


def story_flow() -> tuple[Flow, FlowRegistry]:
    """A run that fails inside a sub-flow after a map that collected two failures."""
    registry = FlowRegistry()
    registry.register(Flow("inner", [Step(tool="double"), Step(tool="explode")]))
    flow = Flow(
        "story",
        [
            Step(id="first", tool="double", outputs={"d": "result"}),
            MapStep(id="each", over="xs", tool="explode", item="result", results="out",
                    errors="errs", error_policy="collect"),
            Step(id="sub", flow="inner", inputs={"n": "d"}, outputs={"r": "result"}),
        ],
    )  # fmt: skip
    return flow, registry


# The digest of the story run before errors carried tracebacks: it must never change.
STORY_DIGEST = "45eba39c7fd995abe36a76385caf0d3658eff328b4754ea4b013daad90d9238c"


def run_story(lane: Lane, boom: Tool = explode) -> ExecutionResult:
    flow, registry = story_flow()
    with FlowExecutor([double, boom], registry=registry) as ex:
        result = lane(ex, flow, {"n": 2, "xs": [1, 2]})
    assert not result.success
    return result


def without_tracebacks(record: StepRecord) -> StepRecord:
    def bare(error: ErrorInfo | None) -> ErrorInfo | None:
        return None if error is None else error._replace(traceback=None)

    return record._replace(
        error=bare(record.error),
        attempts=tuple(a._replace(error=bare(a.error)) for a in record.attempts),
        children=tuple(without_tracebacks(c) for c in record.children),
    )


def test_the_traceback_names_the_tool_and_its_raise_line(lane: Lane) -> None:
    with FlowExecutor([double, explode]) as ex:
        result = lane(ex, Flow("f", [Step(tool="double"), Step(tool="explode")]), {"n": 1})
    record = result.step("explode")
    assert record.error is not None and record.attempts[0].error is not None
    story = record.error.traceback
    assert story is not None and story == record.attempts[0].error.traceback
    assert story.startswith("Traceback (most recent call last):\n")
    first_frame = story.splitlines()[1]
    assert first_frame.endswith(", in explode"), story  # the tool's frame comes first
    assert 'raise ValueError(f"kaboom at {result}")' in story
    assert story.rstrip().endswith("ValueError: kaboom at 2")
    assert "dagwright" not in story  # neither the lane's frames nor the tool adapter's
    assert result.error is not None and result.error.traceback == story


def test_the_traceback_is_journaled_but_left_out_of_the_deterministic_projection(
    lane: Lane,
) -> None:
    result = run_story(lane)
    for record in result.steps:
        untimed = json.dumps(record.to_dict(times=False))
        assert "traceback" not in untimed and "Traceback" not in untimed
    sub = result.step("sub")
    assert sub.error is not None and "in explode" in (sub.error.traceback or "")
    timed = sub.to_dict()
    assert timed["error"]["traceback"] == sub.error.traceback
    assert "in explode" in timed["children"][1]["attempts"][0]["error"]["traceback"]
    assert StepRecord.from_dict(timed) == sub
    # Journals written before tracebacks were recorded have no such key.
    old = sub.to_dict(times=False)
    restored = StepRecord.from_dict(old)
    assert restored.to_dict(times=False) == old
    assert restored == without_tracebacks(sub)._replace(
        children=restored.children, started_at=None, ended_at=None
    )
    assert all(r.error is None or r.error.traceback is None for r in restored.walk())
    assert ErrorInfo.from_dict(sub.error.to_dict(traceback=False)).traceback is None


def test_a_failing_runs_digest_ignores_tracebacks_and_lanes(lane: Lane) -> None:
    def deeper(result: int) -> None:
        raise ValueError(f"kaboom at {result}")

    @tool(name="explode")
    def explode_elsewhere(result: int) -> Result:
        """Fails one frame further down."""
        deeper(result)
        return Result(result=result)

    result = run_story(lane)
    other = run_story(lane, explode_elsewhere)
    assert result.error is not None and other.error is not None
    assert result.error.traceback != other.error.traceback
    assert "in deeper" in (other.error.traceback or "")
    assert result.digest == other.digest == STORY_DIGEST
    stripped = ExecutionResult(
        result.run_id, result.flow_name, result.flow_version, result.success,
        result.output, tuple(without_tracebacks(s) for s in result.steps),
        result.error._replace(traceback=None),
    )  # fmt: skip
    assert stripped.steps != result.steps
    assert stripped.digest == result.digest


Shape = Callable[[], tuple[Flow, FlowRegistry, dict[str, Any]]]


def tool_step() -> tuple[Flow, FlowRegistry, dict[str, Any]]:
    return Flow("plain", [Step(tool="catch")]), FlowRegistry(), {"result": 2}


def sub_flow() -> tuple[Flow, FlowRegistry, dict[str, Any]]:
    registry = FlowRegistry()
    registry.register(Flow("inner", [Step(tool="double"), Step(tool="catch")]))
    return Flow("outer", [Step(flow="inner")]), registry, {"n": 1}


def map_instance() -> tuple[Flow, FlowRegistry, dict[str, Any]]:
    flow = Flow("fan", [MapStep(over="xs", tool="catch", item="result", results="out")])
    return flow, FlowRegistry(), {"xs": [1, 2, 3]}


def map_of_sub_flows() -> tuple[Flow, FlowRegistry, dict[str, Any]]:
    registry = FlowRegistry()
    registry.register(Flow("inner", [Step(tool="double"), Step(tool="catch")]))
    flow = Flow("fan", [MapStep(over="xs", flow="inner", item="n", results="out")])
    return flow, registry, {"xs": [1, 2, 3]}


@pytest.mark.parametrize("shape", [tool_step, sub_flow, map_instance, map_of_sub_flows])
def test_raise_for_error_chains_the_tools_exception(lane: Lane, shape: Shape) -> None:
    raised: list[BaseException] = []
    lock = threading.Lock()

    @tool
    def catch(result: int) -> Result:
        """Fails on 2 only."""
        if result != 2:
            return Result(result=result)
        error = LookupError(f"no {result}")
        with lock:
            raised.append(error)
        raise error

    flow, registry, inputs = shape()
    with FlowExecutor([double, catch], registry=registry, max_concurrency=1) as ex:
        result = lane(ex, flow, inputs)
    assert not result.success and len(raised) == 1
    with pytest.raises(RunFailedError) as caught:
        result.raise_for_error()
    assert caught.value.__cause__ is raised[0]
    assert caught.value.result is result


def test_a_fallbacks_failure_is_the_cause(lane: Lane) -> None:
    raised: list[BaseException] = []

    @tool
    def rescue(result: int) -> Result:
        """Fails too."""
        raised.append(OSError("rescue failed"))
        raise raised[-1]

    flow = Flow("f", [Step(tool="explode", on_error="fallback:rescue")])
    with FlowExecutor([explode, rescue]) as ex:
        result = lane(ex, flow, {"result": 1})
    with pytest.raises(RunFailedError) as caught:
        result.raise_for_error()
    assert caught.value.__cause__ is raised[0]
    assert result.error is not None and "in rescue" in (result.error.traceback or "")


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_timeouts_cause_is_the_step_timeout_error(lane: Lane, kind: str) -> None:
    release = threading.Event()

    @tool(name="hangs", timeout_s=0.05)
    def hangs_sync(n: int) -> Result:
        """Blocks until released."""
        release.wait(10)
        return Result(result=n)

    @tool(name="hangs", timeout_s=0.05)
    async def hangs_async(n: int) -> Result:
        """Sleeps far past its timeout."""
        await asyncio.sleep(30)
        return Result(result=n)

    hangs = hangs_sync if kind == "sync" else hangs_async
    with FlowExecutor([hangs], max_concurrency=1) as ex:
        result = lane(ex, Flow("t", [Step(tool="hangs")]), {"n": 1})
        release.set()
    assert result.error is not None and result.error.type == "StepTimeoutError"
    assert result.error.traceback is not None
    assert "StepTimeoutError" in result.error.traceback
    with pytest.raises(RunFailedError) as caught:
        result.raise_for_error()
    assert isinstance(caught.value.__cause__, StepTimeoutError)


def test_results_and_their_errors_pickle_without_the_cause(lane: Lane) -> None:
    class Unpicklable(Exception):  # a local class: pickling it would fail
        pass

    @tool
    def odd(result: int) -> Result:
        """Raises an exception that cannot be pickled."""
        raise Unpicklable("local")

    with FlowExecutor([odd]) as ex:
        result = lane(ex, Flow("f", [Step(tool="odd")]), {"result": 1})
    with pytest.raises(RunFailedError) as caught:
        result.raise_for_error()
    assert isinstance(caught.value.__cause__, Unpicklable)
    clone = pickle.loads(pickle.dumps(result))
    assert clone.digest == result.digest and clone.steps == result.steps
    assert clone.error == result.error and clone.error.traceback == result.error.traceback
    error = pickle.loads(pickle.dumps(caught.value))
    assert type(error) is RunFailedError and str(error) == str(caught.value)
    assert error.result.digest == result.digest
    with pytest.raises(RunFailedError) as again:
        clone.raise_for_error()
    assert again.value.__cause__ is None


def test_a_failure_restored_from_a_journal_has_no_cause(lane: Lane) -> None:
    result = run_story(lane)
    rebuilt = ExecutionResult(
        result.run_id, result.flow_name, result.flow_version, result.success,
        result.output, tuple(StepRecord.from_dict(s.to_dict()) for s in result.steps),
        result.error,
    )  # fmt: skip
    assert rebuilt.digest == result.digest and rebuilt.steps == result.steps
    sub = rebuilt.step("sub")
    assert sub.error is not None and "in explode" in (sub.error.traceback or "")
    with pytest.raises(RunFailedError) as original:
        result.raise_for_error()
    assert isinstance(original.value.__cause__, ValueError)
    with pytest.raises(RunFailedError) as caught:
        rebuilt.raise_for_error()
    assert caught.value.__cause__ is None


@tool
def rescue(result: int) -> Result:
    """Stands in for a failed tool."""
    return Result(result=-result)


def test_a_fallback_is_visible_in_the_events(lane: Lane) -> None:
    assert StepFallback in EVENT_CLASSES
    flow = Flow("f", [Step(tool="explode", on_error="fallback:rescue")])
    with FlowExecutor([explode, rescue]) as ex:
        items = collect_stream(ex, flow, {"result": 3}, lane.lane)  # type: ignore[attr-defined]
    result = items[-1]
    assert result.success and result.output["result"] == -3
    record = result.step("explode")
    assert (record.tool, record.fallback) == ("explode", "rescue")
    steps = [e for e in items[:-1] if isinstance(e, StepEvent)]
    assert [(type(e).__name__, e.tool, e.attempt) for e in steps] == [
        ("StepStarted", "explode", 0),
        ("StepFallback", "explode", 0),
        ("StepStarted", "rescue", 1),
        ("StepCompleted", "rescue", 1),
    ]
    fallback = steps[1]
    assert isinstance(fallback, StepFallback) and fallback.fallback == "rescue"
    assert fallback.error == record.attempts[0].error
    assert (fallback.error.type, fallback.error.message) == ("ValueError", "kaboom at 3")
    assert "in explode" in (fallback.error.traceback or "")
    assert isinstance(steps[-1], StepCompleted) and steps[-1].outputs == {"result": -3}


def test_a_failing_fallback_fails_under_its_own_name(lane: Lane) -> None:
    @tool(name="rescue")
    def broken_rescue(result: int) -> Result:
        """Fails too."""
        raise OSError("rescue failed")

    flow = Flow("f", [Step(tool="explode", on_error="fallback:rescue")])
    with FlowExecutor([explode, broken_rescue]) as ex:
        items = collect_stream(ex, flow, {"result": 3}, lane.lane)  # type: ignore[attr-defined]
    failed = [e for e in items if isinstance(e, StepFailed)]
    assert len(failed) == 1 and failed[0].tool == "rescue"
    assert failed[0].error.type == "OSError" and "in broken_rescue" in (
        failed[0].error.traceback or ""
    )
    assert [type(e) for e in items if isinstance(e, StepStarted | StepFallback)] == [
        StepStarted,
        StepFallback,
        StepStarted,
    ]


def test_failure_events_carry_the_traceback(lane: Lane) -> None:
    flow = Flow("f", [Step(tool="explode")])
    with FlowExecutor([explode]) as ex:
        items = collect_stream(ex, flow, {"result": 4}, lane.lane)  # type: ignore[attr-defined]
    failed = next(e for e in items if isinstance(e, StepFailed))
    finished = next(e for e in items if isinstance(e, RunFinished))
    assert "in explode" in (failed.error.traceback or "")
    assert finished.error is not None and finished.error.traceback == failed.error.traceback


def test_the_debug_log_of_a_failure_tells_its_story(
    lane: Lane, caplog: pytest.LogCaptureFixture
) -> None:
    flow = Flow("f", [Step(tool="explode", on_error="fallback:explode")])
    with FlowExecutor([explode]) as ex, caplog.at_level(logging.DEBUG, logger="dagwright"):
        result = lane(ex, flow, {"result": 5})
    assert not result.success
    lines = [r.getMessage() for r in caplog.records if r.name == "dagwright"]

    def line(event: str) -> str:
        found = [m for m in lines if f"event='{event}'" in m]
        assert len(found) == 1, lines
        return found[0]

    for event in ("StepFallback", "StepFailed", "RunFinished"):
        text = line(event)
        assert "error_code='DW-E101'" in text
        assert "error_type='ValueError'" in text
        assert "message='kaboom at 5'" in text
        assert "traceback='Traceback (most recent call last):" in text
        assert "in explode" in text
    started = [m for m in lines if "event='StepStarted'" in m]
    assert len(started) == 2 and not any("traceback" in m for m in started)

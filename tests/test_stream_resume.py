"""stream_resume / astream_resume: a resumed run's events as they happen, then its result."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import (
    CheckpointNotFoundError,
    ExecutionResult,
    ExecutorClosedError,
    Flow,
    FlowExecutor,
    FlowRegistry,
    InMemoryCheckpointer,
    Step,
    UsageError,
    tool,
)
from dagwright.checkpoint import Owner
from dagwright.events import Event, RunFinished, RunStarted, StepCompleted, StepStarted

pytestmark = pytest.mark.timeout(30)

CALLS: list[str] = []


class A(BaseModel):
    a: int


class B(BaseModel):
    b: int


class C(BaseModel):
    c: int


@tool
def first(x: int) -> A:
    CALLS.append("first")
    return A(a=x + 1)


@tool
def second(a: int) -> B:
    CALLS.append("second")
    return B(b=a * 10)


@tool
def third(b: int) -> C:
    CALLS.append("third")
    return C(c=b + 5)


TOOLS = [first, second, third]
FLOW = Flow("chain", [Step(tool="first"), Step(tool="second"), Step(tool="third")])


class Crash(BaseException):
    """Stands for the process dying right after the first journal entry was written."""


class CrashAfterFirstEntry(InMemoryCheckpointer):
    """Journals the first entry of the first append only, then dies: the journal holds
    the first step and nothing after it."""

    armed = True

    def append(self, run_id: str, entries: Sequence[Mapping[str, Any]], owner: Owner) -> None:
        if not self.armed:
            super().append(run_id, entries, owner)
            return
        self.armed = False
        super().append(run_id, list(entries)[:1], owner)
        raise Crash


@pytest.fixture(autouse=True)
def _no_calls() -> None:
    CALLS.clear()


def _executor(store: InMemoryCheckpointer | None) -> FlowExecutor:
    return FlowExecutor(TOOLS, checkpointer=store, registry=FlowRegistry([FLOW]))


def _crashed() -> InMemoryCheckpointer:
    store = CrashAfterFirstEntry()
    with _executor(store) as ex, pytest.raises(Crash):
        ex.run(FLOW, {"x": 1}, "r1")
    assert [entry["step"] for entry in store.load("r1")[1]] == ["first"]
    CALLS.clear()
    return store


def _collect(ex: FlowExecutor, lane: str, run_id: str) -> list[Event | ExecutionResult]:
    if lane == "sync":
        return list(ex.stream_resume(run_id))

    async def gather() -> list[Event | ExecutionResult]:
        return [item async for item in ex.astream_resume(run_id)]

    return asyncio.run(gather())


def _uninterrupted() -> ExecutionResult:
    with _executor(InMemoryCheckpointer()) as ex:
        result = ex.run(FLOW, {"x": 1}, "clean")
    CALLS.clear()
    return result


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_a_crashed_run_streams_only_what_it_had_not_done_then_its_result(lane: str) -> None:
    clean = _uninterrupted()
    store = _crashed()
    with _executor(store) as ex:
        items = _collect(ex, lane, "r1")
    *events, result = items
    assert isinstance(result, ExecutionResult) and result.success
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    started = [e.step_id for e in events if isinstance(e, StepStarted)]
    completed = [e.step_id for e in events if isinstance(e, StepCompleted)]
    assert started == completed == ["second", "third"]
    assert CALLS == ["second", "third"]
    assert result.output == clean.output and result.digest == clean.digest
    assert store.header("r1").status == "succeeded"


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_a_finished_run_streams_its_result_without_running_anything(lane: str) -> None:
    store = InMemoryCheckpointer()
    with _executor(store) as ex:
        done = ex.run(FLOW, {"x": 1}, "r1")
        CALLS.clear()
        items = _collect(ex, lane, "r1")
    assert CALLS == []
    result = items[-1]
    assert isinstance(result, ExecutionResult) and result.digest == done.digest
    assert not any(isinstance(e, StepStarted) for e in items)


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_misuse_raises_at_the_call_not_at_the_first_item(lane: str) -> None:
    def call(ex: FlowExecutor, run_id: Any) -> object:
        return ex.stream_resume(run_id) if lane == "sync" else ex.astream_resume(run_id)

    with _executor(InMemoryCheckpointer()) as ex:
        with pytest.raises(CheckpointNotFoundError):
            call(ex, "never-started")
        with pytest.raises(UsageError):
            call(ex, "")
        with pytest.raises(UsageError):
            call(ex, 42)
    with _executor(None) as ex, pytest.raises(UsageError, match="checkpointer"):
        call(ex, "r1")
    ex = _executor(InMemoryCheckpointer())
    ex.close()
    with pytest.raises(ExecutorClosedError):
        call(ex, "r1")
    assert CALLS == []


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_leaving_a_resumed_stream_early_leaves_it_resumable(lane: str) -> None:
    store = _crashed()
    with _executor(store) as ex:
        if lane == "sync":
            stream = ex.stream_resume("r1")
            assert isinstance(next(iter(stream)), RunStarted)
            stream.close()  # type: ignore[attr-defined]
        else:

            async def leave() -> None:
                stream = ex.astream_resume("r1")
                assert isinstance(await anext(aiter(stream)), RunStarted)
                await stream.aclose()  # type: ignore[attr-defined]

            asyncio.run(leave())
        assert store.header("r1").status == "interrupted"
        CALLS.clear()
        result = ex.resume("r1")
    assert result.success and result.output["c"] == 25
    assert CALLS == ["second", "third"]

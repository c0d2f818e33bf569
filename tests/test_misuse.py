"""Misuse is coded: every wrong argument raises a DagwrightError with a code and a hint,
at the call, in every entry point, before anything runs or is journaled."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import (
    DagwrightError,
    Flow,
    FlowExecutor,
    FlowRegistry,
    InMemoryCheckpointer,
    RunExistsError,
    Step,
    Tool,
    ToolDefinitionError,
    UsageError,
    tool,
)

pytestmark = pytest.mark.timeout(30)

CALLS: list[int] = []


class Doubled(BaseModel):
    y: int


@tool
def double(x: int) -> Doubled:
    CALLS.append(x)
    return Doubled(y=2 * x)


FLOW = Flow("doubling", [Step(tool="double")])


@pytest.fixture(autouse=True)
def _no_calls() -> None:
    CALLS.clear()


def _executor(checkpointer: InMemoryCheckpointer | None = None) -> FlowExecutor:
    return FlowExecutor([double], checkpointer=checkpointer, registry=FlowRegistry([FLOW]))


def _drain_sync(it: Any) -> None:
    for _ in it:
        pass


async def _drain_async(it: Any) -> None:
    async for _ in it:
        pass


# Each entry point, called the way a user calls it; the call itself must raise.
Start = Callable[[FlowExecutor, Any, Any], Any]
STARTS: dict[str, Start] = {
    "run": lambda ex, flow, run_id: ex.run(flow, {"x": 1}, run_id),
    "arun": lambda ex, flow, run_id: asyncio.run(ex.arun(flow, {"x": 1}, run_id)),
    "stream": lambda ex, flow, run_id: ex.stream(flow, {"x": 1}, run_id),
    "astream": lambda ex, flow, run_id: ex.astream(flow, {"x": 1}, run_id),
}


def _assert_coded(error: DagwrightError, code: str) -> None:
    assert error.code == code
    assert error.hint, "a misuse says how to fix it"
    assert str(error).startswith(f"[{code}]")


@pytest.mark.parametrize("entry", sorted(STARTS))
@pytest.mark.parametrize("flow", [123, None, {"name": "doubling"}, [Step(tool="double")]])
def test_a_flow_reference_must_be_a_flow_or_a_name(entry: str, flow: Any) -> None:
    store = InMemoryCheckpointer()
    with _executor(store) as ex, pytest.raises(UsageError) as info:
        STARTS[entry](ex, flow, "r1")
    _assert_coded(info.value, "DW-E017")
    assert isinstance(info.value, TypeError), "except TypeError keeps working"
    assert CALLS == [] and list(store.runs()) == []


def test_compile_and_resolve_refuse_a_non_flow_too() -> None:
    with _executor() as ex:
        with pytest.raises(UsageError):
            ex.compile(123)  # type: ignore[arg-type]
        with pytest.raises(UsageError):
            ex.resolve(b"doubling")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -3, True, False, 2.0, "4", None])
def test_max_concurrency_must_be_an_int_of_at_least_one(value: Any) -> None:
    with pytest.raises(UsageError) as info:
        FlowExecutor([double], max_concurrency=value)
    _assert_coded(info.value, "DW-E017")
    # Both old spellings of the mistake are still caught by what caught them before.
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("entry", sorted(STARTS))
@pytest.mark.parametrize("run_id", ["", 7, b"r1", ("r1",)])
def test_a_run_id_must_be_a_non_empty_string(entry: str, run_id: Any) -> None:
    store = InMemoryCheckpointer()
    with _executor(store) as ex, pytest.raises(UsageError) as info:
        STARTS[entry](ex, FLOW, run_id)
    _assert_coded(info.value, "DW-E017")
    assert CALLS == [] and list(store.runs()) == []


@pytest.mark.parametrize("lane", ["sync", "async"])
@pytest.mark.parametrize("run_id", ["", None, 7])
def test_resume_needs_a_run_id_string(lane: str, run_id: Any) -> None:
    with _executor(InMemoryCheckpointer()) as ex, pytest.raises(UsageError) as info:
        if lane == "sync":
            ex.resume(run_id)
        else:
            asyncio.run(ex.aresume(run_id))
    _assert_coded(info.value, "DW-E017")


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_resume_without_a_checkpointer_is_coded(lane: str) -> None:
    with _executor() as ex, pytest.raises(UsageError) as info:
        if lane == "sync":
            ex.resume("r1")
        else:
            asyncio.run(ex.aresume("r1"))
    _assert_coded(info.value, "DW-E017")
    assert "checkpointer" in info.value.message
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_resume_refuses_a_flow_argument_that_is_not_a_flow(lane: str) -> None:
    store = InMemoryCheckpointer()
    with _executor(store) as ex:
        assert ex.run(FLOW, {"x": 1}, "r1").success
        CALLS.clear()
        with pytest.raises(UsageError):
            if lane == "sync":
                ex.resume("r1", "doubling")  # type: ignore[arg-type]
            else:
                asyncio.run(ex.aresume("r1", 5))  # type: ignore[arg-type]
    assert CALLS == []


@pytest.mark.parametrize("entry", sorted(STARTS))
def test_a_reused_run_id_is_run_exists_with_a_hint_to_resume(entry: str) -> None:
    store = InMemoryCheckpointer()
    with _executor(store) as ex:
        assert ex.run(FLOW, {"x": 1}, "r1").success
        journal = store.load("r1")[1]
        CALLS.clear()
        with pytest.raises(RunExistsError) as info:
            STARTS[entry](ex, FLOW, "r1")
    _assert_coded(info.value, "DW-E013")
    assert "resume" in (info.value.hint or "")
    assert isinstance(info.value, ValueError)
    assert CALLS == [] and store.load("r1")[1] == journal


@pytest.mark.parametrize("name", ["two words", "", "9lives", "a/b", 3])
def test_a_bad_tool_name_is_a_tool_definition_error(name: Any) -> None:
    with pytest.raises(ToolDefinitionError) as info:
        Tool(name=name, fn=double.fn, input_schema=Doubled, output_schema=Doubled)
    _assert_coded(info.value, "DW-E005")
    with pytest.raises(ToolDefinitionError):

        @tool(name=name)
        def anything(x: int) -> Doubled:
            return Doubled(y=x)


@pytest.mark.parametrize("thing", ["doubling", 5, None, Step(tool="double"), double])
def test_register_refuses_what_is_not_a_flow(thing: Any) -> None:
    registry = FlowRegistry()
    with pytest.raises(UsageError) as info:
        registry.register(thing)
    _assert_coded(info.value, "DW-E017")
    assert len(registry) == 0
    with pytest.raises(UsageError):
        FlowRegistry([thing])


def test_usage_errors_survive_pickling() -> None:
    import pickle

    error = UsageError("bad", hint="fix it")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is UsageError and str(again) == str(error)

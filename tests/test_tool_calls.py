"""A tool stays callable, and plain return types make one-field output models."""

from __future__ import annotations

import asyncio
import sys
import typing
from typing import Any

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from dagwright import (
    Flow,
    FlowExecutor,
    Step,
    Tool,
    ToolDefinitionError,
    ToolInputError,
    ToolOutputError,
    tool,
)

pytestmark = pytest.mark.timeout(30)


class Sum(BaseModel):
    total: int


@tool
def add(a: int, b: int = 0) -> Sum:
    return Sum(total=a + b)


@tool
async def aadd(a: int, b: int) -> Sum:
    await asyncio.sleep(0)
    return Sum(total=a + b)


@tool
def broken(a: int) -> Sum:
    return {"total": "not a number"}  # type: ignore[return-value]


@tool
def total(xs: list[int]) -> int:
    return sum(xs)


@tool(output="words")
async def split(text: str) -> list[str]:
    return text.split()


class Span(TypedDict):
    start: int
    end: int


@tool(output="span")
def find(text: str, word: str) -> Span:
    start = text.index(word)
    return {"start": start, "end": start + len(word)}


@tool
def miscounted(xs: list[int]) -> int:
    return "many"  # type: ignore[return-value]


# ---- a tool stays callable ---------------------------------------------------------


def test_a_sync_tool_called_by_keyword_returns_its_output_model() -> None:
    out = add(a=1, b=2)
    assert type(out) is Sum and out.total == 3
    assert add(a="4").total == 4, "inputs are validated (and coerced) like a step's"


def test_a_tool_takes_one_input_model_or_a_mapping() -> None:
    assert add(add.input_schema(a=2, b=5)).total == 7
    assert add({"a": 1, "b": 1}).total == 2


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {"a": "x"}),
        ((), {}),
        ((), {"a": 1, "c": 3}),
        ((1, 2), {}),
        ((add.input_schema(a=1),), {"b": 2}),
        (("not a model",), {}),
    ],
)
def test_invalid_arguments_raise_tool_input_error(args: tuple[Any, ...], kwargs: Any) -> None:
    with pytest.raises(ToolInputError) as info:
        add(*args, **kwargs)
    assert info.value.code == "DW-E102" and info.value.hint


def test_a_return_value_that_does_not_validate_raises_tool_output_error() -> None:
    with pytest.raises(ToolOutputError) as info:
        broken(a=1)
    assert info.value.code == "DW-E103"
    with pytest.raises(ToolOutputError):
        miscounted(xs=[1])


def test_an_async_tool_returns_an_awaitable_of_its_output_model() -> None:
    pending = aadd(a=2, b=3)
    assert asyncio.iscoroutine(pending)
    out = asyncio.run(pending)
    assert type(out) is Sum and out.total == 5
    with pytest.raises(ToolInputError):
        aadd(a=1)


def test_a_tool_built_by_hand_is_callable_too() -> None:
    class In(BaseModel):
        n: int

    def triple(inp: In) -> dict[str, int]:
        return {"total": inp.n * 3}

    by_hand = Tool(name="triple", fn=triple, input_schema=In, output_schema=Sum)
    assert by_hand(n=2) == Sum(total=6)


def test_a_called_tool_still_runs_as_a_step() -> None:
    flow = Flow("adding", [Step(tool="add")])
    with FlowExecutor([add]) as ex:
        assert ex.run(flow, {"a": 1, "b": 2}).output["total"] == 3


# ---- plain return types ----------------------------------------------------------------


def test_a_plain_return_type_makes_a_one_field_output_named_after_the_function() -> None:
    assert list(total.output_schema.model_fields) == ["total"]
    assert total(xs=[1, 2, 3]).total == 6  # type: ignore[attr-defined]
    assert list(split.output_schema.model_fields) == ["words"]
    assert asyncio.run(split(text="a b")).words == ["a", "b"]
    assert find(text="hello world", word="world").span == {"start": 6, "end": 11}


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_a_run_writes_a_plain_return_value_under_its_field(lane: str) -> None:
    flow = Flow("plain", [Step(tool="split"), Step(tool="find")])
    with FlowExecutor([split, find, total]) as ex:
        inputs = {"text": "to be or not", "word": "be"}
        run = ex.run if lane == "sync" else lambda *a: asyncio.run(ex.arun(*a))
        result = run(flow, inputs)
    assert result.success, result.error
    assert result.output["words"] == ["to", "be", "or", "not"]
    assert result.output["span"] == {"start": 3, "end": 5}


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_a_plain_return_value_of_the_wrong_type_fails_the_step(lane: str) -> None:
    flow = Flow("miscount", [Step(tool="miscounted")])
    with FlowExecutor([miscounted]) as ex:
        run = ex.run if lane == "sync" else lambda *a: asyncio.run(ex.arun(*a))
        result = run(flow, {"xs": [1]})
    assert not result.success
    assert result.error is not None and result.error.code == "DW-E103"


def test_output_is_only_for_plain_return_types() -> None:
    with pytest.raises(ToolDefinitionError, match="output="):

        @tool(output="total")
        def summed(a: int) -> Sum:
            return Sum(total=a)


@pytest.mark.parametrize("name", ["_hidden", "model_dump", "model_config", "class"])
def test_an_output_name_pydantic_cannot_use_is_refused(name: str) -> None:
    with pytest.raises(ToolDefinitionError) as info:
        tool(output=name)(total.fn.__wrapped__)  # type: ignore[attr-defined]
    assert info.value.code == "DW-E005" and info.value.hint


def test_a_function_named_like_a_model_attribute_needs_output() -> None:
    def copy(x: int) -> int:
        return x

    with pytest.raises(ToolDefinitionError, match="output="):
        tool(copy)
    assert tool(output="copied")(copy)(x=2).copied == 2


@pytest.mark.parametrize("annotation", ["none", "missing"])
def test_a_tool_must_declare_what_it_returns(annotation: str) -> None:
    def nothing(x: int) -> None:
        return None

    def unannotated(x: int):  # type: ignore[no-untyped-def]
        return x

    with pytest.raises(ToolDefinitionError, match="return"):
        tool(nothing if annotation == "none" else unannotated)


# ---- parameter names pydantic cannot use ----------------------------------------------


@pytest.mark.parametrize("name", ["_secret", "model_dump", "model_validate", "json", "copy"])
def test_a_parameter_pydantic_cannot_use_is_refused_at_decoration(name: str) -> None:
    namespace: dict[str, Any] = {"Sum": Sum}
    exec(f"def f({name}: int) -> Sum:\n    return Sum(total=1)\n", namespace)
    with pytest.raises(ToolDefinitionError) as info:
        tool(namespace["f"])
    assert info.value.code == "DW-E005"
    assert repr(name) in info.value.message and info.value.hint


def test_parameters_in_pydantic_s_model_namespace_that_clash_with_nothing_are_fine() -> None:
    @tool
    def describe(model_name: str) -> str:
        return model_name.upper()

    assert describe(model_name="gpt").describe == "GPT"


def test_a_typing_typed_dict_return_works_where_pydantic_can_build_it() -> None:
    """pydantic builds ``typing.TypedDict`` from Python 3.12 on; before that the tool
    definition says to use ``typing_extensions`` instead of failing at every call."""

    class Old(typing.TypedDict):
        n: int

    def old(n: int) -> Old:
        return {"n": n}

    if sys.version_info < (3, 12):
        with pytest.raises(ToolDefinitionError, match="typing_extensions"):
            tool(old)
    else:
        assert tool(old)(n=3).old == {"n": 3}

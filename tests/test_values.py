"""Values are JSON: outputs and inputs with no exact JSON form are refused where they
enter a run, sets are sorted, and whatever a run records reads back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import Flow, FlowExecutor, Step, tool
from dagwright._execution.canonical import canonical_json
from dagwright.checkpoint import InMemoryCheckpointer, SQLiteCheckpointer
from dagwright.errors import FlowInputError
from tests.conftest import Lane


class Out(BaseModel):
    value: Any


class Numbers(BaseModel):
    value: float


class Tags(BaseModel):
    value: set[str]


class Keyed(BaseModel):
    value: dict[int, str]


class Opaque:
    pass


def _deep(depth: int) -> list[Any]:
    value: list[Any] = []
    inner = value
    for _ in range(depth - 1):
        inner.append([])
        inner = inner[0]
    return value


def _cycle() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


BAD_OUTPUTS: dict[str, Any] = {
    "nan": float("nan"),
    "inf_in_any": [1.0, float("inf")],
    "nan_nested": {"a": {"b": [float("-inf")]}},
    "surrogate": "a\ud800b",
    "surrogate_key": {"\udfff": 1},
    "int_key": {1: "x"},
    "tuple_key": {(1, 2): "x"},
    "huge_int": 10**5000,
    "huge_int_key": {10**5000: "x"},
    "opaque": Opaque(),
    "cycle": _cycle(),
    "too_deep": _deep(250),
}


def _returning(value: Any, schema: type[BaseModel] = Out) -> Any:
    @tool(name="emit")
    def emit(n: int) -> schema:  # type: ignore[valid-type]
        """Return a fixed value."""
        return {"value": value}

    return emit


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", sorted(BAD_OUTPUTS))
def test_an_output_with_no_json_form_fails_its_call(lane: Lane, name: str) -> None:
    store = InMemoryCheckpointer()
    with FlowExecutor([_returning(BAD_OUTPUTS[name])], checkpointer=store) as ex:
        result = lane(ex, Flow("bad", [Step(tool="emit")]), {"n": 1})
    assert not result.success
    assert result.error is not None and result.error.code == "DW-E103", result.error
    assert result.error.type == "ToolOutputError"
    assert len(result.digest) == 64
    _, entries = store.load(result.run_id)
    json.loads(canonical_json(entries))


@pytest.mark.parametrize(
    ("schema", "value"),
    [(Numbers, float("nan")), (Numbers, float("inf")), (Keyed, {1: "a"})],
)
def test_typed_fields_are_checked_too(lane: Lane, schema: type[BaseModel], value: Any) -> None:
    with FlowExecutor([_returning(value, schema)]) as ex:
        result = lane(ex, Flow("bad", [Step(tool="emit")]), {"n": 1})
    assert result.error is not None and result.error.code == "DW-E103", result.error


def test_good_outputs_pass_unchanged(lane: Lane) -> None:
    value = {"a": [1, 2.5, "zoë", None, True, {"b": 10**4000}], "c": _deep(150)}
    with FlowExecutor([_returning(value)]) as ex:
        result = lane(ex, Flow("good", [Step(tool="emit")]), {"n": 1})
    assert result.success, result.error
    assert result.output["value"] == value
    assert len(result.digest) == 64


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b", "a", "c"}, ["a", "b", "c"]),
        (frozenset({3, 1, 2.5}), [1, 2.5, 3]),
        ({"x", 1, (2, 3)}, ["x", 1, [2, 3]]),  # by canonical JSON text
    ],
)
def test_sets_are_sorted_lists(lane: Lane, value: Any, expected: list[Any]) -> None:
    with FlowExecutor([_returning(value)]) as ex:
        result = lane(ex, Flow("sets", [Step(tool="emit")]), {"n": 1})
    assert result.success, result.error
    assert result.output["value"] == expected


def test_typed_sets_are_sorted(lane: Lane) -> None:
    with FlowExecutor([_returning({"q", "b", "m", "a"}, Tags)]) as ex:
        result = lane(ex, Flow("sets", [Step(tool="emit")]), {"n": 1})
    assert result.success, result.error
    assert result.output["value"] == ["a", "b", "m", "q"]


_SEEDED = """
import sys
sys.path.insert(0, sys.argv[1])
from typing import Any
from pydantic import BaseModel
from dagwright import Flow, FlowExecutor, Step, tool
class Out(BaseModel):
    value: Any
    tags: set[str]
@tool
def emit(n: int) -> Out:
    '''Sets of strings.'''
    words = {f"word{i}" for i in range(40)}
    return Out(value=words, tags=words)
with FlowExecutor([emit]) as ex:
    print(ex.run(Flow("s", [Step(tool="emit")]), {"n": 1}).digest)
"""


@pytest.mark.timeout(60)
def test_set_order_does_not_depend_on_the_hash_seed() -> None:
    root = str(Path(__file__).resolve().parent.parent)
    digests = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", _SEEDED, root],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1


BAD_INPUTS: dict[str, Any] = {
    "nan": float("nan"),
    "inf_in_list": [float("inf")],
    "surrogate": "\ud800",
    "int_key": {1: "x"},
    "huge_int": 10**5000,
    "huge_int_key": {10**5000: "x"},
    "negative_huge_int": [-(10**4300)],
    "opaque": Opaque(),
    "cycle": _cycle(),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_run_inputs_with_no_json_form_are_refused(lane: Lane, name: str) -> None:
    @tool
    def take(value: Any) -> Out:
        """Echo."""
        return Out(value=value)

    with FlowExecutor([take]) as ex, pytest.raises(FlowInputError, match="JSON"):
        lane(ex, Flow("in", [Step(tool="take")]), {"value": BAD_INPUTS[name]})


def test_a_non_string_top_level_input_key_is_refused(lane: Lane) -> None:
    @tool
    def take(value: Any) -> Out:
        """Echo."""
        return Out(value=value)

    with FlowExecutor([take]) as ex, pytest.raises(FlowInputError, match="not a string"):
        lane(ex, Flow("in", [Step(tool="take")]), {"value": 1, 2: 3})


def test_input_schema_values_are_checked(lane: Lane) -> None:
    class In(BaseModel):
        value: float

    @tool
    def take(value: float) -> Numbers:
        """Echo."""
        return Numbers(value=value)

    flow = Flow("in", [Step(tool="take")], input_schema=In)
    with FlowExecutor([take]) as ex, pytest.raises(FlowInputError, match="JSON"):
        lane(ex, flow, {"value": float("nan")})


def test_a_journaled_run_reads_back(lane: Lane, tmp_path: Path) -> None:
    value = {"big": 10**4000, "text": "zoë", "set": {"b", "a"}}
    flow = Flow("j", [Step(tool="emit")])
    with (
        SQLiteCheckpointer(tmp_path / "runs.db") as store,
        FlowExecutor([_returning(value)], checkpointer=store) as ex,
    ):
        result = lane(ex, flow, {"n": 1}, run_id="r1")
        assert result.success, result.error
        again = ex.resume("r1", flow)
    assert again.output == result.output
    assert again.output["value"]["set"] == ["a", "b"]
    assert again.digest == result.digest

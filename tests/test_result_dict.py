"""``ExecutionResult.to_dict()`` / ``from_dict``: the result's stable JSON form."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import BaseModel

from dagwright import (
    DAGFlow,
    ExecutionResult,
    Flow,
    FlowExecutor,
    FlowRegistry,
    MapStep,
    Step,
    tool,
)
from tests.conftest import Lane, double, increment, square
from tests.test_determinism import ITEMS, amix, mix, random_dags


class Echo(BaseModel):
    value: int


@tool
def picky(x: int) -> Echo:
    """Fails on multiples of three."""
    if x % 3 == 0:
        raise ValueError(f"no {x}")
    return Echo(value=x)


@tool
def boom(result: int) -> Echo:
    """Always fails."""
    raise RuntimeError(f"boom at {result}")


KEYS = ["run_id", "flow", "version", "success", "status", "digest", "output", "error", "steps"]


def _results(lane: Lane) -> dict[str, ExecutionResult]:
    registry = FlowRegistry()
    registry.register(Flow("inner", [Step(tool="double"), Step(tool="increment")]))
    mapped = MapStep(
        id="all",
        over="xs",
        tool="picky",
        item="x",
        results="out",
        errors="errs",
        error_policy="collect",
    )
    gated = DAGFlow(
        "gated",
        [
            Step(id="d", tool="double"),
            Step(id="gate", tool="square", when="n > 100", outputs={"big": "result"}),
        ],
    )
    runs: list[tuple[str, Flow | DAGFlow, dict[str, Any]]] = [
        ("success", Flow("chain", [Step(tool="double"), Step(tool="increment")]), {"n": 2}),
        ("failure", Flow("bad", [Step(tool="double"), Step(tool="boom")]), {"n": 1}),
        ("map", Flow("m", [mapped]), {"xs": [1, 2, 3, 4]}),
        ("subflow", Flow("outer", [Step(id="sub", flow="inner")]), {"n": 3}),
        ("skipped", gated, {"n": 1}),
    ]
    tools = [double, increment, square, picky, boom]
    with FlowExecutor(tools, registry=registry, max_concurrency=2) as ex:
        return {shape: lane(ex, flow, inputs) for shape, flow, inputs in runs}


def test_every_result_shape_dumps_to_json_in_the_stable_shape(lane: Lane) -> None:
    results = _results(lane)
    for shape, result in results.items():
        data = result.to_dict()
        assert list(data) == KEYS, shape
        text = json.dumps(data)  # no default=: plain JSON data as it is
        back = json.loads(text)
        assert back == data, shape
        assert data["digest"] == result.digest
        assert data["status"] == ("succeeded" if result.success else "failed")
        assert data["steps"] == [record.to_dict() for record in result.steps]
    failure = results["failure"].to_dict()
    assert failure["success"] is False
    assert failure["error"]["type"] == "RuntimeError"
    assert "boom at 2" in failure["error"]["traceback"]
    assert failure["steps"][1]["error"]["traceback"] == failure["error"]["traceback"]
    mapped = results["map"].to_dict()
    assert mapped["output"]["out"] == [{"value": 1}, {"value": 2}, {"value": 4}]
    assert [child["index"] for child in mapped["steps"][0]["children"]] == [0, 1, 2, 3]
    sub = results["subflow"].to_dict()
    assert [child["step_id"] for child in sub["steps"][0]["children"]] == ["double", "increment"]
    skipped = results["skipped"].to_dict()
    assert [step["status"] for step in skipped["steps"]] == ["completed", "skipped"]


def test_from_dict_reads_back_what_to_dict_wrote(lane: Lane) -> None:
    for shape, result in _results(lane).items():
        data: Any = json.loads(json.dumps(result.to_dict()))
        back = ExecutionResult.from_dict(data)
        assert back.to_dict() == result.to_dict(), shape
        assert back.digest == result.digest, shape
        assert back.steps == result.steps, shape
        assert back.error == result.error, shape


def test_from_dict_ignores_the_derived_fields() -> None:
    with FlowExecutor([double]) as ex:
        result = ex.run(Flow("one", [Step(tool="double")]), {"n": 4})
    data = {**result.to_dict(), "digest": "not this", "status": "whatever"}
    back = ExecutionResult.from_dict(data)
    assert back.digest == result.digest
    assert back.to_dict()["status"] == "succeeded"
    with pytest.raises(KeyError):
        ExecutionResult.from_dict({k: v for k, v in data.items() if k != "steps"})


RANDOM = FlowExecutor([mix, amix], max_concurrency=4)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(flow=random_dags())
def test_the_json_form_of_any_result_reads_back_to_the_same_result(flow: DAGFlow) -> None:
    result = RANDOM.run(flow, ITEMS)
    data = result.to_dict()
    text = json.dumps(data, sort_keys=True)
    back = ExecutionResult.from_dict(json.loads(text))
    assert json.dumps(back.to_dict(), sort_keys=True) == text
    assert back.digest == result.digest
    assert back.output == result.output

"""Retry and timeout settings: refused with a code at definition when they cannot work,
and retry delays that cannot overflow however steep the backoff."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import (
    DAGFlow,
    Flow,
    FlowDefinitionError,
    FlowExecutor,
    MapStep,
    RetryPolicy,
    Step,
    ToolDefinitionError,
    tool,
)

pytestmark = pytest.mark.timeout(30)

INF, NAN = float("inf"), float("nan")


class Out(BaseModel):
    y: int


@tool
def always_fails(x: int) -> Out:
    raise RuntimeError(f"no {x}")


STEEP = RetryPolicy(max_attempts=5, backoff_s=1e-9, multiplier=1e308, max_backoff_s=0.001)


def test_steep_backoff_delays_are_clamped_without_overflow() -> None:
    delays = [STEEP.delay_before(k) for k in range(8)]
    assert delays == [0.0, 1e-9, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001]
    huge = RetryPolicy(max_attempts=3, backoff_s=1.0, multiplier=10.0, max_backoff_s=2.5)
    assert huge.delay_before(10**6) == 2.5


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_a_run_with_steep_backoff_retries_then_fails_cleanly(lane: str) -> None:
    flow = Flow("steep", [Step(tool="always_fails", retry=STEEP)])
    with FlowExecutor([always_fails]) as ex:
        run = ex.run if lane == "sync" else lambda *a: asyncio.run(ex.arun(*a))
        result = run(flow, {"x": 1})
    assert not result.success
    assert result.error is not None and result.error.type == "RuntimeError"
    assert len(result.steps[0].attempts) == 5


@pytest.mark.parametrize(
    "settings",
    [
        {"max_attempts": 0},
        {"max_attempts": -2},
        {"backoff_s": -0.1},
        {"backoff_s": INF},
        {"backoff_s": NAN},
        {"multiplier": 0.5},
        {"multiplier": INF},
        {"multiplier": NAN},
        {"max_backoff_s": -1},
        {"max_backoff_s": INF},
        {"max_backoff_s": NAN},
        {"max_backoff_s": 1e10},
    ],
)
def test_invalid_retry_settings_are_a_coded_definition_error(settings: dict[str, Any]) -> None:
    with pytest.raises(FlowDefinitionError) as info:
        RetryPolicy(**settings)
    assert info.value.code == "DW-E006" and info.value.hint
    (name,) = settings
    assert name in info.value.message
    # The file form of a step reports the same error.
    with pytest.raises(FlowDefinitionError):
        Step.model_validate({"tool": "always_fails", "retry": settings})


def test_valid_retry_settings_are_kept() -> None:
    policy = RetryPolicy(max_attempts=1, backoff_s=0, multiplier=1, max_backoff_s=0)
    assert RetryPolicy(backoff_s=1e300, max_backoff_s=1e9).delay_before(3) == 1e9
    assert (policy.max_attempts, policy.multiplier) == (1, 1.0)
    assert math.isfinite(STEEP.multiplier)


@pytest.mark.parametrize("value", [INF, -INF, NAN, -1.0, 0])
def test_a_step_timeout_must_be_finite_and_positive(value: float) -> None:
    with pytest.raises(FlowDefinitionError) as info:
        Step(tool="always_fails", timeout_s=value)
    assert info.value.code == "DW-E006" and "timeout_s" in info.value.message
    with pytest.raises(FlowDefinitionError):
        MapStep(id="m", tool="always_fails", over="xs", item="x", results="r", timeout_s=value)
    with pytest.raises(FlowDefinitionError):
        DAGFlow.model_validate(
            {"name": "f", "steps": [{"id": "a", "tool": "always_fails", "timeout_s": value}]}
        )


def test_a_finite_step_timeout_still_compiles() -> None:
    flow = Flow("timed", [Step(tool="always_fails", timeout_s=1e9)])
    with FlowExecutor([always_fails]) as ex:
        ex.compile(flow)


@pytest.mark.parametrize("value", [INF, NAN, -1.0, 0])
def test_a_tool_timeout_must_be_finite_and_positive(value: float) -> None:
    with pytest.raises(ToolDefinitionError) as info:

        @tool(timeout_s=value)
        def slow(x: int) -> Out:
            return Out(y=x)

    assert info.value.code == "DW-E005" and "timeout_s" in info.value.message

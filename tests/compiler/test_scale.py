"""Compiling is near-linear and plans are linear in the flow (sizes, not wall time)."""

from __future__ import annotations

import pytest

from dagwright import FlowExecutor
from dagwright.compiler import CompiledFlow, compile_flow
from dagwright.errors import FlowCompileError
from dagwright.flows import DAGFlow, Flow, Step
from tests.compiler._fixtures import TOOLS, codes, compiled, double, findings, inc


def _producers(result: CompiledFlow) -> int:
    total = 0
    for step in result.plan.steps:
        total += sum(len(b.source.producers) for b in step.bindings)
        total += sum(len(s.producers) for _, s in step.when_sources)
    return total


def _chain(n: int) -> Flow:
    # `double` reads n and writes result, `inc` reads result and writes n: every step
    # rewrites a key its ancestors wrote.
    return Flow(f"chain{n}", [Step(tool="double"), Step(tool="inc")] * (n // 2))


@pytest.mark.timeout(60)
def test_plan_size_is_linear_in_the_flow() -> None:
    small, large = compiled(_chain(1000)), compiled(_chain(2000))
    assert _producers(small) == 999
    assert _producers(large) <= 2 * _producers(small) + 2


@pytest.mark.timeout(30)
def test_a_skipped_writer_leaves_the_previous_value_visible() -> None:
    flow = Flow(
        "f",
        [
            Step(tool="double"),
            Step(tool="double", inputs={"n": "result"}, when="result > 100"),
            Step(tool="inc"),
        ],
        on_context_collision="overwrite",
    )
    with FlowExecutor([double, inc]) as ex:
        result = ex.run(flow, {"n": 3})
    assert result.success
    assert [s.status for s in result.steps] == ["completed", "skipped", "completed"]
    assert result.output["n"] == 7  # inc read the first double's 6


@pytest.mark.timeout(60)
def test_many_unordered_writers_are_reported_briefly() -> None:
    flow = DAGFlow("wide", [Step(id=f"s{i}", tool="double") for i in range(2000)])
    found = findings(flow)
    assert "DW302" in codes(found)
    last = [d for d in found if d.code == "DW302"][-1]
    assert "and 1994 more" in last.message
    assert len(last.message) < 300
    with pytest.raises(FlowCompileError):
        compile_flow(flow, TOOLS)

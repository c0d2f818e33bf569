"""Compile-time scale benchmarks (pytest-benchmark): ``make bench``.

DESIGN.md section 4 ("Scale"): compiling is near-linear. Two workloads of 10,000 steps,
each compiled cold (compile cache emptied, fresh flow object), target about a second:

* ``linear10000``: a linear ``Flow`` of 10,000 ``inc`` steps, each rewriting ``n`` (one
  DW301 warning per step after the first); its plan lists one producer per binding.
* ``collide10000``: a ``DAGFlow`` of 10,000 unordered ``inc`` steps that all write ``n``:
  compiling fails with the DW302 collisions (and a DW201 per reader).
"""

from __future__ import annotations

from typing import Any

import _workloads as w
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from dagwright import CompiledFlow, DAGFlow, Flow, Step
from dagwright.errors import FlowCompileError

STEPS = 10_000


def long_flow(steps: int = STEPS) -> Flow:
    """A linear flow of ``steps`` ``inc`` steps, each rewriting ``n``."""
    return Flow("long", [Step(tool="inc")] * steps)


def colliding_flow(steps: int = STEPS) -> DAGFlow:
    """``steps`` unordered ``inc`` steps that all write ``n``."""
    return DAGFlow("collide", [Step(id=f"s{i}", tool="inc") for i in range(steps)])


def _fails(flow: Flow) -> FlowCompileError:
    try:
        w.compile_cold(flow)
    except FlowCompileError as exc:
        return exc
    raise AssertionError("the colliding flow compiled")


@pytest.mark.benchmark(group="compile-scale")
def test_compile_linear10000_cold(benchmark: BenchmarkFixture) -> None:
    """10,000 linear steps rewriting one key (target about 1 s)."""

    def fresh() -> tuple[tuple[Flow], dict[str, Any]]:
        return (long_flow(),), {}

    compiled: CompiledFlow = benchmark.pedantic(  # type: ignore[no-untyped-call]
        w.compile_cold, setup=fresh, rounds=3, warmup_rounds=0
    )
    producers = sum(len(b.source.producers) for s in compiled.plan.steps for b in s.bindings)
    assert producers == STEPS - 1


@pytest.mark.benchmark(group="compile-scale")
def test_compile_collide10000_cold(benchmark: BenchmarkFixture) -> None:
    """10,000 unordered writers of one key: the collision errors (target about 1 s)."""

    def fresh() -> tuple[tuple[Flow], dict[str, Any]]:
        return (colliding_flow(),), {}

    error: FlowCompileError = benchmark.pedantic(  # type: ignore[no-untyped-call]
        _fails, setup=fresh, rounds=3, warmup_rounds=0
    )
    assert sum(d.code == "DW302" for d in error.diagnostics) == STEPS - 1

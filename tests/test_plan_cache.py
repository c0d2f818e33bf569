"""The executor keeps a bounded, least-recently-used cache of compiled plans."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import Flow, FlowExecutor, Step, UsageError, tool

pytestmark = pytest.mark.timeout(60)


class Doubled(BaseModel):
    y: int


@tool
def double(x: int) -> Doubled:
    """Doubles x."""
    return Doubled(y=2 * x)


@tool
def undocumented(x: int) -> Doubled:
    return Doubled(y=x)


def _flows(count: int) -> list[Flow]:
    return [Flow(f"f{i}", [Step(tool="double")], description="Doubles x.") for i in range(count)]


def test_the_default_cache_keeps_the_256_most_recently_used_plans() -> None:
    flows = _flows(300)
    with FlowExecutor([double]) as ex:
        plans = [ex.compile(flow) for flow in flows]
        assert len(ex._compiled) == 256
        generation = ex.registry.generation
        assert all(ex._compiled.get((f.definition_digest, generation)) is None for f in flows[:44])
        # The newest 256 are hits: the very objects compiled before.
        newest = zip(flows[44:], plans[44:], strict=True)
        assert all(ex.compile(flow) is plan for flow, plan in newest)
        assert len(ex._compiled) == 256


def test_a_hit_makes_a_plan_the_most_recently_used() -> None:
    flows = _flows(4)
    with FlowExecutor([double], plan_cache_size=3) as ex:
        first = ex.compile(flows[0])
        ex.compile(flows[1])
        ex.compile(flows[2])
        assert ex.compile(flows[0]) is first
        ex.compile(flows[3])  # evicts flows[1], the least recently used
        assert len(ex._compiled) == 3
        key = (flows[1].definition_digest, ex.registry.generation)
        assert ex._compiled.get(key) is None
        assert ex.compile(flows[0]) is first
        assert ex.run(flows[1], {"x": 2}).output["y"] == 4, "an evicted plan compiles again"


def test_warnings_are_logged_once_per_compilation(caplog: pytest.LogCaptureFixture) -> None:
    noisy = Flow("noisy", [Step(tool="undocumented")], description="Warns: DW403.")
    other = Flow("other", [Step(tool="double")], description="Doubles x.")
    with FlowExecutor([double, undocumented], plan_cache_size=1) as ex:
        with caplog.at_level(logging.WARNING, logger="dagwright"):
            ex.compile(noisy)
            ex.compile(noisy)
        assert _warning_logs(caplog) == 1, "a hit logs nothing"
        ex.compile(other)
        with caplog.at_level(logging.WARNING, logger="dagwright"):
            ex.compile(noisy)
        assert _warning_logs(caplog) == 2, "compiled again after eviction, logged again"


def _warning_logs(caplog: pytest.LogCaptureFixture) -> int:
    return sum("flow_warnings" in r.getMessage() for r in caplog.records)


def test_threads_compiling_one_flow_share_one_plan_and_one_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    noisy = Flow("noisy", [Step(tool="undocumented")], description="Warns: DW403.")
    threads = 8
    start = threading.Barrier(threads)

    def compile_after_all_started(ex: FlowExecutor) -> object:
        start.wait(timeout=10)
        return ex.compile(noisy)

    with (
        FlowExecutor([undocumented]) as ex,
        ThreadPoolExecutor(threads) as pool,
        caplog.at_level(logging.WARNING, logger="dagwright"),
    ):
        plans = list(pool.map(compile_after_all_started, [ex] * threads))
    assert all(plan is plans[0] for plan in plans)
    assert _warning_logs(caplog) == 1


@pytest.mark.parametrize("value", [0, -1, True, 2.5, "256", None])
def test_plan_cache_size_must_be_an_int_of_at_least_one(value: Any) -> None:
    with pytest.raises(UsageError) as info:
        FlowExecutor([double], plan_cache_size=value)
    assert info.value.code == "DW-E017"
    assert "plan_cache_size" in str(info.value)
    assert info.value.hint

"""Determinism: the same flow gives byte-identical results in any lane, at any concurrency.

Random DAGs of up to 30 steps (map steps among them) whose tools, sync and async, sleep
a random 0-2 ms, so
completion order varies from run to run; outputs, untimed records and digests must not.
Every run is compared with the sequential one (sync lane, max_concurrency=1).
"""

from __future__ import annotations

import asyncio
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from dagwright import DAGFlow, FlowExecutor, Literal, MapStep, Step, tool


class Value(BaseModel):
    value: int


@tool
def mix(a: int = 0, b: int = 0, c: int = 0, salt: int = 0, delay_ms: float = 0.0) -> Value:
    """A deterministic function of its inputs that takes a while."""
    if delay_ms:
        time.sleep(delay_ms / 1000)
    return Value(value=(a * 31 + b * 17 + c * 7 + salt) % 1_000_003)


@tool
async def amix(a: int = 0, b: int = 0, c: int = 0, salt: int = 0, delay_ms: float = 0.0) -> Value:
    """The same function, as an async tool."""
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)
    return Value(value=(a * 31 + b * 17 + c * 7 + salt) % 1_000_003)


@st.composite
def random_dags(draw: st.DrawFn) -> DAGFlow:
    size = draw(st.integers(min_value=1, max_value=30))
    steps: list[Step | MapStep] = []
    maps: set[int] = set()  # map steps write lists: ordering-only dependencies
    for i in range(size):
        deps = sorted(draw(st.sets(st.integers(0, i - 1), max_size=4))) if i else []
        reads = [d for d in deps if d not in maps][:3]
        if draw(st.integers(0, 4)) == 0:
            maps.add(i)
            steps.append(
                MapStep(
                    id=f"s{i}",
                    over="xs",
                    tool=draw(st.sampled_from(["mix", "amix"])),
                    item="salt",
                    inputs={"a": f"k{reads[0]}"} if reads else {},
                    results=f"k{i}",
                    errors=f"e{i}",
                    max_concurrency=draw(st.integers(1, 4)),
                    error_policy=draw(st.sampled_from(["fail_fast", "collect"])),
                    depends_on=tuple(f"s{d}" for d in deps),
                )
            )
            continue
        inputs: dict[str, str | Literal] = {
            field: f"k{dep}" for field, dep in zip("abc", reads, strict=False)
        }
        inputs["salt"] = Literal(i)
        inputs["delay_ms"] = Literal(draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])))
        when = None
        gated = draw(st.integers(0, 3)) == 0
        if reads and gated:
            threshold = draw(st.integers(0, 1_000_003))
            when = f"k{reads[0]} is not None and k{reads[0]} > {threshold}"
        steps.append(
            Step(
                id=f"s{i}",
                tool=draw(st.sampled_from(["mix", "amix"])),
                inputs=inputs,
                outputs={f"k{i}": "value"},
                depends_on=tuple(f"s{d}" for d in deps),
                when=when,
            )
        )
    return DAGFlow("random", steps)


ITEMS = {"xs": [3, 1, 4, 1, 5, 9, 2, 6]}


EXECUTORS = {k: FlowExecutor([mix, amix], max_concurrency=k) for k in (1, 2, 8)}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(flow=random_dags())
def test_results_identical_across_lanes_and_concurrency(flow: DAGFlow) -> None:
    results = [ex.run(flow, ITEMS) for ex in EXECUTORS.values()]
    results += [asyncio.run(ex.arun(flow, ITEMS)) for ex in EXECUTORS.values()]
    baseline = results[0]
    assert baseline.success, baseline.error
    for other in results[1:]:
        assert other.output == baseline.output
        assert [s.to_dict(times=False) for s in other.steps] == [
            s.to_dict(times=False) for s in baseline.steps
        ]
        assert other.digest == baseline.digest

"""The at-most-once property over random DAGs: wherever a session ends, no call of a
non-idempotent tool is made twice, and what the resume completes matches a run that was
never stopped.

Random DAGs of up to 20 steps (map steps among them) mix idempotent and non-idempotent,
sync and async tools, run at random concurrency in either lane. The first session ends
inside a random non-idempotent call, after its side effect (the tool raises
``KeyboardInterrupt``, which stops the run with calls in flight); a fresh executor
resumes it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from dagwright import DAGFlow, ExecutionResult, FlowExecutor, Literal, MapStep, Step, tool
from dagwright import current_call as call_context
from dagwright.checkpoint import InMemoryCheckpointer

_LOCK = threading.Lock()
CALLS: Counter[str] = Counter()
"""Idempotency key -> calls of non-idempotent tools, over every session."""


class Value(BaseModel):
    value: int


def _value(a: int, b: int, salt: int) -> Value:
    return Value(value=(a * 31 + b * 17 + salt) % 1_000_003)


STOP = {"at": 0, "calls": 0}
"""The ``at``-th non-idempotent call (``0``: none) ends its session, after its effect."""


def _count() -> None:
    context = call_context()
    assert context is not None
    with _LOCK:
        CALLS[context.idempotency_key] += 1
        STOP["calls"] += 1
        stop = STOP["calls"] == STOP["at"]
    if stop:
        raise KeyboardInterrupt  # the session ends inside the call, after its side effect


@tool
def mix(a: int = 0, b: int = 0, salt: int = 0) -> Value:
    """Idempotent."""
    return _value(a, b, salt)


@tool(idempotent=False)
def send(a: int = 0, b: int = 0, salt: int = 0) -> Value:
    """Non-idempotent, sync."""
    _count()
    return _value(a, b, salt)


@tool(idempotent=False)
async def asend(a: int = 0, b: int = 0, salt: int = 0) -> Value:
    """Non-idempotent, async."""
    await asyncio.sleep(0)
    _count()
    return _value(a, b, salt)


TOOLS = [mix, send, asend]
NAMES = ["mix", "send", "asend"]


@st.composite
def random_dags(draw: st.DrawFn) -> DAGFlow:
    size = draw(st.integers(min_value=1, max_value=20))
    steps: list[Step | MapStep] = []
    maps: set[int] = set()
    for i in range(size):
        deps = sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else []
        reads = [d for d in deps if d not in maps][:2]
        after = tuple(f"s{d}" for d in deps)
        name = draw(st.sampled_from(NAMES[1:] if i == 0 else NAMES))  # one call to stop at
        if draw(st.integers(0, 4)) == 0:
            maps.add(i)
            steps.append(
                MapStep(
                    id=f"s{i}", over="xs", tool=name, item="salt",
                    inputs={"a": f"k{reads[0]}"} if reads else {}, results=f"k{i}",
                    errors=f"e{i}", max_concurrency=draw(st.integers(1, 3)),
                    error_policy=draw(st.sampled_from(["fail_fast", "collect"])),
                    depends_on=after,
                )
            )  # fmt: skip
            continue
        inputs: dict[str, str | Literal] = {f: f"k{d}" for f, d in zip("ab", reads, strict=False)}
        inputs["salt"] = Literal(i)
        steps.append(
            Step(
                id=f"s{i}", tool=name, inputs=inputs, outputs={f"k{i}": "value"},
                depends_on=after, on_error=draw(st.sampled_from(["fail", "skip"])),
            )
        )  # fmt: skip
    return DAGFlow("random", steps)


def run(store: InMemoryCheckpointer, flow: DAGFlow, lane: str, limit: int, resume: bool) -> Any:
    with FlowExecutor(TOOLS, checkpointer=store, max_concurrency=limit) as ex:
        if lane == "sync":
            return ex.resume("r", flow) if resume else ex.run(flow, {"xs": [1, 2, 3]}, run_id="r")
        if resume:
            return asyncio.run(ex.aresume("r", flow))
        return asyncio.run(ex.arun(flow, {"xs": [1, 2, 3]}, run_id="r"))


def completed(result: ExecutionResult) -> dict[str, Any]:
    return {r.step_id: r.outputs for r in result.steps if r.status == "completed"}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    flow=random_dags(),
    lane=st.sampled_from(["sync", "async"]),
    limit=st.integers(1, 4),
    where=st.floats(0.0, 1.0),
)
def test_no_non_idempotent_call_is_made_twice(
    flow: DAGFlow, lane: str, limit: int, where: float
) -> None:
    CALLS.clear()
    STOP.update(at=0, calls=0)
    reference = run(InMemoryCheckpointer(), flow, "sync", 1, resume=False)
    made = STOP["calls"]
    assert made > 0  # the first step is non-idempotent
    CALLS.clear()
    STOP.update(at=1 + int(where * (made - 1)), calls=0)
    store = InMemoryCheckpointer()
    try:
        run(store, flow, lane, limit, resume=False)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the first session did not stop")
    STOP.update(at=0)
    resumed = run(store, flow, lane, limit, resume=True)
    assert max(CALLS.values(), default=0) <= 1, CALLS
    # Steps touched by a call in doubt, and every step after them, may differ from the
    # uninterrupted run; nothing else may.
    tainted = {
        r.step_id for r in resumed.steps if "StepInterruptedError" in json.dumps(r.to_dict())
    }
    for step in flow.steps:
        if tainted.intersection(step.depends_on):
            tainted.add(str(step.id))
    done, expected = completed(resumed), completed(reference)
    for step_id, outputs in done.items():
        if step_id not in tainted:
            assert outputs == expected[step_id], step_id
    if resumed.success:
        assert {s for s in expected if s not in tainted} <= set(done)
    else:  # nothing fails in these flows but a call in doubt
        assert resumed.error is not None
        assert resumed.error.code == "DW-E111", resumed.error

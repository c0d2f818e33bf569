"""Faults never hang a run, and both lanes record them alike.

Every cell of {sync lane, async lane} x {sync tool, async tool} x {inline, pooled} x
{Exception, KeyboardInterrupt, SystemExit, CancelledError raised by the tool, hang past
its timeout} must return or raise within a bounded time (the per-test timeout, never a
timing assertion), and record the same thing in both lanes: the same untimed records and
digest for a failure, the same journal and ``interrupted`` status for a fatal exception.

"Pooled" runs the faulty call beside a partner call at ``max_concurrency=2``, so it goes
through the worker pool or a task; the faulty tool waits until the partner's completion
has been journaled (a hook sees it), so what is recorded never depends on timing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import (
    DAGFlow,
    ExecutionResult,
    Flow,
    FlowExecutor,
    InMemoryCheckpointer,
    Literal,
    Step,
    tool,
)
from dagwright.events import Event, StepCompleted

FAULTS = ["exception", "keyboard_interrupt", "system_exit", "cancelled", "hang"]
FATAL = {"keyboard_interrupt": KeyboardInterrupt, "system_exit": SystemExit}
TIMEOUT_S = 0.2

CALLED = threading.Event()  # the faulty tool was entered
RECORDED = threading.Event()  # the partner's completion was journaled
RELEASE = threading.Event()  # lets hanging sync tools return at the end of a test


class Out(BaseModel):
    value: int


class Partner(BaseModel):
    partner: int


def _fault(kind: str) -> None:
    if kind == "exception":
        raise ValueError("boom")
    if kind == "keyboard_interrupt":
        raise KeyboardInterrupt
    if kind == "system_exit":
        raise SystemExit(3)
    if kind == "cancelled":
        raise asyncio.CancelledError


@tool
def faulty(x: int, kind: str, pooled: bool) -> Out:
    """A sync tool that fails the way it is told to."""
    CALLED.set()
    if pooled:
        RECORDED.wait(10)
    if kind == "hang":
        RELEASE.wait(60)
        return Out(value=x)
    _fault(kind)
    return Out(value=x)


@tool
async def afaulty(x: int, kind: str, pooled: bool) -> Out:
    """An async tool that fails the way it is told to."""
    CALLED.set()
    deadline = time.monotonic() + 10
    while pooled and not RECORDED.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    if kind == "hang":
        await asyncio.sleep(60)
        return Out(value=x)
    _fault(kind)
    return Out(value=x)


@tool
def partner(x: int) -> Partner:
    """Runs beside the faulty call: returns once the faulty tool was entered."""
    CALLED.wait(10)
    return Partner(partner=x + 1)


def _note_partner(event: Event) -> None:
    if isinstance(event, StepCompleted) and event.step_id == "partner":
        RECORDED.set()


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    CALLED.clear()
    RECORDED.clear()
    RELEASE.clear()
    yield
    RELEASE.set()  # abandoned threads may return now; their results are discarded


def _flow(tool_kind: str, mode: str, fault: str) -> Flow:
    name = "faulty" if tool_kind == "sync" else "afaulty"
    timeout = TIMEOUT_S if fault == "hang" else None
    pooled = mode == "pooled"
    step = Step(
        id="faulty",
        tool=name,
        inputs={"kind": Literal(fault), "pooled": Literal(pooled)},
        timeout_s=timeout,
    )
    if not pooled:
        return Flow("cell", [step])
    return DAGFlow("cell", [Step(id="partner", tool="partner"), step])


def _run(lane: str, flow: Flow, mode: str) -> tuple[Any, InMemoryCheckpointer, str]:
    """Run one cell; return the result (or the exception raised), the store, the run id."""
    store = InMemoryCheckpointer()
    run_id = f"{lane}-run"
    concurrency = 2 if mode == "pooled" else 1
    ex = FlowExecutor(
        [faulty, afaulty, partner],
        max_concurrency=concurrency,
        checkpointer=store,
        hooks=[_note_partner],
    )
    CALLED.clear()
    RECORDED.clear()
    outcome: Any
    try:
        if lane == "sync":
            outcome = ex.run(flow, {"x": 1}, run_id=run_id)
        else:
            outcome = asyncio.run(ex.arun(flow, {"x": 1}, run_id=run_id))
    except (KeyboardInterrupt, SystemExit) as exc:
        outcome = exc
    finally:
        ex.close()  # must return at once, abandoned calls or not
    return outcome, store, run_id


def _journal(store: InMemoryCheckpointer, run_id: str) -> list[dict[str, Any]]:
    _, entries = store.load(run_id)
    out = []
    for entry in entries:
        record = dict(entry["record"])
        record.pop("started_at", None)
        record.pop("ended_at", None)
        record["attempts"] = [
            {k: v for k, v in a.items() if k not in ("started_at", "ended_at")}
            for a in record["attempts"]
        ]
        out.append({**entry, "record": record})
    return out


def _untimed(result: ExecutionResult) -> list[dict[str, Any]]:
    return [record.to_dict(times=False) for record in result.steps]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("mode", ["inline", "pooled"])
@pytest.mark.parametrize("tool_kind", ["sync", "async"])
def test_fault_cell_is_bounded_and_recorded_alike(tool_kind: str, mode: str, fault: str) -> None:
    flow = _flow(tool_kind, mode, fault)
    seen: dict[str, tuple[Any, InMemoryCheckpointer, str]] = {
        lane: _run(lane, flow, mode) for lane in ("sync", "async")
    }
    for lane, (outcome, store, run_id) in seen.items():
        header = store.header(run_id)
        assert store.lease(run_id) is None, f"{lane}: the lease was not released"
        journal = _journal(store, run_id)
        assert all(entry["step"] != "faulty" for entry in journal if fault in FATAL)
        if fault in FATAL:
            assert isinstance(outcome, FATAL[fault]), (lane, outcome)
            assert header.status == "interrupted"
            continue
        assert isinstance(outcome, ExecutionResult), (lane, outcome)
        assert header.status == "failed"
        assert not outcome.success
        error = outcome.step("faulty").error
        assert error is not None
        expected = {
            "exception": ("DW-E101", "ValueError", "boom"),
            "cancelled": ("DW-E101", "CancelledError", None),
            "hang": (
                "DW-E104",
                "StepTimeoutError",
                f"tool {flow.steps[-1].tool!r} did not finish within timeout_s={TIMEOUT_S}",
            ),
        }[fault]
        assert (error.code, error.type) == expected[:2], (lane, error)
        if expected[2] is not None:
            assert error.message == expected[2]
        if mode == "pooled":
            assert outcome.step("partner").status == "completed"
    (sync_outcome, sync_store, sync_id), (async_outcome, async_store, async_id) = (
        seen["sync"],
        seen["async"],
    )
    sync_journal = _journal(sync_store, sync_id)
    async_journal = _journal(async_store, async_id)
    assert sync_journal == async_journal
    if fault not in FATAL:
        assert _untimed(sync_outcome) == _untimed(async_outcome)
        assert sync_outcome.digest == async_outcome.digest

"""At-most-once calls of ``idempotent=False`` tools across a stop and a resume.

A checkpointed run journals an intent before each call of a non-idempotent tool. When a
session stops with such a call in flight (here: the store write after the intent raises,
as a crash would end the process there; ``test_at_most_once_processes.py`` kills real
processes), a resume does not make the call again: the step fails with
``StepInterruptedError`` unless it says ``on_interrupted="retry"``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import (
    DAGFlow,
    ExecutionResult,
    Flow,
    FlowExecutor,
    FlowRegistry,
    MapStep,
    RetryPolicy,
    Step,
    StepInterruptedError,
    current_call,
    dump_flow,
    load_flow,
    tool,
)
from dagwright.checkpoint import InMemoryCheckpointer, Owner, SQLiteCheckpointer, read_run
from dagwright.errors import FlowFileError, RunFailedError

CALLS: list[tuple[str, str, int]] = []
"""(tool, idempotency key, amount) of every call of the tools below, in call order."""


class Receipt(BaseModel):
    receipt: str


class Noted(BaseModel):
    noted: str


def _called(name: str, amount: int) -> Receipt:
    context = current_call()
    assert context is not None
    CALLS.append((name, context.idempotency_key, amount))
    return Receipt(receipt=f"{name}-{amount}")


@tool(idempotent=False)
def charge(amount: int) -> Receipt:
    """Charge a card: a side effect that must not happen twice."""
    return _called("charge", amount)


@tool(idempotent=False)
async def acharge(amount: int) -> Receipt:
    """Charge a card, async."""
    await asyncio.sleep(0)
    return _called("acharge", amount)


@tool(idempotent=False)
def refund(amount: int) -> Receipt:
    """The fallback of a charge."""
    return _called("refund", amount)


@tool
def lookup(amount: int) -> Receipt:
    """An idempotent read."""
    return _called("lookup", amount)


@tool
def note(receipt: str) -> Noted:
    """Write down a receipt (idempotent)."""
    return Noted(noted=receipt)


@tool(idempotent=False)
def flaky_charge(amount: int) -> Receipt:
    """Fails on its first call (no side effect), then charges."""
    if not any(name == "flaky_charge" for name, _, _ in CALLS):
        CALLS.append(("flaky_charge", "failed", amount))
        raise ConnectionError("card service unreachable")
    return _called("flaky_charge", amount)


TOOLS = [charge, acharge, refund, lookup, note, flaky_charge]


class Crash(Exception):
    """What ends a session here: raised by the store right after an intent is durable."""


class CrashAfterIntent(InMemoryCheckpointer):
    """An in-memory store that raises :class:`Crash` once, right after appending the
    intent of step ``step`` (of map instance ``index``, when given)."""

    def __init__(self, step: str | None, index: int | None = None, tool: str | None = None) -> None:
        super().__init__()
        self.step, self.index, self.tool = step, index, tool
        self.appends = 0

    def append(self, run_id: str, entries: Sequence[Mapping[str, Any]], owner: Owner) -> None:
        super().append(run_id, entries, owner)
        self.appends += 1
        for entry in entries:
            hit = entry["kind"] == "intent" and entry["step"] == self.step
            hit = hit and (self.tool is None or entry["tool"] == self.tool)
            if hit and (self.index is None or entry.get("index") == self.index):
                self.step = None
                raise Crash("the session ended with the call in flight")


@pytest.fixture(autouse=True)
def _no_calls() -> None:
    CALLS.clear()


def run(ex: FlowExecutor, flow: Any, inputs: dict[str, Any], lane: str) -> ExecutionResult:
    if lane == "sync":
        return ex.run(flow, inputs, run_id="pay-1")
    return asyncio.run(ex.arun(flow, inputs, run_id="pay-1"))


def resume(ex: FlowExecutor, flow: Any, lane: str) -> ExecutionResult:
    if lane == "sync":
        return ex.resume("pay-1", flow)
    return asyncio.run(ex.aresume("pay-1", flow))


def crash_then_resume(
    flow: Any,
    inputs: dict[str, Any],
    lane: str,
    step: str,
    index: int | None = None,
    tool: str | None = None,
    **options: Any,
) -> tuple[ExecutionResult, CrashAfterIntent]:
    """Run until the intent of ``step`` (of ``tool``, when given) is durable and the
    session ends, then resume in a fresh executor on the same store."""
    store = CrashAfterIntent(step, index, tool)
    with FlowExecutor(TOOLS, checkpointer=store, **options) as ex, pytest.raises(Crash):
        run(ex, flow, inputs, lane)
    with FlowExecutor(TOOLS, checkpointer=store, **options) as ex:
        return resume(ex, flow, lane), store


def pay_flow(tool_name: str = "charge", **step: Any) -> Flow:
    return Flow("pay", [Step(id="charge", tool=tool_name, **step), Step(id="note", tool="note")])


def kinds(store: InMemoryCheckpointer) -> list[str]:
    return [entry["kind"] for entry in store.load("pay-1")[1]]


LANES = ["sync", "async"]


@pytest.mark.parametrize("lane", LANES)
@pytest.mark.parametrize("tool_name", ["charge", "acharge"])
def test_a_run_journals_one_intent_before_each_non_idempotent_call(
    lane: str, tool_name: str
) -> None:
    store = InMemoryCheckpointer()
    flow = DAGFlow(
        "mixed",
        [
            Step(id="read", tool="lookup"),
            Step(id="charge", tool=tool_name, depends_on="read"),
            Step(id="note", tool="note", depends_on="charge"),
        ],
    )
    with FlowExecutor(TOOLS, checkpointer=store) as ex:
        result = run(ex, flow, {"amount": 5}, lane)
    assert result.success, result.error
    entries = store.load("pay-1")[1]
    assert [(e["kind"], e["step"]) for e in entries] == [
        ("step", "read"),
        ("intent", "charge"),
        ("step", "charge"),
        ("step", "note"),
    ]
    assert entries[1] == {
        "kind": "intent",
        "path": [],
        "step": "charge",
        "tool": tool_name,
        "attempt": 0,
    }
    assert read_run(store, "pay-1").in_doubt == ()


@pytest.mark.parametrize("lane", LANES)
def test_idempotent_tools_journal_nothing_new(lane: str) -> None:
    store = CrashAfterIntent(None)
    flow = Flow("reads", [Step(id="read", tool="lookup"), Step(id="note", tool="note")])
    with FlowExecutor(TOOLS, checkpointer=store, max_concurrency=1) as ex:
        result = run(ex, flow, {"amount": 5}, lane)
    assert result.success, result.error
    assert kinds(store) == ["step", "step"]
    assert store.appends == 2  # one write per step, as before intents existed


def test_the_intent_is_durable_before_the_call_starts(tmp_path: Path) -> None:
    """The tool reads the store through a connection of its own: its intent is there."""
    db = tmp_path / "runs.sqlite"
    seen: list[Any] = []

    @tool(idempotent=False)
    def send(amount: int) -> Receipt:
        """Send mail; first look at what the store holds."""
        with SQLiteCheckpointer(db) as other:
            seen.append(read_run(other, "pay-1").in_doubt)
        return Receipt(receipt="sent")

    flow = Flow("mail", [Step(id="send", tool="send")])
    with FlowExecutor([send], checkpointer=SQLiteCheckpointer(db)) as ex:
        assert ex.run(flow, {"amount": 1}, run_id="pay-1").success
    assert [[dict(call) for call in calls] for calls in seen] == [
        [{"path": [], "step": "send", "index": None, "tool": "send", "attempt": 0}]
    ]


@pytest.mark.parametrize("lane", LANES)
@pytest.mark.parametrize("tool_name", ["charge", "acharge"])
def test_a_call_in_flight_at_the_stop_is_not_made_again(lane: str, tool_name: str) -> None:
    result, store = crash_then_resume(pay_flow(tool_name), {"amount": 7}, lane, "charge")
    assert CALLS == []  # the session ended before the call; the resume does not make it
    assert not result.success
    assert result.error is not None
    assert (result.error.code, result.error.type, result.error.step_id) == (
        "DW-E111",
        "StepInterruptedError",
        "charge",
    )
    assert "idempotent=False" in result.error.message
    record = result.step("charge")
    assert record.status == "failed"
    assert [a.status for a in record.attempts] == ["failed"]
    assert [r.step_id for r in result.steps] == ["charge"]  # note never ran
    with pytest.raises(RunFailedError) as caught:
        result.raise_for_error()
    cause = caught.value.__cause__
    assert isinstance(cause, StepInterruptedError)
    assert "on_interrupted='retry'" in str(cause.hint)
    # Still in doubt: the step failed without making the call, so a later resume, which
    # runs the failed step again, does not make it either.
    assert len(read_run(store, "pay-1").in_doubt) == 1
    with FlowExecutor(TOOLS, checkpointer=store) as ex:
        again = resume(ex, pay_flow(tool_name), lane)
    assert again.error is not None and again.error.code == "DW-E111"
    assert CALLS == []


@pytest.mark.parametrize("lane", LANES)
def test_on_interrupted_retry_calls_again_with_the_same_key(lane: str) -> None:
    store = CrashAfterIntent("charge")
    flow = pay_flow(on_interrupted="retry")
    with FlowExecutor(TOOLS, checkpointer=store) as ex:
        with pytest.raises(Crash):
            run(ex, flow, {"amount": 7}, lane)
        # The same run id, in a store where the run never crashed: the key to expect.
        expected = FlowExecutor(TOOLS).run(flow, {"amount": 7}, run_id="pay-1")
    assert expected.success
    key = CALLS[0][1]
    CALLS.clear()
    with FlowExecutor(TOOLS, checkpointer=store) as ex:
        result = resume(ex, flow, lane)
    assert result.success, result.error
    assert result.output == {"amount": 7, "receipt": "charge-7", "noted": "charge-7"}
    assert [("charge", key, 7)] == CALLS
    assert kinds(store) == ["intent", "intent", "step", "step"]


@pytest.mark.parametrize("lane", LANES)
def test_on_error_skip_and_fallback_apply_to_an_interrupted_call(lane: str) -> None:
    skipped, _ = crash_then_resume(
        DAGFlow(
            "pay",
            [
                Step(id="charge", tool="charge", on_error="skip"),
                Step(id="read", tool="lookup", outputs={"seen": "receipt"}),
            ],
        ),
        {"amount": 3},
        lane,
        "charge",
    )
    assert skipped.success, skipped.error
    assert skipped.step("charge").status == "skipped"
    assert skipped.step("charge").error is not None
    assert skipped.step("charge").error.code == "DW-E111"  # type: ignore[union-attr]
    assert [name for name, _, _ in CALLS] == ["lookup"]
    CALLS.clear()
    fell_back, _ = crash_then_resume(
        pay_flow(on_error="fallback:refund"), {"amount": 3}, lane, "charge"
    )
    assert fell_back.success, fell_back.error
    assert fell_back.step("charge").fallback == "refund"
    assert [name for name, _, _ in CALLS] == ["refund"]


@pytest.mark.parametrize("lane", LANES)
def test_a_fallback_failing_after_an_interrupted_call_keeps_the_call_in_doubt(
    lane: str,
) -> None:
    @tool
    def broken(amount: int) -> Receipt:
        """A fallback that fails."""
        raise ValueError("no fallback today")

    flow = pay_flow(on_error="fallback:broken")
    store = CrashAfterIntent("charge")
    with FlowExecutor([*TOOLS, broken], checkpointer=store) as ex:
        with pytest.raises(Crash):
            run(ex, flow, {"amount": 3}, lane)
        first = resume(ex, flow, lane)
        assert first.error is not None and first.error.type == "ValueError"
        assert len(read_run(store, "pay-1").in_doubt) == 1
        second = resume(ex, flow, lane)
    assert second.error is not None and second.error.type == "ValueError"
    assert CALLS == []  # charge was never called again


@pytest.mark.parametrize("lane", LANES)
def test_an_interrupted_fallback_call_is_not_made_again(lane: str) -> None:
    """The primary failed, then the session stopped with the fallback's call in flight:
    the resume calls neither again (the step's outcome was never recorded, and the
    fallback may have taken effect), so the step fails interrupted, naming the fallback."""
    result, _ = crash_then_resume(
        pay_flow("flaky_charge", on_error="fallback:refund"),
        {"amount": 4},
        lane,
        "charge",
        tool="refund",
    )
    # flaky_charge failed in the first session; the crash came with refund's intent.
    assert [name for name, _, _ in CALLS] == ["flaky_charge"]
    assert not result.success
    assert result.error is not None and result.error.code == "DW-E111"
    assert "'refund'" in result.error.message


@pytest.mark.parametrize("lane", LANES)
def test_a_retry_policy_never_retries_an_interrupted_call(lane: str) -> None:
    flow = pay_flow(retry=RetryPolicy(max_attempts=3, retry_on=("Exception",)))
    result, _ = crash_then_resume(flow, {"amount": 2}, lane, "charge")
    assert CALLS == []
    assert result.error is not None and result.error.code == "DW-E111"
    assert len(result.step("charge").attempts) == 1


@pytest.mark.parametrize("lane", LANES)
def test_a_failed_call_is_settled_and_a_resume_runs_it_again(lane: str) -> None:
    store = InMemoryCheckpointer()
    flow = pay_flow("flaky_charge")
    with FlowExecutor(TOOLS, checkpointer=store) as ex:
        first = run(ex, flow, {"amount": 1}, lane)
        assert not first.success
        assert read_run(store, "pay-1").in_doubt == ()  # its outcome is recorded
        second = resume(ex, flow, lane)
    assert second.success, second.error
    assert [name for name, _, _ in CALLS] == ["flaky_charge", "flaky_charge"]


@pytest.mark.parametrize("lane", LANES)
@pytest.mark.parametrize("policy", ["fail_fast", "collect"])
def test_map_instances_recorded_stay_and_the_one_in_flight_is_interrupted(
    lane: str, policy: str
) -> None:
    flow = DAGFlow(
        "charges",
        [
            MapStep(
                id="fan",
                over="amounts",
                tool="charge",
                item="amount",
                results="receipts",
                errors="failed" if policy == "collect" else None,
                max_concurrency=1,
                error_policy=policy,  # type: ignore[arg-type]
            )
        ],
    )
    result, store = crash_then_resume(
        flow, {"amounts": [10, 11, 12, 13]}, lane, "fan", index=2, max_concurrency=1
    )
    # Instances 0 and 1 were recorded before the stop and are not called again;
    # instance 2 was in flight; instance 3 never started.
    called = [amount for _, _, amount in CALLS]
    if policy == "fail_fast":
        assert called == [10, 11]
        assert not result.success
        assert result.error is not None and result.error.code == "DW-E111"
        assert result.error.index == 2
    else:
        assert called == [10, 11, 13]
        assert result.success, result.error
        assert result.output["failed"] == [
            {"index": 2, "error_type": "StepInterruptedError", "message": result.output[
                "failed"][0]["message"]}
        ]  # fmt: skip
        receipts = [r["receipt"] for r in result.output["receipts"]]
        assert receipts == ["charge-10", "charge-11", "charge-13"]
    # Under collect the failed instance is recorded for good; under fail_fast it runs
    # again on a later resume, and stays in doubt until then.
    assert len(read_run(store, "pay-1").in_doubt) == (1 if policy == "fail_fast" else 0)


@pytest.mark.parametrize("lane", LANES)
def test_a_call_inside_a_map_instance_sub_flow_is_not_made_again(lane: str) -> None:
    registry = FlowRegistry()
    registry.register(Flow("one", [Step(id="pay", tool="charge"), Step(id="note", tool="note")]))
    flow = DAGFlow(
        "batch",
        [MapStep(id="each", over="amounts", flow="one", item="amount", results="notes",
                 max_concurrency=1)],
    )  # fmt: skip
    store = CrashAfterIntent("pay")
    with FlowExecutor(TOOLS, checkpointer=store, registry=registry, max_concurrency=1) as ex:
        with pytest.raises(Crash):
            run(ex, flow, {"amounts": [1, 2]}, lane)
        doubt = read_run(store, "pay-1").in_doubt
        assert [dict(c) for c in doubt] == [
            {"path": ["each", 0], "step": "pay", "index": None, "tool": "charge", "attempt": 0}
        ]
        result = resume(ex, flow, lane)
    assert CALLS == []
    assert result.error is not None
    assert result.error.code == "DW-E107"  # the sub-flow failed at its interrupted step
    assert "StepInterruptedError" in result.error.message


def test_a_run_without_a_store_has_no_intents_and_calls_as_usual() -> None:
    with FlowExecutor(TOOLS) as ex:
        result = ex.run(pay_flow(), {"amount": 9})
    assert result.success, result.error
    assert [name for name, _, _ in CALLS] == ["charge"]


def test_on_interrupted_in_flow_files(tmp_path: Path) -> None:
    text = (
        "format_version: 1\nkind: flow\nname: pay\nsteps:\n"
        "  - tool: charge\n    on_interrupted: retry\n  - tool: note\n"
    )
    flow = load_flow(text)
    assert flow.steps[0].on_interrupted == "retry"
    assert flow.steps[1].on_interrupted == "fail"
    assert "on_interrupted: retry" in dump_flow(flow)
    assert load_flow(dump_flow(flow)) == flow
    with pytest.raises(FlowFileError) as caught:
        load_flow(text.replace("on_interrupted: retry", "on_interrupted: twice"))
    error = caught.value
    assert (error.line, error.col) == (6, 21)
    assert "'fail' or 'retry'" in str(error.hint)


def test_the_default_leaves_the_definition_digest_alone() -> None:
    plain = Flow("pay", [Step(id="charge", tool="charge")])
    explicit = Flow("pay", [Step(id="charge", tool="charge", on_interrupted="fail")])
    retry = Flow("pay", [Step(id="charge", tool="charge", on_interrupted="retry")])
    assert plain.definition_digest == explicit.definition_digest
    assert plain.definition_digest != retry.definition_digest


@pytest.mark.parametrize("lane", LANES)
def test_an_intent_shares_the_write_of_the_outcome_before_it(lane: str) -> None:
    """Five sequential non-idempotent calls: five intents, five outcomes, six writes
    (only the first intent has no outcome before it to travel with)."""
    counts = {}
    for name in ("lookup", "charge"):
        store = CrashAfterIntent(None)
        flow = Flow("five", [Step(tool=name) for _ in range(5)], on_context_collision="overwrite")
        with FlowExecutor(TOOLS, checkpointer=store, max_concurrency=1) as ex:
            assert run(ex, flow, {"amount": 1}, lane).success
        counts[name] = (store.appends, kinds(store).count("intent"))
    assert counts == {"lookup": (5, 0), "charge": (6, 5)}


RELEASE = threading.Event()
"""Set at the end of the timeout tests: frees the abandoned calls still waiting on it."""
STARTED = threading.Event()
BOOMED: list[int] = []


@tool(idempotent=False)
def slow_charge(amount: int) -> Receipt:
    """Charge, then wait for the card service's answer (until RELEASE)."""
    receipt = _called("slow_charge", amount)
    RELEASE.wait(30)
    return receipt


@tool(idempotent=False)
async def aslow_charge(amount: int) -> Receipt:
    """Charge, then wait for the answer, async (until cancelled)."""
    receipt = _called("aslow_charge", amount)
    STARTED.set()
    await asyncio.sleep(30)
    return receipt


@tool
def boom_once(amount: int) -> Noted:
    """Fail the first time, once the charge has started."""
    if not BOOMED:
        BOOMED.append(amount)
        STARTED.wait(30)
        raise RuntimeError("boom")
    return Noted(noted="ok")


SLOW_TOOLS = [*TOOLS, slow_charge, aslow_charge, boom_once]


@pytest.mark.parametrize("lane", LANES)
@pytest.mark.parametrize("tool_name", ["slow_charge", "aslow_charge"])
def test_a_timed_out_call_stays_in_doubt(lane: str, tool_name: str) -> None:
    """A call past its deadline may still take effect (a sync one is abandoned, not
    stopped): its failure does not settle it, so a resume does not make it again."""
    RELEASE.clear()
    store = InMemoryCheckpointer()
    flow = Flow("pay", [Step(id="charge", tool=tool_name, timeout_s=0.2)])
    try:
        with FlowExecutor(SLOW_TOOLS, checkpointer=store) as ex:
            first = run(ex, flow, {"amount": 5}, lane)
            assert first.error is not None and first.error.code == "DW-E104"
            assert len(read_run(store, "pay-1").in_doubt) == 1
            resumed = resume(ex, flow, lane)
    finally:
        RELEASE.set()
    assert resumed.error is not None and resumed.error.code == "DW-E111"
    assert [name for name, _, _ in CALLS] == [tool_name]


@pytest.mark.parametrize("lane", LANES)
def test_a_call_cancelled_while_it_ran_stays_in_doubt(lane: str) -> None:
    STARTED.clear()
    BOOMED.clear()
    store = InMemoryCheckpointer()
    flow = DAGFlow(
        "pay",
        [Step(id="charge", tool="aslow_charge"), Step(id="other", tool="boom_once")],
    )
    with FlowExecutor(SLOW_TOOLS, checkpointer=store, max_concurrency=2) as ex:
        first = run(ex, flow, {"amount": 5}, lane)
        assert first.step("charge").status == "cancelled"
        assert first.error is not None and first.error.type == "RuntimeError"
        resumed = resume(ex, flow, lane)
    assert resumed.step("other").status == "completed"
    assert resumed.error is not None and resumed.error.code == "DW-E111"
    assert [name for name, _, _ in CALLS] == ["aslow_charge"]


@pytest.mark.parametrize("lane", LANES)
def test_a_call_inside_a_sub_flow_step_is_not_made_again(lane: str) -> None:
    registry = FlowRegistry()
    registry.register(Flow("inner", [Step(id="pay", tool="charge"), Step(id="note", tool="note")]))
    flow = Flow("outer", [Step(id="sub", flow="inner"), Step(id="read", tool="lookup")])
    store = CrashAfterIntent("pay")
    with FlowExecutor(TOOLS, checkpointer=store, registry=registry) as ex:
        with pytest.raises(Crash):
            run(ex, flow, {"amount": 2}, lane)
        assert [dict(c)["path"] for c in read_run(store, "pay-1").in_doubt] == [["sub"]]
        result = resume(ex, flow, lane)
    assert CALLS == []
    assert result.error is not None and result.error.code == "DW-E107"
    inner = result.step("sub").children
    assert [(r.step_id, r.error and r.error.code) for r in inner] == [("pay", "DW-E111")]


def test_dw407_flags_on_interrupted_where_it_does_nothing() -> None:
    registry = FlowRegistry()
    registry.register(Flow("inner", [Step(id="pay", tool="charge")]))
    flow = DAGFlow(
        "outer",
        [
            Step(id="sub", flow="inner", on_interrupted="retry"),
            Step(id="read", tool="lookup", on_interrupted="retry", outputs={"r1": "receipt"}),
            Step(id="pay", tool="charge", on_interrupted="retry", outputs={"r2": "receipt"}),
            Step(id="safe", tool="lookup", on_error="fallback:refund", on_interrupted="retry",
                 outputs={"r3": "receipt"}),
        ],
    )  # fmt: skip
    with FlowExecutor(TOOLS, registry=registry) as ex:
        found = [d for d in ex.compile(flow).all_warnings if d.code == "DW407"]
    assert [(d.step_id, "sub-flow 'inner'" in d.message) for d in found] == [
        ("sub", True),
        ("read", False),
    ]
    assert "'lookup' is idempotent" in found[1].message

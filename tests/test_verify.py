"""``FlowExecutor.verify``: the replay check, in process, against both store kinds.

A recorded run is run again from its inputs under its run id against a scratch store
and compared with its record, status then outputs, innermost place first. Calls of
``idempotent=False`` tools are not made: their recorded outcomes are used (``reused``),
and a call with no recorded result is withheld, never made.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import BaseModel

from dagwright import (
    CallWithheldError,
    CheckpointCorruptError,
    CheckpointMismatchError,
    CheckpointNotFoundError,
    DAGFlow,
    Divergence,
    Flow,
    FlowExecutor,
    FlowNotFoundError,
    FlowRegistry,
    InMemoryCheckpointer,
    Literal,
    MapStep,
    SQLiteCheckpointer,
    Step,
    UsageError,
    VerifyReport,
    current_call,
    tool,
)
from dagwright.checkpoint import Checkpointer
from tests.test_determinism import ITEMS, amix, mix, random_dags

# ---- tools -----------------------------------------------------------------------------

COUNTER = itertools.count()
BASE = [0]  # added to what `counted` gives
SHAKY: set[int] = set()  # items whose `shaky` output changes on every call
LEDGER: list[Path] = []  # where `charge` appends a line per call


@tool
def double(n: int) -> int:
    """Twice n."""
    return n * 2


@tool
def inc(double: int) -> int:
    """One more."""
    return double + 1


@tool
def triple(x: int) -> int:
    """Three times x."""
    return x * 3


BROKEN: set[str] = set()  # the tools that fail now


@tool
def fragile(x: int) -> int:
    """x, unless the tool is broken."""
    if "fragile" in BROKEN:
        raise RuntimeError("the service is gone")
    return x


@tool
def counted(n: int) -> int:
    """n, plus a counter that moves on every call: never the same twice."""
    return n * 1000 + BASE[0] + next(COUNTER)


@tool
def shaky(x: int) -> int:
    """Ten times x; for the items in SHAKY, plus a counter that moves on every call."""
    return x * 10 + (next(COUNTER) if x in SHAKY else 0)


class Charged(BaseModel):
    key: str
    calls: int


@tool(idempotent=False)
def charge(n: int) -> Charged:
    """Appends the call's idempotency key to the ledger; says how many calls it holds."""
    call = current_call()
    assert call is not None
    ledger = LEDGER[0]
    with ledger.open("a", encoding="utf-8") as out:
        out.write(call.idempotency_key + "\n")
    return Charged(key=call.idempotency_key, calls=len(ledger.read_text().splitlines()))


@tool
def after(calls: int) -> int:
    """What a step downstream of `charge` makes of its output."""
    return calls * 7


TOOLS = [double, inc, triple, fragile, counted, shaky, charge, after, mix, amix]


def ledger_lines() -> list[str]:
    return LEDGER[0].read_text().splitlines() if LEDGER[0].exists() else []


# ---- fixtures --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _state(tmp_path: Path) -> Iterator[None]:
    SHAKY.clear()
    BASE[0] = 0
    LEDGER[:] = [tmp_path / "ledger.txt"]
    yield
    SHAKY.clear()
    BASE[0] = 0


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Checkpointer]:
    """Each store kind the replay check reads from."""
    made: Checkpointer = (
        InMemoryCheckpointer()
        if request.param == "memory"
        else SQLiteCheckpointer(tmp_path / "r.db")
    )
    yield made
    made.close()


SUB = Flow("sub", [Step(id="d", tool="double"), Step(id="i", tool="inc")])


def registry(*flows: Flow) -> FlowRegistry:
    made = FlowRegistry()
    for each in (SUB, *flows):
        made.register(each)
    return made


Make = Callable[..., FlowExecutor]


@pytest.fixture
def make(store: Checkpointer) -> Iterator[Make]:
    """``make(*flows)``: an executor on the store, with SUB and ``flows`` registered."""
    made: list[FlowExecutor] = []

    def build(*flows: Flow, **kw: Any) -> FlowExecutor:
        executor = FlowExecutor(TOOLS, registry=registry(*flows), checkpointer=store, **kw)
        made.append(executor)
        return executor

    yield build
    for executor in made:
        executor.close()


EVERYTHING = DAGFlow(
    "everything",
    [
        Step(id="a", tool="double"),
        MapStep(id="m", over="xs", tool="triple", item="x", results="tripled"),
        Step(
            id="s",
            flow="sub",
            inputs={"n": "double"},
            outputs={"sub_inc": "inc"},
            depends_on=("a",),
        ),
        MapStep(id="ms", over="ns", flow="sub", item="n", results="subs"),
        Step(
            id="w",
            tool="triple",
            inputs={"x": "double"},
            when="double > 1000",
            depends_on=("a",),
        ),
    ],
)
EVERYTHING_INPUTS = {"n": 3, "xs": [1, 2, 3], "ns": [4, 5]}


# ---- a run that reproduces -------------------------------------------------------------


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_a_deterministic_run_reproduces(make: Make, lane: str) -> None:
    executor = make(EVERYTHING)
    if lane == "sync":
        recorded = executor.run(EVERYTHING, EVERYTHING_INPUTS, run_id="r1")
    else:
        recorded = asyncio.run(executor.arun(EVERYTHING, EVERYTHING_INPUTS, run_id="r1"))
    assert recorded.success, recorded.error
    assert recorded.step("w").status == "skipped"

    report = executor.verify("r1")

    assert isinstance(report, VerifyReport)
    assert report.ok and report.divergence is None
    assert (report.run_id, report.flow_name, report.flow_version) == ("r1", "everything", "1")
    # a, m + 3 instances, s + 2 inner, ms + 2 instances of 2 inner steps each, w
    assert report.compared == 1 + 4 + 3 + 7 + 1
    assert report.reused == report.withheld == report.unreached == ()
    assert report.result.run_id == "r1"
    assert report.result.digest == recorded.digest
    data = report.to_dict()
    assert data["ok"] is True and data["divergence"] is None
    assert data["result"]["digest"] == recorded.digest


def test_the_flow_may_be_given(make: Make) -> None:
    executor = make()
    executor.run(EVERYTHING, EVERYTHING_INPUTS, run_id="r1").raise_for_error()
    assert executor.verify("r1", EVERYTHING).ok


# ---- divergences -----------------------------------------------------------------------


def test_a_nondeterministic_tool_is_caught_with_its_values(make: Make) -> None:
    flow = Flow("counting", [Step(id="a", tool="double"), Step(id="c", tool="counted")])
    executor = make(flow)
    recorded = executor.run(flow, {"n": 3}, run_id="r1")
    report = executor.verify("r1")

    assert not report.ok
    divergence = report.divergence
    assert isinstance(divergence, Divergence)
    assert (divergence.step, divergence.index, divergence.path) == ("c", (), ("c",))
    assert (divergence.kind, divergence.field, divergence.missing) == ("output", "counted", None)
    assert divergence.recorded == recorded.output["counted"]
    assert divergence.new == report.result.output["counted"]
    assert divergence.new != divergence.recorded
    assert report.compared == 2
    text = str(divergence)
    assert "\n" not in text
    assert text == (f"c: output 'counted': recorded {divergence.recorded}, replay {divergence.new}")
    assert divergence.to_dict() == {
        "step": "c",
        "index": [],
        "path": ["c"],
        "where": "c",
        "kind": "output",
        "field": "counted",
        "recorded": divergence.recorded,
        "new": divergence.new,
        "missing": None,
        "error": None,
    }


def test_a_map_instance_divergence_names_its_index(make: Make) -> None:
    flow = DAGFlow("fan", [MapStep(id="m", over="xs", tool="shaky", item="x", results="out")])
    executor = make(flow)
    SHAKY.add(7)
    recorded = executor.run(flow, {"xs": [5, 6, 7, 8]}, run_id="r1")
    report = executor.verify("r1")

    divergence = report.divergence
    assert divergence is not None
    assert (divergence.step, divergence.index, divergence.path) == ("m", (2,), ("m", 2))
    assert divergence.field == "shaky"
    assert divergence.recorded == recorded.output["out"][2]["shaky"]
    assert divergence.where == "m[2]"


def test_a_nested_index_path_is_reported_whole(make: Make) -> None:
    """A map inside a sub-flow inside a map: the path and index path from the top."""
    inner = DAGFlow("inner", [MapStep(id="m2", over="ys", tool="shaky", item="x", results="r")])
    outer = DAGFlow("outer", [MapStep(id="m", over="xss", flow="inner", item="ys", results="o")])
    executor = make(inner, outer)
    SHAKY.add(9)
    recorded = executor.run(outer, {"xss": [[1, 2, 3], [4, 5, 9]]}, run_id="r1")
    assert recorded.success, recorded.error
    report = executor.verify("r1")

    divergence = report.divergence
    assert divergence is not None
    assert divergence.step == "m2"
    assert divergence.index == (1, 2)
    assert divergence.path == ("m", 1, "m2", 2)
    was = recorded.output["o"][1]["r"][2]["shaky"]
    assert divergence.recorded == was
    assert str(divergence) == f"m[1]/m2[2]: output 'shaky': recorded {was}, replay {divergence.new}"


def test_a_failure_where_the_record_completed_diverges_on_status(make: Make) -> None:
    flow = Flow("fails", [Step(id="a", tool="double"), Step(id="b", tool="fragile")])
    executor = make(flow)
    executor.run(flow, {"n": 1, "x": 2}, run_id="r1").raise_for_error()
    BROKEN.add("fragile")
    try:
        report = executor.verify("r1")
    finally:
        BROKEN.clear()
    divergence = report.divergence
    assert divergence is not None
    assert (divergence.step, divergence.kind, divergence.field) == ("b", "status", "status")
    assert (divergence.recorded, divergence.new) == ("completed", "failed")
    assert divergence.error is not None
    assert divergence.error.code == "DW-E101"
    assert "the service is gone" in divergence.error.message
    assert "([DW-E101] RuntimeError: the service is gone)" in str(divergence)


# ---- non-idempotent tools --------------------------------------------------------------

PAYING = DAGFlow(
    "paying",
    [
        Step(id="pay", tool="charge"),
        Step(id="then", tool="after", inputs={"calls": "calls"}, depends_on=("pay",)),
        Step(id="s", flow="charged", inputs={"n": Literal(1)}, outputs={"inner_key": "key"}),
        MapStep(id="m", over="xs", tool="charge", item="n", results="charges"),
    ],
)
CHARGED = Flow("charged", [Step(id="c", tool="charge")])


def test_a_non_idempotent_tool_is_not_called_and_its_record_feeds_the_rest(make: Make) -> None:
    executor = make(CHARGED, PAYING)
    recorded = executor.run(PAYING, {"n": 5, "xs": [1, 2]}, run_id="r1")
    assert recorded.success, recorded.error
    assert len(ledger_lines()) == 4  # pay, s/c, m[0], m[1]

    report = executor.verify("r1")

    assert len(ledger_lines()) == 4  # not called again
    assert report.ok, report.divergence
    assert report.reused == (("pay",), ("s", "c"), ("m", 0), ("m", 1))
    # then, s and m themselves are compared; what was reused is not
    assert report.compared == 3
    # `then` was given pay's recorded outcome (a call now would count 5 calls or more)
    assert report.result.step("then").inputs == recorded.step("then").inputs
    assert report.result.output == recorded.output


def test_allow_side_effects_calls_them_with_the_recorded_keys(make: Make) -> None:
    flow = DAGFlow(
        "paying_once",
        [
            Step(id="pay", tool="charge"),
            Step(id="then", tool="after", inputs={"calls": "calls"}, depends_on=("pay",)),
        ],
    )
    executor = make(flow)
    executor.run(flow, {"n": 5}, run_id="r1").raise_for_error()
    (recorded_key,) = ledger_lines()

    report = executor.verify("r1", allow_side_effects=True)

    assert ledger_lines() == [recorded_key, recorded_key]  # called, with the same key
    assert report.reused == ()
    divergence = report.divergence
    assert divergence is not None  # the ledger now holds two calls
    assert (divergence.step, divergence.field) == ("pay", "calls")
    assert (divergence.recorded, divergence.new) == (1, 2)


def test_a_call_with_no_recorded_result_is_withheld(make: Make, tmp_path: Path) -> None:
    """The recorded run's charge failed: the replay does not make the call again."""
    flow = Flow("refused", [Step(id="a", tool="double"), Step(id="pay", tool="charge")])
    executor = make(flow)
    LEDGER[:] = [tmp_path / "missing" / "ledger.txt"]  # the call fails: no such directory
    failed = executor.run(flow, {"n": 2}, run_id="r1")
    assert not failed.success
    LEDGER[:] = [tmp_path / "ledger.txt"]  # a call now would work, and write there

    report = executor.verify("r1")

    assert not LEDGER[0].exists()
    assert report.ok  # the failure is not a result: nothing to compare it with
    assert report.withheld == (("pay",),)
    assert report.compared == 1
    pay = report.result.step("pay")
    assert pay.error is not None and pay.error.code == CallWithheldError.code
    assert pay.attempts == ()  # no call was made


def test_a_replay_that_needs_an_unrecorded_call_diverges_without_making_it(make: Make) -> None:
    """The recorded `when` was false, so `pay` was skipped; in the replay it is true."""
    flow = DAGFlow(
        "gated",
        [
            Step(id="c", tool="counted"),
            Step(
                id="pay",
                tool="charge",
                inputs={"n": "counted"},
                when="counted > 1000000000",
                depends_on=("c",),
            ),
        ],
    )
    executor = make(flow)
    executor.run(flow, {"n": 1}, run_id="r1").raise_for_error()  # far below the gate
    assert ledger_lines() == []

    BASE[0] = 10**12  # the replay's `counted` passes the gate
    report = executor.verify("r1")

    assert ledger_lines() == []
    assert report.withheld == (("pay",),)
    divergence = report.divergence
    assert divergence is not None
    assert (divergence.step, divergence.field) == ("c", "counted")  # the first difference


# ---- the user's store ------------------------------------------------------------------


def test_verify_leaves_the_store_as_it_was(make: Make, store: Checkpointer) -> None:
    executor = make(CHARGED, PAYING)
    executor.run(PAYING, {"n": 5, "xs": [1, 2]}, run_id="r1").raise_for_error()
    before = store.load("r1")
    runs_before = [header.run_id for header in store.runs()]

    executor.verify("r1")
    executor.verify("r1", allow_side_effects=True)

    assert store.load("r1") == before
    assert [header.run_id for header in store.runs()] == runs_before
    assert store.lease("r1") is None


STOPS: list[str] = []  # the ids of the calls of `stop_once` that stop the process


@tool
def stop_once(double: int) -> int:
    """Stops the run (as Ctrl-C would) on its first call, then gives double + 2."""
    if not STOPS:
        STOPS.append("stopped")
        raise KeyboardInterrupt
    return double + 2


def test_an_incomplete_run_verifies_what_it_recorded(store: Checkpointer) -> None:
    STOPS.clear()
    inner = Flow("halting", [Step(id="d", tool="double"), Step(id="x", tool="stop_once")])
    flow = Flow("crashy", [Step(id="a", tool="triple"), Step(id="s", flow="halting")])
    with FlowExecutor(
        [*TOOLS, stop_once], registry=registry(inner, flow), checkpointer=store,
        max_concurrency=1,
    ) as executor:  # fmt: skip
        with pytest.raises(KeyboardInterrupt):
            executor.run(flow, {"x": 2, "n": 4}, run_id="r1")
        assert store.header("r1").status == "interrupted"

        report = executor.verify("r1")

    assert report.ok, report.divergence
    assert report.compared == 2  # a, and s/d: what the journal holds
    assert report.result.success
    assert report.unreached == ()


def test_an_interrupted_non_idempotent_call_is_withheld(store: Checkpointer) -> None:
    """The run stopped while `charge` was being called: its intent is journaled, its
    result is not. The replay does not call it."""

    @tool(name="charge", idempotent=False)
    def charge_and_stop(n: int) -> Charged:
        """Appends to the ledger, then the process stops before the result is saved."""
        charge(n=n)
        raise KeyboardInterrupt

    flow = Flow("stopping", [Step(id="a", tool="double"), Step(id="pay", tool="charge")])
    tools = [double, charge_and_stop, after]
    with (
        FlowExecutor(tools, registry=registry(flow), checkpointer=store) as executor,
        pytest.raises(KeyboardInterrupt),
    ):
        executor.run(flow, {"n": 2}, run_id="r1")
    assert len(ledger_lines()) == 1
    with FlowExecutor([double, charge, after], registry=registry(flow), checkpointer=store) as ex:
        report = ex.verify("r1")
    assert len(ledger_lines()) == 1
    assert report.ok and report.compared == 1
    assert report.withheld == (("pay",),)


def test_map_instances_are_reused_or_withheld_one_by_one(store: Checkpointer) -> None:
    """The run stopped during the third call of a map over `charge`: the first two
    instances are reused, the third is withheld, and no call is made."""

    @tool(name="charge", idempotent=False)
    def charge_twice(n: int) -> Charged:
        """Charges, and stops the process on the third call, after charging."""
        charged = charge(n=n)
        if charged.calls == 3:
            raise KeyboardInterrupt
        return charged

    flow = DAGFlow(
        "fanned",
        [MapStep(id="m", over="xs", tool="charge", item="n", results="r", max_concurrency=1)],
    )
    with (
        FlowExecutor(
            [charge_twice], registry=registry(flow), checkpointer=store, max_concurrency=1
        ) as executor,
        pytest.raises(KeyboardInterrupt),
    ):
        executor.run(flow, {"xs": [1, 2, 3, 4]}, run_id="r1")
    assert len(ledger_lines()) == 3
    with FlowExecutor([charge], registry=registry(flow), checkpointer=store) as executor:
        report = executor.verify("r1")
    assert len(ledger_lines()) == 3
    assert report.reused == (("m", 0), ("m", 1))
    assert report.withheld == (("m", 2),)
    assert report.ok and report.compared == 0  # the map itself was never recorded
    assert not report.result.success


def test_a_live_run_is_verified_without_taking_its_lease(make: Make, store: Checkpointer) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    @tool
    def gate(double: int) -> int:
        """Waits for the test on its first call only."""
        calls.append(double)
        if len(calls) == 1:
            started.set()
            assert release.wait(30)
        return double

    flow = Flow("live", [Step(id="a", tool="double"), Step(id="g", tool="gate")])
    done: list[Any] = []
    with FlowExecutor(
        [double, gate], registry=registry(flow), checkpointer=store, max_concurrency=1
    ) as executor:
        worker = threading.Thread(
            target=lambda: done.append(executor.run(flow, {"n": 2}, run_id="r1"))
        )
        worker.start()
        try:
            assert started.wait(30)
            lease = store.lease("r1")
            assert lease is not None
            report = executor.verify("r1")
            assert store.lease("r1") == lease  # still the run's own
        finally:
            release.set()
            worker.join(30)
    assert report.ok and report.compared == 1  # only `a` was recorded
    assert done and done[0].success


# ---- misuse ----------------------------------------------------------------------------


def test_an_unknown_run_is_refused(make: Make) -> None:
    with pytest.raises(CheckpointNotFoundError):
        make().verify("nope")


def test_a_changed_flow_is_refused(make: Make) -> None:
    flow = Flow("changing", [Step(id="a", tool="double")])
    executor = make(flow)
    executor.run(flow, {"n": 1}, run_id="r1").raise_for_error()
    changed = Flow("changing", [Step(id="a", tool="double"), Step(id="b", tool="inc")])
    with pytest.raises(CheckpointMismatchError) as caught:
        executor.verify("r1", changed)
    assert caught.value.hint == "verify with the flow and tools the run started with"


def test_a_flow_the_registry_does_not_hold_is_not_found(make: Make, store: Checkpointer) -> None:
    flow = Flow("unlisted", [Step(id="a", tool="double")])
    make().run(flow, {"n": 1}, run_id="r1").raise_for_error()
    with pytest.raises(FlowNotFoundError):
        make().verify("r1")


def test_verify_needs_a_store() -> None:
    with FlowExecutor(TOOLS) as executor, pytest.raises(UsageError) as caught:
        executor.verify("r1")
    assert caught.value.code == "DW-E017"
    assert "verify needs a FlowExecutor built with a checkpointer" in caught.value.message


@pytest.mark.parametrize(
    ("args", "kw"),
    [((1,), {}), (("r1", "a name"), {}), (("r1",), {"allow_side_effects": "yes"})],
)
def test_bad_arguments_are_usage_errors(make: Make, args: tuple[Any, ...], kw: Any) -> None:
    with pytest.raises(UsageError):
        make().verify(*args, **kw)


def test_a_journal_dagwright_did_not_write_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "r.db"
    flow = Flow("plain", [Step(id="a", tool="double")])
    with FlowExecutor(TOOLS, registry=registry(flow), checkpointer=SQLiteCheckpointer(path)) as ex:
        ex.run(flow, {"n": 1}, run_id="r1").raise_for_error()
    with sqlite3.connect(path) as db:
        db.execute('UPDATE journal SET entry = \'{"kind": "step"}\'')
    with (
        FlowExecutor(TOOLS, registry=registry(flow), checkpointer=SQLiteCheckpointer(path)) as ex,
        pytest.raises(CheckpointCorruptError),
    ):
        ex.verify("r1")


# ---- the property ----------------------------------------------------------------------

PROPERTY_STORE = InMemoryCheckpointer()
PROPERTY_EXECUTOR = FlowExecutor([mix, amix], checkpointer=PROPERTY_STORE, max_concurrency=4)
RUN_IDS = itertools.count()


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(flow=random_dags())
def test_a_run_of_deterministic_tools_always_reproduces(flow: DAGFlow) -> None:
    run_id = f"p{next(RUN_IDS)}"
    recorded = PROPERTY_EXECUTOR.run(flow, ITEMS, run_id=run_id)
    report = PROPERTY_EXECUTOR.verify(run_id, flow)
    assert report.ok, report.divergence
    assert report.compared == sum(1 for record in recorded.steps for _ in record.walk())
    assert report.result.digest == recorded.digest

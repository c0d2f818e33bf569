"""The executor and the registry: "name@version", statuses at the call, sub-flow pins,
resuming retired versions, and status changes while a run is in flight (both lanes)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import (
    ExecutionResult,
    Flow,
    FlowCompileError,
    FlowExecutor,
    FlowNotFoundError,
    FlowRegistry,
    FlowRetiredError,
    InMemoryCheckpointer,
    MapStep,
    Step,
    UsageError,
    compile_flow,
    tool,
)

pytestmark = pytest.mark.timeout(60)


class Tagged(BaseModel):
    tag: str


class Out(BaseModel):
    out: str


@tool
def tag_one(text: str) -> Tagged:
    """Tag a text, the first way."""
    return Tagged(tag=f"v1:{text}")


@tool
def tag_two(text: str) -> Tagged:
    """Tag a text, the second way."""
    return Tagged(tag=f"v2:{text}")


@tool
def finish(tag: str) -> Out:
    """Finish a tagged text."""
    return Out(out=tag.upper())


def enrich(version: str, tool_name: str) -> Flow:
    return Flow(
        "enrich",
        [Step(tool=tool_name)],
        version=version,
        description="Tags a text.",
        output_schema=Tagged,
    )


V1, V2 = enrich("1", "tag_one"), enrich("2", "tag_two")
TOOLS = [tag_one, tag_two, finish]


def executor(*statuses: tuple[Flow, str], checkpointer: Any = None) -> FlowExecutor:
    registry = FlowRegistry()
    for flow, status in statuses:
        registry.register(flow, status=status)  # type: ignore[arg-type]
    return FlowExecutor(TOOLS, registry=registry, checkpointer=checkpointer)


def last(items: list[Any]) -> ExecutionResult:
    result = items[-1]
    assert isinstance(result, ExecutionResult)
    return result


async def alast(stream: Any) -> ExecutionResult:
    items = [item async for item in stream]
    return last(items)


LANES: dict[str, Callable[[FlowExecutor, Any, dict[str, Any]], ExecutionResult]] = {
    "run": lambda ex, ref, inputs: ex.run(ref, inputs),
    "arun": lambda ex, ref, inputs: asyncio.run(ex.arun(ref, inputs)),
    "stream": lambda ex, ref, inputs: last(list(ex.stream(ref, inputs))),
    "astream": lambda ex, ref, inputs: asyncio.run(alast(ex.astream(ref, inputs))),
}


# ---- "name" and "name@version" at the call ------------------------------------------


@pytest.mark.parametrize("lane", LANES)
def test_a_pinned_reference_runs_that_version_and_a_bare_name_the_latest_active(
    lane: str,
) -> None:
    with executor((V1, "active"), (V2, "active")) as ex:
        run = LANES[lane]
        assert run(ex, "enrich@1", {"text": "a"}).output["tag"] == "v1:a"
        assert run(ex, "enrich@1.0", {"text": "a"}).flow_version == "1"
        latest = run(ex, "enrich", {"text": "a"})
        assert (latest.flow_version, latest.output["tag"]) == ("2", "v2:a")


def test_resolve_and_compile_take_references() -> None:
    with executor((V1, "active"), (V2, "draft")) as ex:
        assert ex.resolve("enrich") is V1
        assert ex.resolve("enrich@2") is V2
        assert ex.compile("enrich@2").flow is V2
        assert ex.compile("enrich").flow is V1


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("enrich@", "nothing after '@'"),
        ("@1", "no flow name"),
        ("enrich@1@2", "more than one '@'"),
        ("enrich@latest", "'latest' is not a PEP 440 version"),
        ("enrich@ 1", "spaces around its version"),
    ],
)
def test_a_malformed_reference_is_a_usage_error(reference: str, says: str) -> None:
    with executor((V1, "active")) as ex:
        for call in (ex.resolve, ex.compile, lambda ref: ex.run(ref, {"text": "a"})):
            with pytest.raises(UsageError, match=says) as caught:
                call(reference)
            assert "name@version" in (caught.value.hint or "")


def test_an_unknown_version_is_not_found_with_the_registered_ones() -> None:
    with executor((V1, "active")) as ex, pytest.raises(FlowNotFoundError, match=r"1 \(active\)"):
        ex.run("enrich@3", {"text": "a"})


# ---- statuses at the call --------------------------------------------------------------


def deprecations(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "flow_deprecated" in r.getMessage()]


@pytest.mark.parametrize("lane", LANES)
def test_a_deprecated_version_runs_with_one_warning_per_run(
    lane: str, caplog: pytest.LogCaptureFixture
) -> None:
    with executor((V1, "deprecated"), (V2, "active")) as ex:
        run = LANES[lane]
        with caplog.at_level(logging.WARNING, logger="dagwright"):
            assert run(ex, "enrich@1", {"text": "a"}).success
            assert run(ex, V1, {"text": "b"}).success, "the object is judged by the registry"
            assert run(ex, "enrich@2", {"text": "c"}).success
        logged = deprecations(caplog)
        assert len(logged) == 2, logged
        assert all("flow='enrich'" in m and "version='1'" in m for m in logged)
        warnings = [r for r in caplog.records if "flow_deprecated" in r.getMessage()]
        assert {r.levelno for r in warnings} == {logging.WARNING}
        assert all("run_id=" in m for m in logged)


def test_a_bare_name_with_no_active_version_runs_the_deprecated_one_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with executor((V1, "deprecated"), (V2, "draft")) as ex:
        with caplog.at_level(logging.WARNING, logger="dagwright"):
            assert ex.run("enrich", {"text": "a"}).flow_version == "1"
        assert len(deprecations(caplog)) == 1


@pytest.mark.parametrize("lane", LANES)
def test_a_retired_version_is_refused_at_the_call_before_anything_is_journaled(
    lane: str,
) -> None:
    store = InMemoryCheckpointer()
    with executor((V1, "retired"), (V2, "active"), checkpointer=store) as ex:
        run = LANES[lane]
        for ref in ("enrich@1", V1):
            with pytest.raises(FlowRetiredError) as caught:
                run(ex, ref, {"text": "a"})
            error = caught.value
            assert (error.code, error.name, error.version) == ("DW-E026", "enrich", "1")
            assert "enrich@2" in (error.hint or ""), "an active version is offered"
        assert list(store.runs()) == []
        assert run(ex, "enrich", {"text": "a"}).flow_version == "2"


def test_a_bare_name_whose_every_version_is_retired_is_refused() -> None:
    with executor((V1, "retired"), (V2, "retired")) as ex:
        with pytest.raises(FlowRetiredError) as caught:
            ex.run("enrich", {"text": "a"})
        assert caught.value.version == "2"
        assert ex.compile("enrich@1").flow is V1, "compiling a retired version still works"


def test_drafts_run_only_when_named() -> None:
    with executor((V1, "active"), (V2, "draft")) as ex:
        assert ex.run("enrich", {"text": "a"}).flow_version == "1"
        assert ex.run("enrich@2", {"text": "a"}).output["tag"] == "v2:a"
        assert ex.run(V2, {"text": "a"}).output["tag"] == "v2:a"


def test_a_flow_object_the_registry_does_not_hold_runs_whatever_its_version() -> None:
    odd = Flow("odd", [Step(tool="tag_one")], version="not-pep-440", description="Odd.")
    with executor((V1, "retired")) as ex:
        assert ex.run(odd, {"text": "a"}).success


# ---- resume ----------------------------------------------------------------------------

FLAKY = {"fail": True}


@tool
def flaky_finish(tag: str) -> Out:
    """Finish, failing while FLAKY says so."""
    if FLAKY["fail"]:
        raise RuntimeError("not yet")
    return Out(out=tag.upper())


PIPELINE = Flow(
    "pipeline",
    [Step(flow="enrich@1"), Step(tool="flaky_finish")],
    version="1",
    description="Tags then finishes.",
)


@pytest.mark.parametrize("lane", ["resume", "aresume"])
def test_a_run_whose_version_was_retired_since_still_resumes(lane: str) -> None:
    store = InMemoryCheckpointer()
    registry = FlowRegistry([V1, PIPELINE])
    FLAKY["fail"] = True
    with FlowExecutor([*TOOLS, flaky_finish], registry=registry, checkpointer=store) as ex:
        failed = ex.run("pipeline", {"text": "a"}, run_id="r1")
        assert not failed.success
        assert [s.status for s in failed.steps] == ["completed", "failed"]
        # Both the flow and the sub-flow version it pins are retired meanwhile.
        registry.set_status("pipeline", "1", "retired")
        registry.set_status("enrich", "1", "retired")
        with pytest.raises(FlowRetiredError):
            ex.run("pipeline@1", {"text": "a"})
        with pytest.raises(FlowCompileError) as caught:
            ex.compile(Flow("caller", [Step(flow="enrich@1")], description="Calls 1."))
        assert "DW113" in {d.code for d in caught.value.diagnostics}
        FLAKY["fail"] = False
        resumed = ex.resume("r1") if lane == "resume" else asyncio.run(ex.aresume("r1"))
    assert resumed.success
    assert resumed.output["out"] == "V1:A"
    assert resumed.flow_version == "1"


def test_a_bare_sub_flow_name_whose_latest_changed_since_refuses_to_resume() -> None:
    from dagwright import CheckpointMismatchError

    store = InMemoryCheckpointer()
    loose = Flow("loose", [Step(flow="enrich"), Step(tool="flaky_finish")], description="L.")
    registry = FlowRegistry([V1, loose])
    FLAKY["fail"] = True
    with FlowExecutor([*TOOLS, flaky_finish], registry=registry, checkpointer=store) as ex:
        assert not ex.run("loose", {"text": "a"}, run_id="r2").success
        registry.register(V2)  # "enrich" now resolves to 2: another plan
        FLAKY["fail"] = False
        with pytest.raises(CheckpointMismatchError):
            ex.resume("r2")
        registry.set_status("enrich", "2", "draft")  # back to 1: it resumes
        assert ex.resume("r2").output["out"] == "V1:A"


# ---- status changes in flight ----------------------------------------------------------

REGISTRY_IN_FLIGHT: dict[str, FlowRegistry] = {}


@tool
def retire_while_running(tag: str) -> Out:
    """Retire pipeline 2 and enrich 1 while this run uses them."""
    registry = REGISTRY_IN_FLIGHT["registry"]
    registry.set_status("inflight", "2", "retired")
    registry.set_status("enrich", "1", "retired")
    return Out(out=tag)


IN_FLIGHT = Flow(
    "inflight",
    [Step(flow="enrich@1"), Step(tool="retire_while_running"), Step(flow="enrich@1", id="again")],
    version="2",
    description="Retires itself half-way.",
    on_context_collision="overwrite",
)


@pytest.mark.parametrize("lane", ["run", "arun"])
def test_a_status_change_in_flight_does_not_touch_the_run_and_the_next_run_sees_it(
    lane: str, caplog: pytest.LogCaptureFixture
) -> None:
    registry = FlowRegistry([V1, IN_FLIGHT])
    REGISTRY_IN_FLIGHT["registry"] = registry
    with FlowExecutor([*TOOLS, retire_while_running], registry=registry) as ex:
        with caplog.at_level(logging.WARNING, logger="dagwright"):
            result = LANES[lane](ex, "inflight", {"text": "a"})
        assert result.success, result.error
        assert [s.step_id for s in result.steps] == ["enrich", "retire_while_running", "again"]
        assert result.output["tag"] == "v1:a", "the sub-flow after the change ran as resolved"
        assert registry.status("inflight", "2") == "retired"
        assert deprecations(caplog) == []
        with pytest.raises(FlowRetiredError):
            LANES[lane](ex, "inflight@2", {"text": "a"})
        registry.set_status("inflight", "2", "active")
        with pytest.raises(FlowCompileError) as caught:
            LANES[lane](ex, "inflight", {"text": "a"})
        assert {d.code for d in caught.value.diagnostics if d.severity == "error"} == {"DW113"}


# ---- sub-flow steps --------------------------------------------------------------------


@pytest.mark.parametrize("lane", ["run", "arun"])
def test_sub_flow_steps_pin_versions_and_bare_names_follow_the_latest_active(lane: str) -> None:
    pinned = Flow("caller", [Step(flow="enrich@1"), Step(tool="finish")], description="Pins.")
    bare = Flow("loose", [Step(flow="enrich"), Step(tool="finish")], description="Follows.")
    registry = FlowRegistry([V1, V2, pinned, bare])
    with FlowExecutor(TOOLS, registry=registry) as ex:
        run = LANES[lane]
        result = run(ex, "caller", {"text": "a"})
        assert result.output["out"] == "V1:A"
        assert [s.step_id for s in result.steps] == ["enrich", "finish"], "the id has no pin"
        assert [s.flow for s in result.steps][:1] == ["enrich@1"]
        assert run(ex, "loose", {"text": "a"}).output["out"] == "V2:A"
        # Deprecating 2 makes 1 the latest active: the next run of "loose" follows.
        registry.set_status("enrich", "2", "deprecated")
        assert run(ex, "loose", {"text": "a"}).output["out"] == "V1:A"
        registry.set_status("enrich", "1", "draft")
        compiled = ex.compile("loose")  # none active: the latest deprecated, with DW406
        assert [d.code for d in compiled.all_warnings] == ["DW406"]
        assert run(ex, "loose", {"text": "a"}).output["out"] == "V2:A"


@pytest.mark.parametrize("lane", ["run", "arun"])
def test_a_map_step_over_a_pinned_sub_flow(lane: str) -> None:
    class Texts(BaseModel):
        texts: list[str]

    fan = Flow(
        "fan",
        [MapStep(over="texts", flow="enrich@1", item="text", results="tags")],
        description="Tags every text with version 1.",
        input_schema=Texts,
    )
    registry = FlowRegistry([V1, V2, fan])
    with FlowExecutor(TOOLS, registry=registry) as ex:
        result = LANES[lane](ex, "fan", {"texts": ["a", "b"]})
    assert result.success, result.error
    assert result.output["tags"] == [{"tag": "v1:a"}, {"tag": "v1:b"}]
    assert result.steps[0].step_id == "enrich"


def test_sub_flow_reference_findings_are_coded() -> None:
    registry = FlowRegistry([V1])
    registry.register(V2, status="draft")
    registry.register(enrich("3", "tag_one"), status="retired")

    def codes(reference: str) -> dict[str, str]:
        flow = Flow("caller", [Step(flow=reference)], description="Calls.")
        try:
            found = compile_flow(flow, TOOLS, registry).diagnostics
        except FlowCompileError as exc:
            found = exc.diagnostics
        return {d.code: f"{d.message} | {d.hint}" for d in found if d.code != "DW404"}

    assert codes("enrich@2") == {}, "a pinned draft compiles"
    unknown = codes("enrich@4")
    assert list(unknown) == ["DW105"]
    assert "version '4', which is not registered" in unknown["DW105"]
    assert "1 (active), 2 (draft), 3 (retired)" in unknown["DW105"]
    assert list(codes("enrich@3")) == ["DW113"]
    registry.set_status("enrich", "1", "draft")
    assert list(codes("enrich")) == ["DW113"], "released versions all retired, drafts aside"
    registry.set_status("enrich", "3", "draft")
    only_drafts = codes("enrich")
    assert list(only_drafts) == ["DW105"] and "only draft versions" in only_drafts["DW105"]
    registry.set_status("enrich", "1", "retired")
    registry.set_status("enrich", "2", "retired")
    retired = codes("enrich")
    assert list(retired) == ["DW113"] and "every released version" in retired["DW113"]


def test_the_compile_cache_follows_status_changes() -> None:
    registry = FlowRegistry([V1])
    caller = Flow("caller", [Step(flow="enrich@1")], description="Pins 1.")
    first = compile_flow(caller, TOOLS, registry)
    assert compile_flow(caller, TOOLS, registry) is first
    registry.set_status("enrich", "1", "deprecated")
    warned = compile_flow(caller, TOOLS, registry)
    assert warned is not first
    assert [d.code for d in warned.diagnostics] == ["DW406"]
    registry.set_status("enrich", "1", "active")
    assert compile_flow(caller, TOOLS, registry) is first, "the same state, the same plan"


@pytest.mark.parametrize("bad", ["enrich@", "@2", "enrich@x.y", "a@1@2"])
def test_a_malformed_sub_flow_reference_is_a_definition_error(bad: str) -> None:
    from dagwright import FlowDefinitionError

    for make in (
        lambda: Step(flow=bad),
        lambda: MapStep(flow=bad, over="xs", item="x", results="r"),
    ):
        with pytest.raises(FlowDefinitionError) as caught:
            make()
        assert caught.value.code == "DW-E006"
        assert "name@version" in (caught.value.hint or "")

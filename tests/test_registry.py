"""FlowRegistry: PEP 440 versions, statuses, copy-on-write entries, threads."""

from __future__ import annotations

import itertools
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from dagwright import (
    DAGFlow,
    Flow,
    FlowCompileError,
    FlowDefinitionError,
    FlowNotFoundError,
    FlowRegistry,
    FlowRetiredError,
    FlowVersion,
    Step,
    UsageError,
)
from dagwright._versions import VERSION_PATTERN, parse_version, reference_problem
from dagwright.registry import STATUSES, version_key

pytestmark = pytest.mark.timeout(60)


def flow(version: str, name: str = "enrich", tool: str = "double") -> Flow:
    return Flow(name, [Step(tool=tool)], version=version, description="Enriches.")


def listed(registry: FlowRegistry, name: str = "enrich") -> list[tuple[str, str]]:
    return [(v.version, v.status) for v in registry.versions(name)]


# ---- PEP 440 order -------------------------------------------------------------------


def test_versions_are_ordered_as_pep_440_orders_them() -> None:
    registry = FlowRegistry()
    given_order = ["2.0", "1.10", "1.9", "2.0rc1", "2.0.post1", "1.0.dev3", "1!0.1", "1.9a2"]
    for version in given_order:
        registry.register(flow(version))
    assert [v.version for v in registry.versions("enrich")] == [
        "1.0.dev3",
        "1.9a2",
        "1.9",
        "1.10",
        "2.0rc1",
        "2.0",
        "2.0.post1",
        "1!0.1",  # an epoch beats every release
    ]
    assert registry.get("enrich").version == "1!0.1"


def test_the_latest_is_numeric_not_textual() -> None:
    registry = FlowRegistry([flow("1.9"), flow("1.10")])
    assert registry.get("enrich").version == "1.10"
    registry = FlowRegistry([flow("2.0"), flow("2.0rc1")])
    assert registry.get("enrich").version == "2.0", "a release candidate comes before"
    registry = FlowRegistry([flow("1.0.post2"), flow("1.0")])
    assert registry.get("enrich").version == "1.0.post2", "a post release comes after"


def test_equal_versions_are_one_version() -> None:
    registry = FlowRegistry([flow("1")])
    generation = registry.generation
    again = flow("1.0")  # the same definition, spelled with another equal version
    assert registry.register(again) is again
    assert registry.generation == generation
    assert listed(registry) == [("1", "active")]
    assert registry.get("enrich", "1.0") is registry.get("enrich", "1")
    assert registry.get("enrich", "1.0.0").version == "1"
    assert registry.status("enrich", "1.0") == "active"


def test_a_different_definition_under_an_equal_version_is_refused() -> None:
    registry = FlowRegistry([flow("1")])
    with pytest.raises(FlowDefinitionError) as caught:
        registry.register(flow("1.0", tool="other"))
    assert caught.value.code == "DW-E006"
    assert "as version '1'" in caught.value.message
    assert "bump `version`" in (caught.value.hint or "")
    with pytest.raises(FlowDefinitionError, match="with a different definition"):
        registry.register(flow("1", tool="other"))
    assert listed(registry) == [("1", "active")]


def test_a_linear_and_a_dag_flow_are_different_definitions() -> None:
    registry = FlowRegistry([flow("1")])
    with pytest.raises(FlowDefinitionError):
        registry.register(DAGFlow("enrich", [Step(id="double", tool="double")], version="1.0"))


@pytest.mark.parametrize("version", ["latest", "1.x", "", "1 2", "v1-beta-final", "2024-01-01a"])
def test_a_version_that_is_not_pep_440_is_refused_at_register(version: str) -> None:
    registry = FlowRegistry()
    with pytest.raises(FlowDefinitionError) as caught:
        registry.register(flow(version))
    error = caught.value
    assert error.code == "DW-E006"
    assert f"flow 'enrich' version {version!r} is not a PEP 440 version" in error.message
    assert "PEP 440" in (error.hint or "")
    assert "enrich" not in registry
    assert registry.generation == 0


def test_a_flow_name_holding_the_reference_separator_is_refused() -> None:
    with pytest.raises(FlowDefinitionError, match="holds '@'") as caught:
        FlowRegistry().register(flow("1", name="enrich@2"))
    assert caught.value.hint


def test_version_key_is_the_pep_440_version() -> None:
    assert version_key("1.10") == Version("1.10")
    assert sorted(["1.10", "1.9", "1.9.1"], key=version_key) == ["1.9", "1.9.1", "1.10"]
    with pytest.raises(FlowDefinitionError, match="not a PEP 440 version"):
        version_key("latest")


_PIECES = ["1", "0", "12", ".", "-", "_", "a", "b", "rc", "c", "pre", "preview", "alpha"]
_PIECES += ["beta", "post", "rev", "r", "dev", "+", "loc", "!", "v", "V", "RC", "Post", "x", " "]


@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=8).map("".join))
def test_the_schema_pattern_for_pins_matches_exactly_what_a_reference_accepts(text: str) -> None:
    # The flow-file schema cannot call packaging: its pattern must agree with it.
    pattern = re.fullmatch(VERSION_PATTERN, text) is not None
    assert pattern == (reference_problem(f"f@{text}") is None), text
    if pattern:
        assert parse_version(text) is not None


# ---- statuses and get ----------------------------------------------------------------


def aged() -> FlowRegistry:
    """enrich 1 retired, 2 deprecated, 3 active, 4 draft."""
    registry = FlowRegistry()
    for version, status in zip("1234", ("retired", "deprecated", "active", "draft"), strict=True):
        registry.register(flow(version), status=status)
    return registry


def test_a_bare_name_gets_the_latest_active_version_never_a_newer_draft() -> None:
    registry = aged()
    assert registry.get("enrich").version == "3"
    entry = registry.entry("enrich")
    assert entry == FlowVersion("3", "active", registry.get("enrich", "3"))


def test_with_a_version_get_returns_it_whatever_its_status() -> None:
    registry = aged()
    for version, status in zip("1234", ("retired", "deprecated", "active", "draft"), strict=True):
        assert registry.get("enrich", version).version == version
        assert registry.status("enrich", version) == status
        assert registry.entry("enrich", version).status == status


def test_without_an_active_version_a_bare_name_falls_back_to_the_latest_deprecated() -> None:
    registry = aged()
    registry.set_status("enrich", "3", "deprecated")
    assert registry.get("enrich").version == "3"
    registry.set_status("enrich", "3", "retired")
    assert registry.entry("enrich") == FlowVersion("2", "deprecated", registry.get("enrich", "2"))


def test_when_every_released_version_is_retired_a_bare_name_is_retired() -> None:
    registry = aged()
    for version in "23":
        registry.set_status("enrich", version, "retired")
    with pytest.raises(FlowRetiredError) as caught:
        registry.get("enrich")
    error = caught.value
    assert (error.code, error.name, error.version) == ("DW-E026", "enrich", "3")
    assert "every released version of flow 'enrich' is retired" in error.message
    assert "4 (draft)" in error.message
    assert "enrich@4" in (error.hint or ""), "the draft is offered, pinned"


def test_with_only_drafts_a_bare_name_is_not_found_and_the_drafts_are_named() -> None:
    registry = FlowRegistry()
    registry.register(flow("1"), status="draft")
    registry.register(flow("2"), status="draft")
    with pytest.raises(FlowNotFoundError) as caught:
        registry.get("enrich")
    assert "only drafts (1, 2)" in caught.value.message
    assert "enrich@2" in (caught.value.hint or "")
    assert registry.get("enrich", "2").version == "2"


def test_unknown_names_and_versions_are_not_found_with_what_is_registered() -> None:
    registry = aged()
    with pytest.raises(FlowNotFoundError, match=r"no flow named 'nope' .*known: enrich"):
        registry.get("nope")
    with pytest.raises(FlowNotFoundError) as caught:
        registry.get("enrich", "9")
    assert "1 (retired), 2 (deprecated), 3 (active), 4 (draft)" in caught.value.message
    with pytest.raises(FlowNotFoundError, match="'latest' is not a PEP 440 version"):
        registry.get("enrich", "latest")
    for call in (lambda: registry.versions("nope"), lambda: registry.status("enrich", "9")):
        with pytest.raises(FlowNotFoundError):
            call()
    with pytest.raises(FlowNotFoundError):
        registry.set_status("enrich", "9", "active")


TRANSITIONS = list(itertools.product(STATUSES, STATUSES))


@pytest.mark.parametrize(
    ("before", "after"), TRANSITIONS, ids=[f"{a}->{b}" for a, b in TRANSITIONS]
)
def test_every_status_transition(before: str, after: str) -> None:
    registry = FlowRegistry([flow("1")])
    registry.register(flow("2"), status=before)
    held = registry.entry("enrich", "2")
    listing = registry.versions("enrich")
    generation = registry.generation
    entry = registry.set_status("enrich", "2.0", after)
    assert entry == FlowVersion("2", after, held.flow)
    assert entry.flow is held.flow
    assert registry.status("enrich", "2") == after
    assert registry.generation == generation + (before != after)
    # Copy-on-write: what was held before the change still says what it said.
    assert held.status == before
    assert listing[1].status == before
    # What a bare name runs now: 2 when it is active or (1 being active) never otherwise.
    assert registry.get("enrich").version == ("2" if after == "active" else "1")


def test_a_bad_status_is_a_usage_error() -> None:
    registry = FlowRegistry()
    with pytest.raises(UsageError, match="'live' is not a flow status") as caught:
        registry.register(flow("1"), status="live")
    assert "draft, active, deprecated, retired" in (caught.value.hint or "")
    assert len(registry) == 0
    registry.register(flow("1"))
    with pytest.raises(UsageError, match="not a flow status"):
        registry.set_status("enrich", "1", "gone")
    assert registry.status("enrich", "1") == "active"


def test_registering_again_keeps_the_status_and_another_status_is_refused() -> None:
    registry = FlowRegistry([flow("1")])
    registry.set_status("enrich", "1", "deprecated")
    generation = registry.generation
    with pytest.raises(UsageError, match="already registered with status 'deprecated'") as caught:
        registry.register(flow("1"))
    assert "set_status" in (caught.value.hint or "")
    registry.register(flow("1"), status="deprecated")  # the same again: a no-op
    assert registry.generation == generation


def test_iteration_len_and_membership_cover_every_version() -> None:
    registry = aged()
    registry.register(flow("1", name="other"))
    assert len(registry) == 5
    assert [(f.name, f.version) for f in registry] == [
        ("enrich", "1"),
        ("enrich", "2"),
        ("enrich", "3"),
        ("enrich", "4"),
        ("other", "1"),
    ]
    assert "enrich" in registry
    assert "enrich@1" not in registry, "membership is by name"


def test_register_still_checks_flows() -> None:
    registry = FlowRegistry()
    with pytest.raises(FlowCompileError) as caught:
        registry.register(
            DAGFlow("broken", [Step(id="a", tool="x", depends_on="b")], version="2.0"),
            status="draft",
        )
    assert {d.code for d in caught.value.diagnostics} == {"DW102"}
    assert "broken" not in registry


def test_a_caller_pinning_a_retired_version_is_registered_and_refused_when_compiled() -> None:
    registry = aged()
    caller = Flow("caller", [Step(flow="enrich@1")], description="Calls 1.")
    assert registry.register(caller) is caller  # the registry may change before it runs
    from dagwright import compile_flow
    from tests.compiler._fixtures import TOOLS

    with pytest.raises(FlowCompileError) as caught:
        compile_flow(caller, TOOLS, registry)
    assert [d.code for d in caught.value.diagnostics if d.severity == "error"] == ["DW113"]


# ---- threads -------------------------------------------------------------------------


def test_threads_registering_and_changing_statuses_at_once_leave_a_consistent_registry() -> None:
    registry = FlowRegistry()
    workers, per_worker = 8, 25
    start = threading.Barrier(workers, timeout=10)
    seen: list[tuple[FlowVersion, ...]] = []

    def work(worker: int) -> None:
        start.wait()  # every worker starts together
        for n in range(per_worker):
            version = f"{worker}.{n}"
            registry.register(flow(version), status="draft")
            registry.set_status("enrich", version, "active")
            if n % 2:
                registry.set_status("enrich", version, "deprecated")
            seen.append(registry.versions("enrich"))

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, range(workers)))

    versions = registry.versions("enrich")
    assert len(versions) == workers * per_worker
    assert [Version(v.version) for v in versions] == sorted(Version(v.version) for v in versions)
    for entry in versions:
        odd = int(entry.version.split(".")[1]) % 2
        assert entry.status == ("deprecated" if odd else "active")
    # one bump per registration and per real status change
    assert registry.generation == workers * per_worker * 2 + workers * (per_worker // 2)
    # every snapshot a reader took was itself sorted, never a half-made listing
    for snapshot in seen:
        keys = [Version(v.version) for v in snapshot]
        assert keys == sorted(keys)
    assert registry.get("enrich").version == f"{workers - 1}.{per_worker - 1}"  # even: active

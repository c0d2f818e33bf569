"""The step cache in runs: hits, misses, records, events and digests, in both lanes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, field_validator

from dagwright import (
    CacheEntry,
    CacheKey,
    DAGFlow,
    Flow,
    FlowExecutor,
    FlowRegistry,
    InMemoryCheckpointer,
    InMemoryStepCache,
    MapStep,
    Step,
    UsageError,
    tool,
)
from dagwright.events import Event, StepCompleted, StepStarted
from tests.conftest import Lane

CALLS: dict[str, int] = {}


def _count(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


@tool(cacheable=True)
def fetch(url: str) -> str:
    """Fetch a page (pure, so cacheable)."""
    _count("fetch")
    return f"page of {url}"


@tool(cacheable=True)
async def afetch(url: str) -> str:
    """Fetch a page asynchronously."""
    _count("afetch")
    await asyncio.sleep(0)
    return f"async page of {url}"


@tool
def measure(fetch: str) -> int:
    """Count characters (not marked cacheable)."""
    _count("measure")
    return len(fetch)


@tool(cacheable=True)
def tags(words: list[str]) -> list[str]:
    """Sorted, unique words."""
    _count("tags")
    return sorted(set(words))


def chain() -> Flow:
    return Flow(name="chain", steps=[Step(tool="fetch"), Step(tool="measure")])


def run_twice(lane: Lane, ex: FlowExecutor, flow: Any, inputs: dict[str, Any]) -> tuple[Any, Any]:
    return lane(ex, flow, inputs), lane(ex, flow, inputs)


def test_a_second_run_hits_and_records_the_same_outputs(lane: Lane) -> None:
    cache = InMemoryStepCache()
    with FlowExecutor([fetch, measure], cache=cache) as ex:
        first, second = run_twice(lane, ex, chain(), {"url": "a"})
    assert CALLS == {"fetch": 1, "measure": 2}
    assert [r.cached for r in first.steps] == [False, False]
    assert [r.cached for r in second.steps] == [True, False]
    assert second.output == first.output == {"url": "a", "fetch": "page of a", "measure": 9}
    assert second.steps[0].outputs == first.steps[0].outputs
    # One completed attempt, as the call would have made: the digest cannot tell.
    assert [a.status for a in second.steps[0].attempts] == ["completed"]
    assert second.digest == first.digest
    assert cache.stats().hits == 1 and cache.stats().misses == 1


def test_digest_is_the_same_without_a_cache_and_across_lanes(lane: Lane) -> None:
    with FlowExecutor([fetch, measure]) as plain:
        reference = plain.run(chain(), {"url": "x"}).digest
    with FlowExecutor([fetch, measure], cache=InMemoryStepCache()) as ex:
        miss, hit = run_twice(lane, ex, chain(), {"url": "x"})
    assert miss.digest == hit.digest == reference
    assert hit.to_dict()["steps"][0]["cached"] is True
    assert "cached" not in hit.steps[0].to_dict(times=False)


def test_only_cacheable_tools_are_cached(lane: Lane) -> None:
    cache = InMemoryStepCache()
    with FlowExecutor([fetch, measure], cache=cache) as ex:
        run_twice(lane, ex, chain(), {"url": "a"})
    assert cache.stats().tools == {"fetch": 1}
    assert CALLS["measure"] == 2


def test_a_cacheable_tool_runs_every_time_without_a_cache(lane: Lane) -> None:
    with FlowExecutor([fetch, measure]) as ex:
        _, second = run_twice(lane, ex, chain(), {"url": "a"})
    assert CALLS["fetch"] == 2
    assert not second.steps[0].cached


def test_async_tools_hit_in_both_lanes(lane: Lane) -> None:
    flow = Flow(name="async_fetch", steps=[Step(tool="afetch")])
    with FlowExecutor([afetch], cache=InMemoryStepCache()) as ex:
        first, second = run_twice(lane, ex, flow, {"url": "u"})
    assert CALLS == {"afetch": 1}
    assert second.steps[0].cached and second.output == first.output


def test_different_inputs_miss(lane: Lane) -> None:
    with FlowExecutor([fetch, measure], cache=InMemoryStepCache()) as ex:
        lane(ex, chain(), {"url": "a"})
        other = lane(ex, chain(), {"url": "b"})
    assert CALLS["fetch"] == 2 and not other.steps[0].cached


def test_the_key_is_the_validated_input(lane: Lane) -> None:
    """A default filled in by validation and the same value given explicitly are one call."""

    @tool(cacheable=True)
    def page(url: str, lang: str = "en") -> str:
        """A page in a language."""
        _count("page")
        return f"{url}/{lang}"

    implicit = Flow(name="implicit", steps=[Step(tool="page", inputs={"url": "u"})])
    explicit = Flow(
        name="explicit",
        steps=[Step(tool="page", inputs={"url": "u", "lang": "lang"})],
    )
    with FlowExecutor([page], cache=InMemoryStepCache()) as ex:
        lane(ex, implicit, {"u": "x"})
        result = lane(ex, explicit, {"u": "x", "lang": "en"})
    assert CALLS["page"] == 1 and result.steps[0].cached


def test_the_input_is_validated_once_per_call(lane: Lane) -> None:
    validations: list[str] = []

    class Query(BaseModel):
        q: str

        @field_validator("q")
        @classmethod
        def _seen(cls, value: str) -> str:
            validations.append(value)
            return value

    @tool(cacheable=True)
    def search(query: Query) -> str:
        """Search."""
        return query.q.upper()

    flow = Flow(name="search_once", steps=[Step(tool="search")])
    with FlowExecutor([search], cache=InMemoryStepCache()) as ex:
        _, hit = run_twice(lane, ex, flow, {"query": {"q": "a"}})
    assert hit.steps[0].cached
    assert validations == ["a", "a"]  # one validation per run, hit or miss


def test_map_items_are_cached_one_by_one(lane: Lane) -> None:
    flow = DAGFlow(
        name="fetch_all",
        steps=[MapStep(id="pages", over="urls", tool="fetch", item="url", results="pages")],
    )
    with FlowExecutor([fetch], cache=InMemoryStepCache()) as ex:
        lane(ex, flow, {"urls": ["a", "b"]})
        result = lane(ex, flow, {"urls": ["b", "c", "a"]})
    assert CALLS["fetch"] == 3
    assert [child.cached for child in result.steps[0].children] == [True, False, True]
    assert result.output["pages"] == [
        {"fetch": "page of b"},
        {"fetch": "page of c"},
        {"fetch": "page of a"},
    ]


def test_steps_inside_sub_flows_hit(lane: Lane) -> None:
    registry = FlowRegistry([Flow(name="inner", steps=[Step(tool="fetch")])])
    outer = Flow(name="outer", steps=[Step(flow="inner"), Step(tool="measure")])
    with FlowExecutor([fetch, measure], registry=registry, cache=InMemoryStepCache()) as ex:
        first, second = run_twice(lane, ex, outer, {"url": "a"})
    assert CALLS["fetch"] == 1
    assert second.steps[0].children[0].cached
    assert not second.steps[0].cached  # the sub-flow step made no call of its own
    assert second.digest == first.digest


def test_completion_events_say_which_calls_hit(lane: Lane) -> None:
    events: list[Event] = []
    with FlowExecutor([fetch, measure], cache=InMemoryStepCache()) as ex:
        lane(ex, chain(), {"url": "a"})
        lane(ex, chain(), {"url": "a"}, hooks=[events.append])
    completed = [(e.step_id, e.cached) for e in events if isinstance(e, StepCompleted)]
    assert completed == [("fetch", True), ("measure", False)]
    started = [e.step_id for e in events if isinstance(e, StepStarted)]
    assert started == ["fetch", "measure"]


def test_hits_are_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with FlowExecutor([fetch, measure], cache=InMemoryStepCache()) as ex:
        ex.run(chain(), {"url": "a"})
        with caplog.at_level(logging.DEBUG, logger="dagwright"):
            ex.run(chain(), {"url": "a"})
    lines = [r.getMessage() for r in caplog.records if "StepCompleted" in r.getMessage()]
    assert any("cached=True" in line and "fetch" in line for line in lines)


def test_a_new_tool_version_or_schema_misses(lane: Lane) -> None:
    cache = InMemoryStepCache()

    def build(version: str, *, wide: bool = False) -> Any:
        if wide:

            @tool(name="fetch", version=version, cacheable=True)
            def fetch_wide(url: str, depth: int = 1) -> str:
                """Fetch to a depth."""
                _count(f"fetch v{version} wide")
                return f"page of {url}"

            return fetch_wide

        @tool(name="fetch", version=version, cacheable=True)
        def fetch_v(url: str) -> str:
            """Fetch."""
            _count(f"fetch v{version}")
            return f"page of {url}"

        return fetch_v

    flow = Flow(name="one", steps=[Step(tool="fetch")])
    for fetcher in (build("1"), build("1"), build("2"), build("2", wide=True)):
        with FlowExecutor([fetcher], cache=cache) as ex:
            lane(ex, flow, {"url": "a"})
    assert CALLS == {"fetch v1": 1, "fetch v2": 1, "fetch v2 wide": 1}
    assert cache.stats().entries == 3


def test_delete_and_clear_invalidate(lane: Lane) -> None:
    cache = InMemoryStepCache()
    flow = Flow(name="two", steps=[Step(tool="fetch"), Step(tool="tags")])
    with FlowExecutor([fetch, tags], cache=cache) as ex:
        lane(ex, flow, {"url": "a", "words": ["b", "a"]})
        assert cache.delete(tool="fetch") == 1
        result = lane(ex, flow, {"url": "a", "words": ["b", "a"]})
        assert [r.cached for r in result.steps] == [False, True]
        assert cache.clear() == 2
        result = lane(ex, flow, {"url": "a", "words": ["b", "a"]})
        assert [r.cached for r in result.steps] == [False, False]
    assert CALLS == {"fetch": 3, "tags": 2}


def test_a_retried_call_is_cached_once_it_succeeds(lane: Lane) -> None:
    from dagwright import RetryPolicy

    failures = [1]

    @tool(cacheable=True)
    def flaky(x: int) -> int:
        """Fails once."""
        _count("flaky")
        if failures:
            failures.pop()
            raise ConnectionError("try again")
        return x + 1

    flow = Flow(name="retry", steps=[Step(tool="flaky", retry=RetryPolicy(max_attempts=2))])
    with FlowExecutor([flaky], cache=InMemoryStepCache()) as ex:
        first, second = run_twice(lane, ex, flow, {"x": 1})
    assert [a.status for a in first.steps[0].attempts] == ["failed", "completed"]
    assert second.steps[0].cached and CALLS["flaky"] == 2
    assert second.output == first.output


def test_a_failed_call_is_not_cached(lane: Lane) -> None:
    @tool(cacheable=True)
    def broken(x: int) -> int:
        """Always fails."""
        _count("broken")
        raise ValueError("no")

    flow = Flow(name="broken", steps=[Step(tool="broken")])
    cache = InMemoryStepCache()
    with FlowExecutor([broken], cache=cache) as ex:
        first, second = run_twice(lane, ex, flow, {"x": 1})
    assert not first.success and not second.success
    assert CALLS["broken"] == 2 and len(cache) == 0


def test_a_cacheable_fallback_hits(lane: Lane) -> None:
    @tool(output="fetch")
    def primary(url: str) -> str:
        """Always fails."""
        raise RuntimeError("down")

    flow = Flow(name="fallback", steps=[Step(tool="primary", on_error="fallback:fetch")])
    with FlowExecutor([primary, fetch], cache=InMemoryStepCache()) as ex:
        first, second = run_twice(lane, ex, flow, {"url": "a"})
    assert second.steps[0].fallback == "fetch" and second.steps[0].cached
    assert CALLS["fetch"] == 1 and second.digest == first.digest


def test_a_timed_call_on_the_pool_hits(lane: Lane) -> None:
    flow = Flow(name="timed", steps=[Step(tool="fetch", timeout_s=30)])
    with FlowExecutor([fetch], cache=InMemoryStepCache()) as ex:
        _, second = run_twice(lane, ex, flow, {"url": "a"})
    assert second.steps[0].cached and CALLS["fetch"] == 1


def test_a_resumed_run_hits_what_another_run_cached(lane: Lane) -> None:
    broken = [True]

    @tool(cacheable=True)
    def publish(fetch: str) -> str:
        """Fails while `broken` says so."""
        _count("publish")
        if broken[0]:
            raise RuntimeError("publisher down")
        return fetch.upper()

    flow = Flow(name="publish", steps=[Step(tool="fetch"), Step(tool="publish")])
    store = InMemoryCheckpointer()
    with FlowExecutor([fetch, publish], cache=InMemoryStepCache(), checkpointer=store) as ex:
        failed = lane(ex, flow, {"url": "a"}, run_id="r1")
        assert not failed.success
        broken[0] = False
        other = lane(ex, flow, {"url": "a"}, run_id="r2")
        assert [r.cached for r in other.steps] == [True, False]
        if lane.lane == "sync":  # type: ignore[attr-defined]
            resumed = ex.resume("r1", flow)
        else:
            resumed = asyncio.run(ex.aresume("r1", flow))
    assert resumed.success and [r.cached for r in resumed.steps] == [False, True]
    assert resumed.digest == other.digest
    assert CALLS == {"fetch": 1, "publish": 2}
    # The journal keeps the flag: a record read back says it came from the cache.
    entries = store.load("r1")[1]
    assert entries[-1]["record"]["cached"] is True


class _Raising:
    def __init__(self, where: str) -> None:
        self.where = where

    def get(self, key: CacheKey) -> CacheEntry | None:
        if self.where == "get":
            raise RuntimeError("cache server down")
        return None

    def put(self, key: CacheKey, entry: CacheEntry) -> None:
        if self.where == "put":
            raise OSError("disk full")


@pytest.mark.parametrize("where", ["get", "put"])
def test_a_failing_cache_never_fails_the_run(
    lane: Lane, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        FlowExecutor([fetch, measure], cache=_Raising(where)) as ex,
        caplog.at_level(logging.WARNING, logger="dagwright"),
    ):
        first, second = run_twice(lane, ex, chain(), {"url": "a"})
    assert first.success and second.success and CALLS["fetch"] == 2
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cache_failed" in m and f"operation='{where}'" in m for m in messages) == 2


class _Untrusted:
    """A cache with no ``trusted`` flag: its hits are validated like calls."""

    def __init__(self) -> None:
        self.entries: dict[CacheKey, CacheEntry] = {}

    def get(self, key: CacheKey) -> CacheEntry | None:
        return self.entries.get(key)

    def put(self, key: CacheKey, entry: CacheEntry) -> None:
        self.entries[key] = entry


def test_an_entry_that_does_not_validate_is_a_miss_and_is_replaced(lane: Lane) -> None:
    cache = _Untrusted()
    flow = Flow(name="one_fetch", steps=[Step(tool="fetch")])
    with FlowExecutor([fetch], cache=cache) as ex:
        lane(ex, flow, {"url": "a"})
        (key,) = list(cache.entries)
        cache.put(key, CacheEntry({"fetch": 42, "extra": True}))
        poisoned = lane(ex, flow, {"url": "a"})
        healed = lane(ex, flow, {"url": "a"})
    assert not poisoned.steps[0].cached and poisoned.output["fetch"] == "page of a"
    assert healed.steps[0].cached and CALLS["fetch"] == 2
    assert cache.entries[key].outputs == {"fetch": "page of a"}


class Checked(BaseModel):
    text: str

    @field_validator("text")
    @classmethod
    def _count(cls, value: str) -> str:
        _count("output validated")
        return value


@tool(cacheable=True)
def checked(word: str) -> Checked:
    """An output whose validation is counted."""
    return Checked(text=word)


@pytest.mark.parametrize(("cache_kind", "validations"), [("trusted", 1), ("untrusted", 2)])
def test_only_hits_of_an_untrusted_cache_are_validated_again(
    lane: Lane, cache_kind: str, validations: int
) -> None:
    cache = InMemoryStepCache() if cache_kind == "trusted" else _Untrusted()
    flow = Flow(name="checked", steps=[Step(tool="checked")])
    with FlowExecutor([checked], cache=cache) as ex:
        CALLS.clear()
        first, second = run_twice(lane, ex, flow, {"word": "w"})
    assert second.steps[0].cached and second.output == first.output
    # The call's output validation, then (untrusted only) the hit's.
    assert CALLS["output validated"] == validations


def test_what_a_caller_does_to_a_result_never_reaches_the_cache(lane: Lane) -> None:
    flow = Flow(name="tags_only", steps=[Step(tool="tags")])
    with FlowExecutor([tags], cache=InMemoryStepCache()) as ex:
        first = lane(ex, flow, {"words": ["b", "a"]})
        first.output["tags"].append("mutated")
        second = lane(ex, flow, {"words": ["b", "a"]})
        second.output["tags"].clear()
        third = lane(ex, flow, {"words": ["b", "a"]})
    assert third.steps[0].cached and third.output["tags"] == ["a", "b"]


def test_a_cache_must_be_a_step_cache() -> None:
    with pytest.raises(UsageError, match="cache must be a StepCache"):
        FlowExecutor([fetch], cache={})  # type: ignore[arg-type]
    with FlowExecutor([fetch], cache=InMemoryStepCache(8)) as ex:
        assert isinstance(ex.cache, InMemoryStepCache)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    urls=st.lists(st.text(max_size=6), max_size=5),
    words=st.lists(st.sampled_from(["x", "y", "z", "ü"]), max_size=6),
    concurrency=st.sampled_from([1, 3, 8]),
    warm=st.sampled_from(["sync", "async"]),
)
def test_digest_is_the_same_hit_or_miss_in_either_lane(
    urls: list[str], words: list[str], concurrency: int, warm: str
) -> None:
    flow = DAGFlow(
        name="mixed",
        steps=[
            MapStep(id="pages", over="urls", tool="fetch", item="url", results="pages",
                    max_concurrency=2),
            Step(id="tags", tool="tags"),
            Step(id="first", tool="fetch", inputs={"url": "seed"}, depends_on=("tags",)),
        ],
    )  # fmt: skip
    inputs = {"urls": urls, "words": words, "seed": "s"}
    with FlowExecutor([fetch, tags], max_concurrency=concurrency) as plain:
        reference = plain.run(flow, inputs)
    digests = set()
    with FlowExecutor([fetch, tags], cache=InMemoryStepCache(), max_concurrency=concurrency) as ex:
        for lane in (warm, "sync", "async"):
            result = ex.run(flow, inputs) if lane == "sync" else asyncio.run(ex.arun(flow, inputs))
            assert result.success and result.output == reference.output
            digests.add(result.digest)
        last = result
    assert digests == {reference.digest}
    assert all(record.cached for record in last.steps[0].children)
    assert last.steps[1].cached and last.steps[2].cached

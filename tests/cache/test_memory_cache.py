"""InMemoryStepCache: LRU order, bounds, copies, statistics, threads."""

from __future__ import annotations

import threading

import pytest

from dagwright import CacheEntry, CacheKey, InMemoryStepCache, StepCache, UsageError


def key(n: int, tool: str = "t", schema: str = "s1") -> CacheKey:
    return CacheKey(tool, schema, f"{n:064x}")


def test_it_is_a_step_cache() -> None:
    assert isinstance(InMemoryStepCache(), StepCache)


def test_get_returns_what_put_stored_or_none() -> None:
    cache = InMemoryStepCache()
    assert cache.get(key(1)) is None
    cache.put(key(1), CacheEntry({"x": [1, 2]}, 5.0))
    assert cache.get(key(1)) == CacheEntry({"x": [1, 2]}, 5.0)
    assert key(1) in cache and len(cache) == 1


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = InMemoryStepCache(max_entries=2)
    cache.put(key(1), CacheEntry({"v": 1}))
    cache.put(key(2), CacheEntry({"v": 2}))
    assert cache.get(key(1)) is not None  # 1 is now the most recently used
    cache.put(key(3), CacheEntry({"v": 3}))
    assert cache.get(key(2)) is None
    assert cache.get(key(1)) is not None and cache.get(key(3)) is not None
    assert len(cache) == 2


def test_putting_a_key_again_replaces_it_and_refreshes_it() -> None:
    cache = InMemoryStepCache(max_entries=2)
    cache.put(key(1), CacheEntry({"v": 1}))
    cache.put(key(2), CacheEntry({"v": 2}))
    cache.put(key(1), CacheEntry({"v": 10}))
    cache.put(key(3), CacheEntry({"v": 3}))
    assert cache.get(key(1)) == CacheEntry({"v": 10})
    assert cache.get(key(2)) is None


def test_entries_are_copied_in_and_out() -> None:
    cache = InMemoryStepCache()
    outputs = {"items": [{"a": 1}]}
    cache.put(key(1), CacheEntry(outputs))
    outputs["items"][0]["a"] = 99
    got = cache.get(key(1))
    assert got is not None
    got.outputs["items"].append("x")  # type: ignore[attr-defined]
    assert cache.get(key(1)) == CacheEntry({"items": [{"a": 1}]})


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8", None])
def test_max_entries_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(UsageError, match="max_entries must be an int >= 1"):
        InMemoryStepCache(max_entries=bad)  # type: ignore[arg-type]


def test_delete_by_tool_and_schema_hash_and_clear() -> None:
    cache = InMemoryStepCache()
    cache.put(key(1, "a", "s1"), CacheEntry({}))
    cache.put(key(2, "a", "s2"), CacheEntry({}))
    cache.put(key(3, "b", "s1"), CacheEntry({}))
    assert cache.delete(tool="a", schema_hash="s2") == 1
    assert cache.stats().tools == {"a": 1, "b": 1}
    assert cache.delete(tool="a") == 1
    assert cache.delete(tool="missing") == 0
    cache.get(key(3, "b", "s1"))
    assert cache.stats().hits == 1
    assert cache.clear() == 1
    assert cache.stats() == (0, {}, 0, 0, None)


def test_stats_count_hits_and_misses() -> None:
    cache = InMemoryStepCache()
    cache.put(key(1), CacheEntry({}))
    cache.get(key(1))
    cache.get(key(1))
    cache.get(key(2))
    stats = cache.stats()
    assert (stats.entries, stats.hits, stats.misses) == (1, 2, 1)
    assert stats.to_dict() == {
        "entries": 1, "tools": {"t": 1}, "hits": 2, "misses": 1, "size_bytes": None
    }  # fmt: skip


def test_many_threads_share_one_cache_within_its_bound() -> None:
    cache = InMemoryStepCache(max_entries=50)
    start = threading.Barrier(8, timeout=10)
    errors: list[BaseException] = []

    def hammer(worker: int) -> None:
        try:
            start.wait()
            for n in range(500):
                k = key((worker * 7 + n) % 120)
                cache.put(k, CacheEntry({"n": k.input_digest}))
                got = cache.get(k)
                if got is not None:
                    assert got.outputs == {"n": k.input_digest}
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert len(cache) == 50
    stats = cache.stats()
    assert stats.hits + stats.misses == 8 * 500

"""SQLiteStepCache: persistence, processes sharing one file, and every file fault coded."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dagwright import (
    CacheEntry,
    CacheError,
    CacheKey,
    CheckpointCorruptError,
    Flow,
    FlowExecutor,
    SQLiteCheckpointer,
    SQLiteStepCache,
    Step,
    StepCache,
    UsageError,
    tool,
)
from tests.conftest import Lane

ROOT = Path(__file__).resolve().parents[2]


def key(n: int, tool: str = "t", schema: str = "s1") -> CacheKey:
    return CacheKey(tool, schema, f"{n:064x}")


CALLS: list[str] = []


@tool(cacheable=True)
def upper(text: str) -> str:
    """Upper-case a text."""
    CALLS.append(text)
    return text.upper()


FLOW = Flow(name="upper", steps=[Step(tool="upper")])


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


def test_it_is_a_step_cache(tmp_path: Path) -> None:
    with SQLiteStepCache(tmp_path / "c.sqlite") as cache:
        assert isinstance(cache, StepCache)


def test_entries_outlive_the_instance(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with SQLiteStepCache(path) as cache:
        cache.put(key(1), CacheEntry({"x": [1, "ü"], "y": None}, 12.5))
    with SQLiteStepCache(path) as cache:
        assert cache.get(key(1)) == CacheEntry({"x": [1, "ü"], "y": None}, 12.5)
        assert cache.get(key(2)) is None
        assert len(cache) == 1


def test_runs_hit_across_executors_and_instances(lane: Lane, tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    for _ in range(2):
        with SQLiteStepCache(path) as cache, FlowExecutor([upper], cache=cache) as ex:
            result = lane(ex, FLOW, {"text": "abc"})
    assert CALLS == ["abc"] and result.steps[0].cached and result.output["upper"] == "ABC"


def test_stats_delete_and_clear(tmp_path: Path) -> None:
    with SQLiteStepCache(tmp_path / "c.sqlite") as cache:
        cache.put(key(1, "a", "s1"), CacheEntry({}))
        cache.put(key(2, "a", "s2"), CacheEntry({}))
        cache.put(key(3, "b"), CacheEntry({}))
        cache.get(key(3, "b"))
        cache.get(key(4))
        stats = cache.stats()
        assert (stats.entries, stats.tools, stats.hits, stats.misses) == (
            3, {"a": 2, "b": 1}, 1, 1
        )  # fmt: skip
        assert stats.size_bytes is not None and stats.size_bytes > 0
        assert cache.delete(tool="a", schema_hash="s1") == 1
        assert cache.delete(tool="a") == 1
        assert cache.clear() == 1
        assert cache.stats()[:4] == (0, {}, 0, 0)


def test_two_processes_writing_the_same_keys_at_once_agree(tmp_path: Path) -> None:
    path, go = tmp_path / "shared.sqlite", tmp_path / "go"
    SQLiteStepCache(path).close()  # both workers open an existing cache
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.cache.cache_worker", str(path), str(go), "200"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    go.touch()
    outputs: list[dict[str, int]] = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        outputs.append(json.loads(out))
    with SQLiteStepCache(path) as cache:
        assert cache.stats().tools == {"square": 200, "direct": 200}
        from tests.cache.cache_worker import FLOW as SQUARES
        from tests.cache.cache_worker import square

        with FlowExecutor([square], cache=cache) as ex:
            again = ex.run(SQUARES, {"numbers": list(range(200))})
    # Each call ran in one worker or both; never neither, and the file holds one entry each.
    assert all(0 <= out["hits"] <= 200 for out in outputs)
    assert all(child.cached for child in again.steps[0].children)
    assert again.output["squares"] == [{"square": n * n} for n in range(200)]


def test_threads_share_one_instance(tmp_path: Path) -> None:
    cache = SQLiteStepCache(tmp_path / "c.sqlite")
    start = threading.Barrier(4, timeout=10)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            start.wait()
            for n in range(100):
                cache.put(key(n), CacheEntry({"n": n}))
                got = cache.get(key((n + worker) % 100))
                assert got is None or got.outputs == {"n": (n + worker) % 100}
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(cache) == 100
    cache.close()


# ---- faults ---------------------------------------------------------------------------


def test_a_missing_directory_is_coded(tmp_path: Path) -> None:
    with pytest.raises(CacheError, match=r"directory .* does not exist") as info:
        SQLiteStepCache(tmp_path / "nowhere" / "c.sqlite")
    assert info.value.code == "DW-E027" and info.value.path == str(
        tmp_path / "nowhere" / "c.sqlite"
    )


def test_a_directory_path_is_coded(tmp_path: Path) -> None:
    with pytest.raises(CacheError, match="is a directory"):
        SQLiteStepCache(tmp_path)


def test_create_false_never_creates(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with pytest.raises(CacheError, match="no step cache at"):
        SQLiteStepCache(path, create=False)
    assert not path.exists()
    path.write_bytes(b"")
    with pytest.raises(CacheError, match="the file is empty"):
        SQLiteStepCache(path, create=False)
    assert path.read_bytes() == b""


def test_an_empty_sqlite_database_is_not_made_a_cache_by_a_reader(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).execute("PRAGMA user_version = 1").connection.close()
    with pytest.raises(CacheError, match="holds no tables"):
        SQLiteStepCache(path, create=False)


def test_a_checkpoint_store_is_not_a_cache_and_back(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    SQLiteCheckpointer(store).close()
    with pytest.raises(CacheError, match="is not a dagwright step cache"):
        SQLiteStepCache(store)
    cache = tmp_path / "cache.sqlite"
    SQLiteStepCache(cache).close()
    with pytest.raises(CheckpointCorruptError, match="not a dagwright store"):
        SQLiteCheckpointer(cache)


def test_a_foreign_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (name TEXT)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(CacheError, match="is not a dagwright step cache"):
        SQLiteStepCache(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_sqlite_is_coded(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a database at all" * 50)
    with pytest.raises(CacheError, match=r"not an SQLite database|is damaged") as info:
        SQLiteStepCache(path)
    assert info.value.hint


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    SQLiteStepCache(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE schema_version SET version = 99")
    db.commit()
    db.close()
    with pytest.raises(CacheError, match="format version 99"):
        SQLiteStepCache(path)


def test_use_after_close_is_coded(tmp_path: Path) -> None:
    cache = SQLiteStepCache(tmp_path / "c.sqlite")
    cache.close()
    cache.close()
    with pytest.raises(CacheError, match="it is closed"):
        cache.get(key(1))


@pytest.mark.parametrize("bad", [{"synchronous": "OFF"}, {"busy_timeout_s": -1},
                                 {"busy_timeout_s": float("nan")}])  # fmt: skip
def test_bad_settings_are_usage_errors(tmp_path: Path, bad: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        SQLiteStepCache(tmp_path / "c.sqlite", **bad)  # type: ignore[arg-type]


def test_outputs_that_are_not_json_are_refused_by_put(tmp_path: Path) -> None:
    with SQLiteStepCache(tmp_path / "c.sqlite") as cache:
        with pytest.raises(CacheError, match="not JSON"):
            cache.put(key(1), CacheEntry({"x": float("nan")}))
        assert len(cache) == 0


def _corrupt_every_entry(path: Path, text: str) -> None:
    db = sqlite3.connect(path)
    db.execute("UPDATE entries SET outputs = ?", (text,))
    db.commit()
    db.close()


@pytest.mark.parametrize("garbage", ["{not json", "[1, 2]"])
def test_an_unreadable_entry_is_coded_and_a_run_replaces_it(
    lane: Lane, tmp_path: Path, garbage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.sqlite"
    with SQLiteStepCache(path) as cache, FlowExecutor([upper], cache=cache) as ex:
        lane(ex, FLOW, {"text": "abc"})
        _corrupt_every_entry(path, garbage)
        (stored,) = cache._db.execute(  # type: ignore[union-attr]
            "SELECT tool, schema_hash, input_digest FROM entries"
        ).fetchall()
        with pytest.raises(CacheError, match="unreadable entry for tool 'upper'"):
            cache.get(CacheKey(*stored))
        with caplog.at_level(logging.WARNING, logger="dagwright"):
            healed = lane(ex, FLOW, {"text": "abc"})
        again = lane(ex, FLOW, {"text": "abc"})
    assert healed.success and not healed.steps[0].cached
    assert any("cache_failed" in r.getMessage() for r in caplog.records)
    assert again.steps[0].cached and CALLS == ["abc", "abc"]


def test_a_lock_held_past_the_busy_timeout_is_coded_and_never_fails_a_run(
    lane: Lane, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.sqlite"
    cache = SQLiteStepCache(path, busy_timeout_s=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(CacheError, match="failed while writing an entry") as info:
            cache.put(key(1), CacheEntry({}))
        assert "busy_timeout_s=0.05" in (info.value.hint or "")
        with FlowExecutor([upper], cache=cache) as ex, caplog.at_level(logging.WARNING):
            result = lane(ex, FLOW, {"text": "x"})
        assert result.success and result.output["upper"] == "X"
        assert any("cache_failed" in r.getMessage() for r in caplog.records)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        cache.close()


def test_an_entry_of_the_wrong_shape_is_validated_away(lane: Lane, tmp_path: Path) -> None:
    """A file anyone can write is not trusted: a hit is validated like a call."""
    path = tmp_path / "c.sqlite"
    with SQLiteStepCache(path) as cache, FlowExecutor([upper], cache=cache) as ex:
        lane(ex, FLOW, {"text": "abc"})
        _corrupt_every_entry(path, '{"upper": ["not", "a", "string"]}')
        result = lane(ex, FLOW, {"text": "abc"})
        again = lane(ex, FLOW, {"text": "abc"})
    assert not result.steps[0].cached and result.output["upper"] == "ABC"
    assert again.steps[0].cached and CALLS == ["abc", "abc"]
    assert not getattr(SQLiteStepCache, "trusted", False)

"""InMemoryStepCache: a bounded, thread-safe LRU of tool results in this process."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from dagwright._execution.canonical import copy_json
from dagwright.cache.protocol import CacheEntry, CacheKey, CacheStats
from dagwright.errors import UsageError


def check_max_entries(value: object) -> int:
    """``value`` as a cache bound: an int >= 1 (``UsageError`` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(
            f"max_entries must be an int >= 1, got {value!r}",
            hint="pass the number of results to keep, e.g. max_entries=1024",
        )
    return value


class InMemoryStepCache:
    """Keeps at most ``max_entries`` results, dropping the least recently used first.

    Safe to share between threads, executors and runs of one process. Entries are
    copied in and out: nothing a run or a caller does to the outputs it got changes
    what the cache holds.

    The cache is ``trusted``: its entries are the outputs the executor validated and
    stored, so hits are not validated again (a hit then costs a key and a lookup).
    Whoever calls :meth:`put` directly must store what a call of the tool returned.
    """

    trusted = True

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = check_max_entries(max_entries)
        self._entries: OrderedDict[CacheKey, CacheEntry] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, key: CacheKey) -> CacheEntry | None:
        """The entry under ``key`` (a copy), marked as just used; ``None`` if absent."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
        return CacheEntry(copy_json(entry.outputs), entry.created_at)

    def put(self, key: CacheKey, entry: CacheEntry) -> None:
        """Store a copy of ``entry`` under ``key``, evicting the least recently used
        entries beyond ``max_entries``."""
        outputs = entry.outputs
        stored = CacheEntry(copy_json(outputs if type(outputs) is dict else dict(outputs)),
                            entry.created_at)  # fmt: skip
        with self._lock:
            entries = self._entries
            if entries.pop(key, None) is None and len(entries) >= self.max_entries:
                entries.popitem(last=False)
            entries[key] = stored

    def delete(self, *, tool: str, schema_hash: str | None = None) -> int:
        """Drop the entries of ``tool`` (only those of one ``schema_hash`` when given);
        returns how many were dropped."""
        with self._lock:
            doomed = [
                key
                for key in self._entries
                if key.tool == tool and (schema_hash is None or key.schema_hash == schema_hash)
            ]
            for key in doomed:
                del self._entries[key]
        return len(doomed)

    def clear(self) -> int:
        """Drop every entry and reset the hit and miss counts; returns how many entries
        were dropped."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            self._hits = self._misses = 0
        return count

    def stats(self) -> CacheStats:
        """Entries (in total and per tool), and this cache's hits and misses."""
        with self._lock:
            tools: dict[str, int] = {}
            for key in self._entries:
                tools[key.tool] = tools.get(key.tool, 0) + 1
            return CacheStats(len(self._entries), tools, self._hits, self._misses, None)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Any) -> bool:
        return key in self._entries

    def __repr__(self) -> str:
        return f"InMemoryStepCache(max_entries={self.max_entries}, entries={len(self)})"

"""The step cache contract: keys, entries, statistics and the :class:`StepCache` protocol.

A cache maps one tool call to the outputs it returned. The key names the call exactly:
the tool's name, its ``schema_hash`` (which covers the tool's version and both JSON
Schemas, so a new version or a changed schema never meets an old entry) and the sha256
of the canonical JSON of the *validated* input. Entries hold the validated, JSON-mode
outputs, as a run's context holds them.

A cache is an optimisation, never a source of truth: a lookup or a store that fails is
logged and the call runs as if the cache were not there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable


class CacheKey(NamedTuple):
    """Which call an entry belongs to: tool name, tool ``schema_hash``, input digest."""

    tool: str
    schema_hash: str
    input_digest: str


class CacheEntry(NamedTuple):
    """A cached result: the call's validated JSON-mode ``outputs``, and when it was stored
    (seconds since the epoch)."""

    outputs: Mapping[str, Any]
    created_at: float = 0.0


class CacheStats(NamedTuple):
    """What a cache holds and how it was used.

    ``entries`` is the number of stored results and ``tools`` the count per tool name.
    ``hits`` and ``misses`` count the lookups made through this cache object since it was
    created (or cleared), in this process. ``size_bytes`` is the size of the store's
    files (``None`` in memory).
    """

    entries: int
    tools: Mapping[str, int]
    hits: int = 0
    misses: int = 0
    size_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "entries": self.entries,
            "tools": dict(sorted(self.tools.items())),
            "hits": self.hits,
            "misses": self.misses,
            "size_bytes": self.size_bytes,
        }


@runtime_checkable
class StepCache(Protocol):
    """Where an executor keeps the results of ``cacheable=True`` tools.

    ``get`` returns the entry stored under ``key`` or ``None``; ``put`` stores one,
    replacing any entry under the same key. Both may be called from many threads at
    once (pool workers, and the event loop's thread for async tools) and must never
    corrupt the store: two concurrent identical calls may both miss, run and ``put``.
    A cache must not share mutable state with what it returns: the caller may keep the
    outputs it got in a run's records.

    The executor validates a hit's outputs against the tool's output model, as it does a
    call's (one that does not validate is a miss), unless the cache has a true
    ``trusted`` attribute: every entry it returns is one ``put`` received in this
    process, unchanged (:class:`~dagwright.cache.InMemoryStepCache` is such a cache).
    """

    def get(self, key: CacheKey) -> CacheEntry | None:
        """The entry under ``key``, or ``None`` when there is none."""
        ...

    def put(self, key: CacheKey, entry: CacheEntry) -> None:
        """Store ``entry`` under ``key``."""
        ...

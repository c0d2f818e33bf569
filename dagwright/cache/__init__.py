"""The step cache: results of ``cacheable=True`` tools, kept across runs.

``FlowExecutor(cache=...)`` takes a :class:`StepCache`: :class:`InMemoryStepCache`
(a bounded LRU in this process) or :class:`SQLiteStepCache` (a file shared by processes).
A call of a cacheable tool is keyed by the tool's name, its ``schema_hash`` and the
sha256 of the canonical JSON of its validated input; a hit skips the call and is
recorded with ``StepRecord.cached=True`` and the same outputs, so the run's digest is
the same hit or miss. See ``docs/concepts/cache.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagwright._lazy import lazy_names
from dagwright.cache.memory import InMemoryStepCache
from dagwright.cache.protocol import CacheEntry, CacheKey, CacheStats, StepCache

if TYPE_CHECKING:
    from dagwright.cache.sqlite import SQLiteStepCache

# The SQLite cache loads on first use (sqlite3 with it).
__getattr__, __dir__ = lazy_names(
    __name__, {"SQLiteStepCache": "dagwright.cache.sqlite"}, globals()
)

__all__ = [
    "CacheEntry",
    "CacheKey",
    "CacheStats",
    "InMemoryStepCache",
    "SQLiteStepCache",
    "StepCache",
]

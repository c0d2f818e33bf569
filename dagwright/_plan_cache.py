"""The executor's cache of compiled plans.

Bounded, so that a long-lived executor handed many distinct flows (flows built per
request, or a registry whose generation keeps moving) does not keep every plan it ever
compiled; least recently used first out, so that the flows it keeps running stay cached.
"""

from __future__ import annotations

from dagwright._misuse import check_plan_cache_size
from dagwright.compiler import CompiledFlow
from dagwright.compiler._cache import LRUCache

PlanCache = LRUCache[CompiledFlow]


def plan_cache(size: int) -> PlanCache:
    """An empty, thread-safe cache of at most ``size`` plans (``UsageError`` unless an int >= 1)."""
    check_plan_cache_size(size)
    return LRUCache(size)

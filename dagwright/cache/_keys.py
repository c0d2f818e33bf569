"""The cache key of one call, and the lookup and store that never break a run."""

from __future__ import annotations

import time
from hashlib import sha256
from typing import Any

from pydantic import BaseModel

from dagwright._execution.canonical import NotJSONError, canonical_json, model_json
from dagwright._logging import get_logger
from dagwright.cache.protocol import CacheEntry, CacheKey, StepCache
from dagwright.tools import Tool


def call_key(tool: Tool, model: BaseModel) -> CacheKey | None:
    """The key of calling ``tool`` with the validated input ``model``: tool name,
    ``schema_hash`` and the sha256 of the canonical JSON of the input. ``None`` when
    the input has no exact JSON form (such a call is never cached)."""
    try:
        text = canonical_json(model_json(model))
    except NotJSONError:
        return None
    return CacheKey(tool.name, tool.schema_hash, sha256(text.encode()).hexdigest())


def lookup(cache: StepCache, key: CacheKey) -> CacheEntry | None:
    """``cache.get(key)``; a cache that raises is logged and counts as a miss."""
    try:
        return cache.get(key)
    except Exception as exc:
        _failed("get", key, exc)
        return None


def store(cache: StepCache, key: CacheKey, outputs: dict[str, Any]) -> None:
    """``cache.put`` of a call's validated outputs; a cache that raises is logged."""
    try:
        cache.put(key, CacheEntry(outputs, time.time()))
    except Exception as exc:
        _failed("put", key, exc)


def _failed(doing: str, key: CacheKey, exc: Exception) -> None:
    # The cache is an optimisation: its faults are reported, and the call goes on.
    get_logger().warning(
        "cache_failed", operation=doing, tool=key.tool, error=f"{type(exc).__name__}: {exc}"
    )

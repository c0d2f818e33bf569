"""Canonical JSON and digests.

Canonical JSON is the one byte form dagwright hashes and stores: keys sorted, no
insignificant white space, UTF-8 text kept as is, NaN and infinities refused (they have
no JSON form, so two runs could not agree on them). Digests are sha256 hex of it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

_ENCODER = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
)


def canonical_json(value: Any) -> str:
    """Return the canonical JSON text of a JSON-mode value (dicts, lists, str, numbers...)."""
    return _ENCODER.encode(value)


def digest(value: Any) -> str:
    """Return the sha256 hex digest of ``canonical_json(value)``."""
    return hashlib.sha256(_ENCODER.encode(value).encode("utf-8")).hexdigest()

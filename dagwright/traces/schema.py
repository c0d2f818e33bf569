"""The JSON Schema (draft 2020-12) of one trace line.

:func:`trace_json_schema` describes what :func:`dagwright.traces.read_traces` accepts on
a line, as strictly as the reader (except that a ``seq`` is unique per session, which a
schema of one line cannot say). ``schemas/trace.schema.json`` in the repository is this
schema; regenerate it with ``python schemas/generate.py``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

SCHEMA_ID = "https://dagwright.dev/schemas/trace.schema.json"
"""The schema's ``$id``."""

DRAFT = "https://json-schema.org/draft/2020-12/schema"

_SCHEMA: dict[str, Any] = {
    "$schema": DRAFT,
    "$id": SCHEMA_ID,
    "title": "dagwright trace line",
    "description": "One tool call of an agent session; a trace file holds one per line "
    "(JSON Lines). See docs/traces.md.",
    "type": "object",
    "required": ["session", "seq", "tool", "arguments"],
    "additionalProperties": False,
    "properties": {
        "session": {
            "type": "string",
            "minLength": 1,
            "description": "The agent session (a conversation, a task) the call belongs to.",
        },
        "seq": {
            "type": "integer",
            "minimum": 0,
            "description": "Orders the calls of a session; unique within it.",
        },
        "tool": {"type": "string", "minLength": 1, "description": "The tool called."},
        "arguments": {"type": "object", "description": "The call's JSON arguments."},
        "result": {
            "type": ["object", "null"],
            "description": "The JSON object the tool returned; null (or absent) when the "
            "call failed.",
        },
        "error": {
            "type": ["string", "null"],
            "description": "The failure's text; null (or absent) on success.",
        },
    },
}


def trace_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one trace line, as a new dict on each call."""
    return copy.deepcopy(_SCHEMA)


def schema_text() -> str:
    """The schema as ``schemas/trace.schema.json`` holds it: sorted keys, indent 2."""
    return json.dumps(_SCHEMA, indent=2, sort_keys=True) + "\n"

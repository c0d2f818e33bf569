"""The JSON Schema (draft 2020-12) of flow files.

:func:`flow_json_schema` describes what :func:`dagwright.load_flow` accepts, as strictly
as the loader: unknown keys are refused everywhere the loader refuses them, a step with
``over`` is a map step. Whether the flow *makes sense* (ids unique, tools known, data
available...) is the compiler's business, not the schema's. ``schemas/flow.schema.json``
in the repository is this schema; regenerate it with::

    python schemas/generate.py
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

from dagwright._versions import SEPARATOR, VERSION_PATTERN
from dagwright.flows import STEP_ID, MapStep, RetryPolicy, Step
from dagwright.io._build import FORMAT_VERSION, TOOL_PATH

SCHEMA_ID = "https://dagwright.dev/schemas/flow.schema.json"
"""The schema's ``$id``: stable across releases for ``format_version`` 1."""

DRAFT = "https://json-schema.org/draft/2020-12/schema"

_NAME = {"type": "string", "minLength": 1}
_ID = {"type": "string", "pattern": f"^{STEP_ID.pattern}$"}
_PIN = f"(?:{SEPARATOR}{VERSION_PATTERN})?"
_REFERENCE = {"type": "string", "pattern": f"^[^{SEPARATOR}]+{_PIN}$"}
"""A flow reference: ``name`` or ``name@version`` (a PEP 440 version)."""
_ID_REFERENCE = {"type": "string", "pattern": f"^{STEP_ID.pattern}{_PIN}$"}
"""A flow reference whose name is a step id (a linear flow's default id comes from it)."""


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _common_step_properties() -> dict[str, Any]:
    return {
        "id": {
            **_nullable(_ID),
            "description": "The step's id: letters, digits, '_', '.', '-'. Required in a "
            "dag; in a linear flow it defaults to the tool or sub-flow name.",
        },
        "tool": {**_nullable({"type": "string"}), "description": "The tool this step calls."},
        "flow": {
            **_nullable(_REFERENCE),
            "description": "The sub-flow this step calls (defined in another file): its "
            "name, for its latest active version, or name@version (a PEP 440 version) to "
            "pin one.",
        },
        "inputs": {
            "type": "object",
            "additionalProperties": {"$ref": "#/$defs/input_source"},
            "description": "Maps the target's input fields to sources: a context key, a "
            "JSON pointer ('/doc/title') or {literal: value}. An unmapped field is read "
            "from the context key of its name.",
        },
        "depends_on": {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "description": "Ids of the steps this one runs after (and whose outputs it sees).",
        },
        "when": {
            **_nullable({"type": "string"}),
            "description": "A predicate over the visible context, such as "
            '"score > 0.5"; false skips the step.',
        },
        "retry": {
            "anyOf": [{"$ref": "#/$defs/retry"}, {"type": "null"}],
            "description": "How a failing call is retried.",
        },
        "timeout_s": {
            **_nullable({"type": "number", "exclusiveMinimum": 0}),
            "description": "Seconds a call may take before it fails.",
        },
        "on_interrupted": {
            "enum": ["fail", "retry"],
            "description": "On resume, a call of an idempotent=False tool that an earlier "
            "session made without recording its result: 'fail' (default, "
            "StepInterruptedError) or 'retry' (call it again with the same idempotency key).",
        },
    }


def _step() -> dict[str, Any]:
    properties = _common_step_properties()
    properties["outputs"] = {
        **_nullable({"type": "object", "additionalProperties": {"type": "string"}}),
        "description": "Maps context keys to output fields, to rename or keep only some.",
    }
    properties["on_error"] = {
        "type": "string",
        "pattern": Step.model_fields["on_error"].metadata[0].pattern,
        "description": "'fail' (default), 'skip', or 'fallback:<tool>'.",
    }
    assert set(properties) == set(Step.model_fields), "the schema lags the Step model"
    return {
        "type": "object",
        "title": "step",
        "description": "A call of one tool or sub-flow.",
        "properties": properties,
        "additionalProperties": False,
        "not": {"required": ["over"]},
    }


def _map_step() -> dict[str, Any]:
    properties = _common_step_properties()
    properties.update(
        over={"type": "string", "description": "The context key (or pointer) of the list."},
        item={"type": "string", "description": "The input field that receives each item."},
        results={"type": "string", "description": "The key of the list of per-item outputs."},
        errors={
            **_nullable({"type": "string"}),
            "description": "With error_policy 'collect', the key of the error records.",
        },
        max_concurrency={
            "type": "integer",
            "description": "At most this many items run at a time (>= 1).",
        },
        error_policy={
            "enum": ["fail_fast", "collect"],
            "description": "'fail_fast' stops at the first failure; 'collect' keeps going.",
        },
    )
    assert set(properties) == set(MapStep.model_fields), "the schema lags the MapStep model"
    return {
        "type": "object",
        "title": "map step",
        "description": "Fan-out: a step with 'over' runs its target once per item of a list.",
        "properties": properties,
        "required": ["over", "item", "results"],
        "additionalProperties": False,
    }


def _retry() -> dict[str, Any]:
    properties = {
        "max_attempts": {"type": "integer", "minimum": 1, "description": "Calls in all, >= 1."},
        "backoff_s": {"type": "number", "minimum": 0, "description": "First delay, seconds."},
        "multiplier": {"type": "number", "minimum": 1, "description": "Delay growth factor."},
        "max_backoff_s": {
            "type": "number",
            "minimum": 0,
            "maximum": RetryPolicy.MAX_DELAY_S,
            "description": "The longest delay, seconds.",
        },
        "retry_on": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Exception class names that are retried.",
        },
    }
    assert set(properties) == set(RetryPolicy.model_fields), "the schema lags RetryPolicy"
    return {
        "type": "object",
        "title": "retry policy",
        "properties": properties,
        "additionalProperties": False,
    }


def _build() -> dict[str, Any]:
    json_schema = {"$ref": "#/$defs/flow_schema"}
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "dagwright flow file",
        "description": "One dagwright flow: a linear flow (kind: flow) or a DAG (kind: dag) "
        "of tool and sub-flow calls. See docs/flow-files.md.",
        "type": "object",
        "required": ["format_version", "kind", "name", "steps"],
        "additionalProperties": False,
        "properties": {
            "$schema": {
                "type": "string",
                "description": "For editors: the URI of this schema. Ignored by the loader.",
            },
            "format_version": {
                "const": FORMAT_VERSION,
                "description": "The flow-file format; always 1.",
            },
            "kind": {
                "enum": ["flow", "dag"],
                "description": "'flow': linear, each step after the one before; 'dag': "
                "edges only from depends_on, every step has an id.",
            },
            "name": {**_NAME, "description": "The flow's name."},
            "version": {
                "type": "string",
                "description": "The flow's version (text): a PEP 440 version such as '1' "
                "or '2.0rc1' to be registered.",
            },
            "description": {"type": "string", "description": "What the flow does."},
            "on_context_collision": {
                "enum": ["overwrite", "warn", "error"],
                "description": "What happens when a later step overwrites a key.",
            },
            "input_schema": {
                **_nullable(json_schema),
                "description": "JSON Schema of the run inputs.",
            },
            "output_schema": {
                **_nullable(json_schema),
                "description": "JSON Schema of what the flow returns as a sub-flow.",
            },
            "tools": {
                "type": "object",
                "additionalProperties": {"type": "string", "pattern": TOOL_PATH},
                "description": "Tool name -> 'module:attribute'; imported only to run.",
            },
            "steps": {
                "type": "array",
                "items": {"oneOf": [{"$ref": "#/$defs/step"}, {"$ref": "#/$defs/map_step"}]},
                "description": "The steps, in declaration order.",
            },
        },
        # In a linear flow a step without an id takes its target's name, which must be one.
        "if": {"properties": {"kind": {"const": "flow"}}, "required": ["kind"]},
        "then": {"properties": {"steps": {"items": {"$ref": "#/$defs/default_id"}}}},
        "$defs": {
            "default_id": {
                "description": "A linear flow's step: an id, or a target whose name is one.",
                "anyOf": [
                    {"required": ["id"], "properties": {"id": {"type": "string"}}},
                    {"required": ["tool"], "properties": {"tool": _ID}},
                    {
                        "properties": {
                            "tool": {"type": "null"},
                            "flow": {"anyOf": [_ID_REFERENCE, {"type": "null"}]},
                        }
                    },
                ],
            },
            "flow_schema": {
                "description": "A JSON Schema object describing an object: 'type: object', "
                "or a '$ref' to such a schema (the loader follows it).",
                "type": "object",
                "$ref": DRAFT,
                "anyOf": [
                    {
                        "required": ["type"],
                        "properties": {"type": {"enum": ["object", ["object"]]}},
                    },
                    {"required": ["$ref"], "not": {"required": ["type"]}},
                ],
            },
            "step": _step(),
            "map_step": _map_step(),
            "retry": _retry(),
            "input_source": {
                "description": "A context key, a JSON pointer, or {literal: value}.",
                "oneOf": [{"type": "string"}, {"$ref": "#/$defs/literal"}],
            },
            "literal": {
                "type": "object",
                "description": "A constant JSON value.",
                "properties": {"literal": {"description": "Any JSON value."}},
                "required": ["literal"],
                "additionalProperties": False,
            },
        },
    }


_SCHEMA = _build()


def flow_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of flow files, as a new dict on each call."""
    return copy.deepcopy(_SCHEMA)


def schema_text() -> str:
    """The schema as ``schemas/flow.schema.json`` holds it: sorted keys, indent 2."""
    return json.dumps(_SCHEMA, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python schemas/generate.py [-o FILE]``: print or write the schema."""
    import argparse

    parser = argparse.ArgumentParser(prog="schemas/generate.py")
    parser.add_argument("-o", "--output", help="write the schema to this file")
    options = parser.parse_args(argv)
    if options.output:
        from dagwright.io.files import _write_atomic

        _write_atomic(options.output, schema_text())
    else:
        sys.stdout.write(schema_text())
    return 0

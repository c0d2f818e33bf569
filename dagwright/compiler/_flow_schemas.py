"""The JSON Schemas of a compiled flow seen as one tool: what it takes, what it returns.

A flow with an ``input_schema`` takes exactly that. Without one, its inputs are the keys
the compiler found that only the caller can provide (``required_inputs`` and
``optional_inputs``), each typed by the fields that read it: one field gives its schema,
several give ``allOf`` (a value must suit every reader), a JSON pointer into it, a
``when`` name or an unknown field leave it open, and a map step's ``over`` makes it an
array. What it returns: its ``output_schema``, else the keys its steps write, typed by
their last writer (the flow's interface as a sub-flow).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagwright._execution.canonical import canonical_json
from dagwright._execution.plan import KEY
from dagwright._json_schema import plain_json
from dagwright.compiler._interfaces import TargetInterface
from dagwright.compiler._state import Analysis

Schema = dict[str, Any]


def derived_input_schema(analysis: Analysis) -> Schema:
    """The input JSON Schema of a flow (its own ``input_schema`` when it has one)."""
    declared = analysis.flow.input_json_schema
    if declared is not None:
        return declared
    readers: dict[str, list[Schema]] = {}
    for state in analysis.in_order():
        for binding in state.bindings:
            source = binding.source
            if source.producers == () and source.kind == KEY:
                readers.setdefault(source.key, []).append(_plain(binding.schema))
            elif source.producers == ():
                readers.setdefault(source.key, []).append({})
        over = state.over
        if over is not None and over.producers == () and over.kind == KEY:
            readers.setdefault(over.key, []).append({"type": "array"})
    properties: dict[str, Schema] = {}
    for key in sorted({*analysis.required_inputs, *analysis.optional_inputs}):
        properties[key] = _all_of(readers.get(key, []))
    schema: Schema = {
        "type": "object",
        "title": f"{analysis.flow.name} inputs",
        "properties": properties,
    }
    if analysis.required_inputs:
        schema["required"] = list(analysis.required_inputs)
    return schema


def derived_output_schema(analysis: Analysis, interface: TargetInterface) -> Schema:
    """The output JSON Schema of a flow (its own ``output_schema`` when it has one)."""
    declared = analysis.flow.output_json_schema
    if declared is not None:
        return declared
    return {
        "type": "object",
        "title": f"{analysis.flow.name} outputs",
        "properties": {name: _plain(field.schema) for name, field in interface.outputs.items()},
    }


def _plain(schema: Mapping[str, Any]) -> Schema:
    """A plain, independent dict copy of a field schema (which may hold read-only maps)."""
    plain: Schema = plain_json(schema)
    return plain


def _all_of(schemas: list[Schema]) -> Schema:
    """What every reader accepts: an open reader (``{}``) adds no constraint, the same
    schema read twice counts once (first-seen order)."""
    seen: dict[str, Schema] = {}
    for schema in schemas:
        if schema:
            seen.setdefault(canonical_json(schema), schema)
    found = list(seen.values())
    if not found:
        return {}
    return found[0] if len(found) == 1 else {"allOf": found}

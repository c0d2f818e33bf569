"""What a step's target looks like from outside: its input and output fields.

A tool's interface comes from its JSON Schemas (a :class:`~dagwright.tools.ToolSpec` is
enough); a sub-flow's from its compiled form. Field schemas are stored with their
``$ref``s inlined, so they can be compared whatever document they came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from dagwright._json_schema import FlowSchema, schema_json
from dagwright.compiler._schemas import ANY, Schema, inline_refs
from dagwright.tools import Tool, ToolSpec


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One input or output field: its JSON Schema (refs inlined) and whether it is required."""

    name: str
    schema: Schema
    required: bool


@dataclass(frozen=True, slots=True)
class TargetInterface:
    """The fields a tool or sub-flow takes and returns, in declaration order."""

    inputs: Mapping[str, FieldSpec]
    outputs: Mapping[str, FieldSpec]


@dataclass(frozen=True, slots=True)
class ToolEntry:
    """A tool as the compiler sees it; ``timeout_s`` only exists when a Tool was given."""

    name: str
    spec: ToolSpec
    timeout_s: float | None

    @property
    def schema_hash(self) -> str:
        """The tool's schema hash (name, version and both JSON Schemas)."""
        return self.spec.schema_hash

    def fingerprint(self) -> tuple[str, str, bool, bool, float | None]:
        """Everything about the tool that can change a compilation result.

        The schema hash alone is not enough: idempotency (DW402), the description (DW403)
        and the timeout (copied into the plan) are not part of it.
        """
        return (
            self.name,
            self.schema_hash,
            self.spec.idempotent,
            bool(self.spec.description.strip()),
            self.timeout_s,
        )


def normalize_tools(
    tools: Iterable[Tool | ToolSpec] | Mapping[str, Tool | ToolSpec],
) -> dict[str, ToolEntry]:
    """Index tools by the name steps use: the mapping key, else the tool's own name.

    When an iterable repeats a name, the later tool wins, as in a dict literal.
    """
    pairs: Iterable[tuple[str, Tool | ToolSpec]] = (
        tools.items() if isinstance(tools, Mapping) else ((t.name, t) for t in tools)
    )
    index: dict[str, ToolEntry] = {}
    for name, item in pairs:
        if isinstance(item, Tool):
            index[name] = ToolEntry(name, item.spec, item.timeout_s)
        elif isinstance(item, ToolSpec):
            index[name] = ToolEntry(name, item, None)
        else:
            raise TypeError(f"tools must be Tool or ToolSpec objects, got {type(item).__name__}")
    return index


def schema_fields(json_schema: Schema) -> dict[str, FieldSpec]:
    """The top-level properties of an object schema, required per its ``required`` list."""
    inlined = inline_refs(json_schema)
    properties = inlined.get("properties")
    required = inlined.get("required")
    needed = set(required) if isinstance(required, list) else set()
    if not isinstance(properties, Mapping):
        return {}
    return {
        name: FieldSpec(name, sub if isinstance(sub, Mapping) else ANY, name in needed)
        for name, sub in properties.items()
    }


def model_fields(model: type[BaseModel]) -> dict[str, FieldSpec]:
    """:func:`schema_fields` of a pydantic model's JSON Schema."""
    return schema_fields(model.model_json_schema())


def flow_schema_fields(schema: FlowSchema) -> dict[str, FieldSpec]:
    """:func:`schema_fields` of a flow's input or output schema, model or JSON Schema."""
    return schema_fields(schema_json(schema) or {})


@lru_cache(maxsize=1024)
def tool_interface(spec: ToolSpec) -> TargetInterface:
    """The interface of a tool, from its input and output JSON Schemas."""
    return TargetInterface(
        inputs=MappingProxyType(schema_fields(spec.input_json_schema)),
        outputs=MappingProxyType(schema_fields(spec.output_json_schema)),
    )


def results_schema(interface: TargetInterface | None) -> Schema:
    """The schema of a map step's ``results``: a list of the target's output dicts."""
    if interface is None:
        return {"type": "array"}
    return {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {name: f.schema for name, f in interface.outputs.items()},
        },
    }


ERRORS_SCHEMA: Schema = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "index": {"type": "integer"},
            "error_type": {"type": "string"},
            "message": {"type": "string"},
        },
    },
}
"""The schema of a map step's ``errors`` list (``error_policy="collect"``)."""


def flow_interface(
    *,
    input_fields: Mapping[str, FieldSpec] | None,
    required_inputs: Iterable[str],
    optional_inputs: Iterable[str],
    output_fields: Mapping[str, FieldSpec] | None,
    output_keys: Iterable[str],
    key_schemas: Mapping[str, Schema],
) -> TargetInterface:
    """A compiled sub-flow's interface.

    Inputs: its ``input_schema`` fields when it has one, else its required and optional
    inputs (types unknown). Outputs: its ``output_schema`` fields when it has one, else
    every key its steps write, typed by the field that last writes it.
    """
    inputs: dict[str, Any]
    if input_fields is not None:
        inputs = dict(input_fields)
    else:
        inputs = {k: FieldSpec(k, ANY, True) for k in required_inputs}
        inputs.update({k: FieldSpec(k, ANY, False) for k in optional_inputs})
    if output_fields is not None:
        outputs = dict(output_fields)
    else:
        outputs = {k: FieldSpec(k, key_schemas.get(k, ANY), False) for k in output_keys}
    return TargetInterface(MappingProxyType(inputs), MappingProxyType(outputs))

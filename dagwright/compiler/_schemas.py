"""JSON Schema reading for the compiler: ``$ref`` inlining, type sets, compatibility.

Type checks work from JSON Schemas only, so a flow can be checked against ``ToolSpec``s
without importing tool code. Each schema is reduced to the set of JSON types it admits;
anything the reduction cannot judge is "unknown" and counts as compatible, because a
false error blocks a valid flow while a missed mismatch is still caught by pydantic at
run time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

Schema = Mapping[str, Any]

ANY: Schema = {}
"""The schema that admits everything (and says nothing about types)."""

_NUMERIC = frozenset({("integer", "number"), ("number", "integer")})


def _lookup(root: Schema, ref: str) -> Schema | None:
    if not ref.startswith("#"):
        return None  # remote references cannot be resolved offline
    node: Any = root
    for raw in ref[1:].split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or token not in node:
            return None
        node = node[token]
    return node if isinstance(node, Mapping) else None


def inline_refs(schema: Schema) -> dict[str, Any]:
    """Return ``schema`` with its local ``$ref``s replaced by their targets.

    Every later step then works on self-contained schemas, whatever document they came
    from. A reference met again inside its own expansion (a recursive model) becomes
    :data:`ANY`. ``$defs`` / ``definitions`` are dropped from the result.
    """
    root = schema

    def walk(node: Any, expanding: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [walk(item, expanding) for item in node]
        if not isinstance(node, Mapping):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in expanding:
                return {}
            target = _lookup(root, ref)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if target is None:
                return walk(siblings, expanding)
            # Siblings of $ref (description, default) annotate; the target carries types.
            return walk({**siblings, **target}, expanding | {ref})
        return {k: walk(v, expanding) for k, v in node.items() if k not in ("$defs", "definitions")}

    result = walk(schema, frozenset())
    return dict(result) if isinstance(result, Mapping) else {}


def value_type(value: Any) -> str | None:
    """The JSON type of a Python value in JSON mode, ``None`` when it has none."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return None


def json_types(schema: Any) -> frozenset[str] | None:
    """The JSON types ``schema`` admits, or ``None`` when it does not say."""
    if not isinstance(schema, Mapping):
        return None
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list) and declared:
        return frozenset(t for t in declared if isinstance(t, str))
    if "const" in schema:
        const_type = value_type(schema["const"])
        return frozenset({const_type}) if const_type else None
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        kinds = {value_type(v) for v in enum}
        return None if None in kinds else frozenset(k for k in kinds if k)
    for union in ("anyOf", "oneOf"):
        members = schema.get(union)
        if isinstance(members, list) and members:
            found: set[str] = set()
            for member in members:
                member_types = json_types(member)
                if member_types is None:
                    return None
                found |= member_types
            return frozenset(found)
    parts = schema.get("allOf")
    if isinstance(parts, list):
        known = [t for t in (json_types(p) for p in parts) if t is not None]
        if known:
            common = frozenset.intersection(*known)
            return common or None
    return None


def _branches(schema: Schema) -> Iterator[Schema]:
    """``schema`` and, recursively, the members of its anyOf / oneOf / allOf."""
    yield schema
    for union in ("anyOf", "oneOf", "allOf"):
        members = schema.get(union)
        if isinstance(members, list):
            for member in members:
                if isinstance(member, Mapping):
                    yield from _branches(member)


def array_items(schema: Schema) -> Schema | None:
    """The item schema of the array ``schema`` admits, when it declares one."""
    for branch in _branches(schema):
        items = branch.get("items")
        if isinstance(items, Mapping):
            return items
    return None


def navigate(schema: Schema, path: tuple[str, ...]) -> Schema | None:
    """The schema of the value a JSON pointer ``path`` reaches inside ``schema``.

    ``None`` when the schema does not describe that far (the check is then skipped).
    """
    current: Schema = schema
    for token in path:
        found: list[Schema] = []
        for branch in _branches(current):
            properties = branch.get("properties")
            if isinstance(properties, Mapping) and isinstance(properties.get(token), Mapping):
                found.append(properties[token])
                continue
            items = branch.get("items")
            if isinstance(items, Mapping) and token.isdigit():
                found.append(items)
                continue
            extra = branch.get("additionalProperties")
            if isinstance(extra, Mapping) and "object" in (json_types(branch) or ()):
                found.append(extra)
        if not found:
            return None
        current = found[0] if len(found) == 1 else {"anyOf": found}
    return current


def compatible(producer: Schema, consumer: Schema) -> bool:
    """True when some value ``producer`` admits may be accepted by ``consumer``.

    Same JSON type, or integer/number either way (an integer is a number; some numbers
    are integers); arrays whose item schemas are both known must have compatible items.
    Unknown types on either side are compatible.
    """
    produced, accepted = json_types(producer), json_types(consumer)
    if produced is None or accepted is None:
        return True
    for p in produced:
        for c in accepted:
            if p != c and (p, c) not in _NUMERIC:
                continue
            if p == c == "array":
                p_items, c_items = array_items(producer), array_items(consumer)
                known = p_items is not None and c_items is not None
                if known and not compatible(p_items or ANY, c_items or ANY):
                    continue
            return True
    return False


def describe(schema: Schema) -> str:
    """A short type label for messages: ``"integer"``, ``"array | null"``, ``"any"``."""
    kinds = json_types(schema)
    if kinds is None:
        return "any"
    label = " | ".join(sorted(kinds))
    if "array" in kinds:
        items = array_items(schema)
        if items is not None and json_types(items) is not None:
            label = label.replace("array", f"array of {describe(items)}")
    return label


def literal_schema(value: Any) -> Schema:
    """A schema admitting exactly the JSON type of a literal value (ANY if it has none)."""
    kind = value_type(value)
    return {"type": kind} if kind else ANY

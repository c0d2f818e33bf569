"""JSON Schema reading for the compiler: ``$ref`` inlining, type sets, compatibility.

Type checks work from JSON Schemas only, so a flow can be checked against ``ToolSpec``s
without importing tool code. Each schema is reduced to the set of JSON types it admits;
anything the reduction cannot judge is "unknown" and counts as compatible, because a
false error blocks a valid flow while a missed mismatch is still caught by pydantic at
run time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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

    See :class:`Comparer` for the rules; unknown types on either side are compatible.
    """
    return Comparer().mismatch(producer, consumer) is None


@dataclass(frozen=True, slots=True)
class Mismatch:
    """Why a producer's schema does not fit a consumer's: where, and what differs.

    ``path`` walks the consumer's type: property names, ``items`` for array elements
    and ``*`` for the values of a mapping; empty at the top.
    """

    path: tuple[str, ...]
    reason: str

    @property
    def where(self) -> str:
        """The path as ``items.text`` (empty at the top)."""
        return ".".join(self.path)


_Node = tuple[Schema, Schema]
"""A schema and the document its local ``$ref``s resolve against."""


class Comparer:
    """Structural JSON Schema compatibility, memoised per (producer, consumer) pair.

    Optimistic, like the type sets: a pair fits when *some* value the producer admits
    may be accepted. Alternatives (``anyOf``/``oneOf``, type lists) fit when any pair of
    them does; ``allOf`` on the consumer must fit part by part. Within a matching type,
    ``const``/``enum`` value sets must meet, array items must fit, and object properties
    must fit by name: a property the consumer requires must exist on the producer (a
    validated producer dumps every property it declares, so its own ``required`` list
    does not matter), and with ``additionalProperties: false`` on the consumer every
    producer property must be one it declares. ``$ref``s resolve against their document;
    a pair met again inside its own comparison (a recursive type) fits, which ends the
    walk. One comparer serves a whole compilation, so a schema pair met by many steps
    (or at many depths) is compared once.
    """

    __slots__ = ("_active", "_keep", "_memo")

    def __init__(self) -> None:
        self._memo: dict[tuple[int, int], Mismatch | None] = {}
        self._active: set[tuple[int, int]] = set()
        self._keep: list[Schema] = []  # the memo is keyed by id: keep the keys alive

    def mismatch(self, producer: Schema, consumer: Schema) -> Mismatch | None:
        """``None`` when ``producer`` fits ``consumer``, else the deepest misfit found."""
        return self._compare((producer, producer), (consumer, consumer))

    def _compare(self, producer: _Node, consumer: _Node) -> Mismatch | None:
        key = (id(producer[0]), id(consumer[0]))
        if key in self._memo:
            return self._memo[key]
        if key in self._active:
            return None
        self._active.add(key)
        try:
            found = self._alternatives(producer, consumer)
        finally:
            self._active.discard(key)
        self._memo[key] = found
        self._keep += (producer[0], consumer[0])
        return found

    def _alternatives(self, producer: _Node, consumer: _Node) -> Mismatch | None:
        parts = consumer[0].get("allOf")
        if isinstance(parts, list) and len(parts) > 1 and "$ref" not in consumer[0]:
            for part in parts:
                if isinstance(part, Mapping):
                    found = self._compare(producer, (part, consumer[1]))
                    if found is not None:
                        return found
            return None
        best: Mismatch | None = None
        for p in _expand(producer):
            for c in _expand(consumer):
                found = self._plain(p, c)
                if found is None:
                    return None
                if best is None or len(found.path) > len(best.path):
                    best = found
        return best

    def _plain(self, producer: _Node, consumer: _Node) -> Mismatch | None:
        """Compare two schemas without unions or references."""
        p, c = producer[0], consumer[0]
        produced, accepted = json_types(p), json_types(c)
        if produced is None or accepted is None:
            return None
        shared = {t for t in produced for a in accepted if t == a or (t, a) in _NUMERIC}
        if not shared:
            return Mismatch((), f"expects {describe(c)}, got {describe(p)}")
        p_values, c_values = _values(p), _values(c)
        if p_values is not None and c_values is not None and not p_values.keys() & c_values:
            return Mismatch((), f"accepts only {_show(c_values)}, got {_show(p_values)}")
        best: Mismatch | None = None
        for kind in sorted(shared):
            if kind == "array":
                found = self._items(producer, consumer)
            elif kind == "object":
                found = self._objects(producer, consumer)
            else:
                found = None
            if found is None:
                return None
            best = found if best is None or len(found.path) > len(best.path) else best
        return best

    def _items(self, producer: _Node, consumer: _Node) -> Mismatch | None:
        p_items, c_items = producer[0].get("items"), consumer[0].get("items")
        if not isinstance(p_items, Mapping) or not isinstance(c_items, Mapping):
            return None
        found = self._compare((p_items, producer[1]), (c_items, consumer[1]))
        return None if found is None else Mismatch(("items", *found.path), found.reason)

    def _objects(self, producer: _Node, consumer: _Node) -> Mismatch | None:
        p, c = producer[0], consumer[0]
        p_props, c_props = p.get("properties"), c.get("properties")
        p_extra, c_extra = p.get("additionalProperties"), c.get("additionalProperties")
        if isinstance(p_extra, Mapping) and isinstance(c_extra, Mapping):
            found = self._compare((p_extra, producer[1]), (c_extra, consumer[1]))
            if found is not None:
                return Mismatch(("*", *found.path), found.reason)
        if not isinstance(p_props, Mapping):
            return None  # the producer does not say which properties it has
        c_props = c_props if isinstance(c_props, Mapping) else {}
        required = c.get("required")
        open_producer = p_extra is True or isinstance(p_extra, Mapping)
        for name in required if isinstance(required, list) else ():
            if name not in p_props and not open_producer:
                return Mismatch((name,), f"requires {name!r}, which the producer lacks")
        for name, p_sub in p_props.items():
            c_sub = c_props.get(name)
            if c_sub is None:
                c_sub = c_extra
                if c_sub is False:
                    return Mismatch(
                        (name,), "takes no such property (additionalProperties is false)"
                    )
            if isinstance(c_sub, Mapping) and isinstance(p_sub, Mapping):
                found = self._compare((p_sub, producer[1]), (c_sub, consumer[1]))
                if found is not None:
                    return Mismatch((name, *found.path), found.reason)
        return None


def _expand(node: _Node, depth: int = 0) -> Iterator[_Node]:
    """The non-union alternatives of a schema, with local ``$ref``s resolved.

    Sibling keywords of a ``$ref`` annotate it; the target carries the type.
    """
    schema, root = node
    ref = schema.get("$ref")
    if isinstance(ref, str) and depth < 32:
        target = _lookup(root, ref)
        if target is None:
            yield ({k: v for k, v in schema.items() if k != "$ref"}, root)
        else:
            yield from _expand(({**schema, **target, "$ref": None}, root), depth + 1)
        return
    for union in ("anyOf", "oneOf"):
        members = schema.get(union)
        if isinstance(members, list) and members:
            for member in members:
                if isinstance(member, Mapping):
                    yield from _expand((member, root), depth + 1)
            return
    parts = schema.get("allOf")
    if isinstance(parts, list) and len(parts) == 1 and isinstance(parts[0], Mapping):
        yield from _expand((parts[0], root), depth + 1)
        return
    yield node


def _values(schema: Schema) -> dict[tuple[str | None, Any], str] | None:
    """The values a ``const``/``enum`` allows (tag -> display), or ``None`` when free.

    Values are tagged with their JSON type so that ``True`` and ``1`` differ, while an
    integer and a number compare by value.
    """
    if "const" in schema:
        raw = [schema["const"]]
    else:
        enum = schema.get("enum")
        if not isinstance(enum, list) or not enum:
            return None
        raw = enum
    found: dict[tuple[str | None, Any], str] = {}
    for v in raw:
        kind = value_type(v)
        if kind in ("integer", "number"):
            tag: tuple[str | None, Any] = ("number", float(v))
        elif kind in ("string", "boolean", "null"):
            tag = (kind, v)
        else:
            tag = (kind, repr(v))
        found[tag] = repr(v)
    return found


def _show(values: dict[tuple[str | None, Any], str]) -> str:
    return ", ".join(values.values())


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

"""A flow's input or output schema written as a JSON Schema document.

A flow's ``input_schema`` / ``output_schema`` is either a pydantic model (flows written in
Python) or a JSON Schema object (flows read from files). The compiler and the run-input
checks work on JSON Schema either way; this module holds the document form,
:class:`JSONSchema`, and the two helpers that treat both forms alike:
:func:`schema_json` (the JSON Schema of either) and :func:`schema_name` (what diagnostics
call it).

``jsonschema`` is imported only when a document is built or a validator compiled, never
when ``dagwright`` is imported.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic_core import core_schema

from dagwright._execution.canonical import NotJSONError, canonical_json, check_json, copy_json
from dagwright.errors import FlowDefinitionError

if TYPE_CHECKING:
    from jsonschema.protocols import Validator
    from pydantic import GetCoreSchemaHandler

_HINT = (
    "a flow schema is a pydantic model class or a JSON Schema (draft 2020-12) object "
    'describing an object, e.g. {"type": "object", "properties": {"q": {"type": "string"}}}'
)


def plain_json(value: Any) -> Any:
    """``value`` with every mapping made a ``dict`` and every tuple a ``list`` (a copy)."""
    if isinstance(value, Mapping):
        return {key: plain_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(item) for item in value]
    return value


def _freeze(value: Any) -> Any:
    """A read-only view of a JSON value: dicts become mapping proxies, lists tuples."""
    if type(value) is dict:
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if type(value) is list:
        return tuple(_freeze(item) for item in value)
    return value


def resolve_local(root: Mapping[str, Any], ref: str) -> Mapping[str, Any] | None:
    """The target of a local ``$ref`` (``#/$defs/Name``) in ``root``; ``None`` otherwise."""
    if not ref.startswith("#"):
        return None
    node: Any = root
    for raw in ref[1:].split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node if isinstance(node, Mapping) else None


def _describes_object(root: Mapping[str, Any]) -> bool:
    node: Mapping[str, Any] | None = root
    seen: set[str] = set()
    # A recursive pydantic model's schema is a top-level $ref into $defs: follow it.
    while node is not None and isinstance(node.get("$ref"), str) and "type" not in node:
        ref = node["$ref"]
        if ref in seen:
            return False
        seen.add(ref)
        node = resolve_local(root, ref)
    if node is None:
        return False
    kind = node.get("type")
    return kind in ("object", ["object"])


_DATA_KEYWORDS = frozenset({"default", "const", "enum", "examples"})
"""Keywords whose values are instances, not schemas: a ``$ref`` inside one is data."""


def _unresolvable_ref(root: Mapping[str, Any]) -> str | None:
    """The first ``$ref`` that cannot be resolved offline, or ``None``.

    A pointer (``#/$defs/Item``) must point into the document. Any other reference needs
    an ``$id`` in the document to resolve against: dagwright never fetches a schema.
    """
    has_ids = False
    refs: list[str] = []
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, item in node.items():
                if key in _DATA_KEYWORDS:
                    continue
                if key == "$ref" and isinstance(item, str):
                    refs.append(item)
                elif key == "$id" and isinstance(item, str):
                    has_ids = True
                else:
                    stack.append(item)
        elif isinstance(node, list):
            stack.extend(node)
    for ref in refs:
        if ref == "#" or ref.startswith("#/"):
            if resolve_local(root, ref) is None:
                return ref
        elif not ref.startswith("#") and not has_ids:
            return ref
    return None


_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly"}
)
_SCOPES = frozenset({"$id", "$anchor", "$dynamicRef", "$dynamicAnchor", "$recursiveRef"})
_INLINE_BUDGET = 20_000
"""Nodes an inlined schema may have; past it, the document is checked as it is."""


class _NotInlinable(Exception):
    pass


def inline_pointers(root: dict[str, Any]) -> dict[str, Any] | None:
    """``root`` with each ``$ref`` replaced by its target, ``None`` when that could change
    what the schema means or cost too much.

    Only ``#/`` pointers are inlined, never a recursive one, and never in a document that
    sets scopes (``$id``, ``$anchor``, dynamic references). A ``$ref`` whose siblings are
    annotations becomes its target with them; one with sibling assertions becomes those
    assertions plus ``allOf: [target]`` (draft 2020-12 applies both). ``$defs`` are
    dropped once nothing points into them.
    """
    budget = [_INLINE_BUDGET]

    def walk(node: Any, expanding: frozenset[str], data: bool) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise _NotInlinable
        if isinstance(node, list):
            return [walk(item, expanding, data) for item in node]
        if not isinstance(node, dict):
            return node
        if data:
            return {key: walk(item, expanding, True) for key, item in node.items()}
        if not _SCOPES.isdisjoint(node):
            raise _NotInlinable
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not (ref == "#" or ref.startswith("#/")) or ref in expanding:
                raise _NotInlinable
            target = resolve_local(root, ref)
            if target is None:
                raise _NotInlinable
            inlined = walk(dict(target), expanding | {ref}, False)
            siblings = walk({k: v for k, v in node.items() if k != "$ref"}, expanding, False)
            if set(siblings) <= _ANNOTATIONS:
                return {**inlined, **siblings}
            return {**siblings, "allOf": [*siblings.get("allOf", []), inlined]}
        return {key: walk(item, expanding, key in _DATA_KEYWORDS) for key, item in node.items()}

    body = {k: v for k, v in root.items() if k not in ("$defs", "definitions")}
    try:
        result: dict[str, Any] = walk(body, frozenset(), False)
    except (_NotInlinable, RecursionError):
        return None
    return result


class JSONSchema(Mapping[str, Any]):
    """An immutable JSON Schema (draft 2020-12) document that describes an object.

    Built from any mapping of JSON values; the mapping is copied, so changing the
    caller's dict afterwards changes nothing, and reading returns read-only views
    (nested objects are mapping proxies, arrays tuples). :meth:`to_dict` gives a fresh
    plain copy. Construction checks the document: JSON values only, a valid draft
    2020-12 schema (``jsonschema``'s ``check_schema``), and ``type: object`` (through
    a top-level local ``$ref``); anything else is a ``FlowDefinitionError``.
    Equal documents are equal and hash alike.
    """

    __slots__ = ("_checking", "_data", "_hash", "_validator", "_view")

    def __init__(self, schema: Mapping[str, Any], *, what: str = "schema") -> None:
        if not isinstance(schema, Mapping):
            raise FlowDefinitionError(
                f"{what} must be a pydantic model class or a JSON Schema object, "
                f"got {type(schema).__name__}",
                hint=_HINT,
            )
        data = plain_json(schema)
        try:
            check_json(data)
        except NotJSONError as exc:
            raise FlowDefinitionError(f"{what} is not JSON: {exc}", hint=_HINT) from exc
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(data)
        except SchemaError as exc:
            where = "/".join(map(str, exc.absolute_path))
            raise FlowDefinitionError(
                f"{what} is not a valid JSON Schema"
                + (f" at {where!r}" if where else "")
                + f": {exc.message}",
                hint=_HINT,
            ) from None
        bad_ref = _unresolvable_ref(data)
        if bad_ref is not None:
            raise FlowDefinitionError(
                f"{what} has a $ref that cannot be resolved: {bad_ref!r}",
                hint="point references into the schema itself, such as '#/$defs/Item'; "
                "schemas are never fetched",
            )
        if not _describes_object(data):
            raise FlowDefinitionError(
                f"{what} must describe an object (a JSON Schema with type: object)",
                hint='add "type": "object" and list the fields under "properties"',
            )
        self._data: dict[str, Any] = data
        self._view: Mapping[str, Any] = _freeze(data)
        self._hash: int | None = None
        self._validator: Validator | None = None
        self._checking: dict[str, Any] | None = None

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Pydantic accepts instances as they are (flows convert dicts beforehand)."""
        return core_schema.is_instance_schema(cls)

    def __getitem__(self, key: str) -> Any:
        return self._view[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._view)

    def __len__(self) -> int:
        return len(self._view)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JSONSchema):
            return self._data == other._data
        if isinstance(other, Mapping):
            return bool(self._data == plain_json(other))
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(canonical_json(self._data))
        return self._hash

    def __repr__(self) -> str:
        return f"JSONSchema({self._data!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (JSONSchema, (self._data,))

    def __copy__(self) -> JSONSchema:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> JSONSchema:
        return self

    @property
    def title(self) -> str | None:
        """The document's ``title``, when it is a non-empty string."""
        title = self._data.get("title")
        return title if isinstance(title, str) and title else None

    def to_dict(self) -> dict[str, Any]:
        """A fresh plain-``dict`` copy of the document, exactly as it was given."""
        result: dict[str, Any] = copy_json(self._data)
        return result

    def checking_form(self) -> Mapping[str, Any]:
        """The document as inputs are checked against it, read-only and shared: with its
        ``$ref``s inlined when that gives the same schema (see :func:`inline_pointers`),
        which validates about twice as fast; else the document itself."""
        if self._checking is None:
            self._checking = inline_pointers(self._data) or self._data
        return MappingProxyType(self._checking)

    def validator(self) -> Validator:
        """A draft 2020-12 validator of :meth:`checking_form`, compiled on first use and
        kept (validators are immutable: runs on many threads may share it)."""
        if self._validator is None:
            from jsonschema import Draft202012Validator

            self.checking_form()
            assert self._checking is not None
            # The form is private to this object and never mutated: no copy.
            self._validator = Draft202012Validator(self._checking)
        return self._validator


FlowSchema = type[BaseModel] | JSONSchema
"""What a flow's ``input_schema`` / ``output_schema`` holds once the flow is built."""


def as_flow_schema(value: Any, what: str) -> Any:
    """``value`` for a flow schema field: a model class as is, a mapping as a
    :class:`JSONSchema` (checked), ``None`` as is; anything else is refused."""
    if value is None or isinstance(value, JSONSchema):
        return value
    if isinstance(value, type) and issubclass(value, BaseModel):
        return value
    return JSONSchema(value, what=what)


def schema_json(schema: FlowSchema | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The JSON Schema of a flow schema, a fresh dict: a model's ``model_json_schema()``,
    a document's own content."""
    if schema is None:
        return None
    if isinstance(schema, JSONSchema):
        return schema.to_dict()
    if isinstance(schema, type):
        return schema.model_json_schema()
    result: dict[str, Any] = plain_json(schema)
    return result


def schema_name(schema: FlowSchema | Mapping[str, Any], what: str) -> str:
    """What messages call a flow schema: the model's name, else the document's
    ``title``, else ``what`` (``"input_schema"``)."""
    if isinstance(schema, type):
        return schema.__name__
    title = schema.get("title")
    return title if isinstance(title, str) and title else what


def schema_label(schema: FlowSchema | Mapping[str, Any], what: str) -> str:
    """``"input_schema In"`` for a named schema, ``"input_schema"`` for an unnamed one."""
    name = schema_name(schema, what)
    return what if name == what else f"{what} {name}"


def validating_model(schema: FlowSchema | None) -> type[BaseModel] | None:
    """The model that validates run inputs, when the schema is one.

    A model and its JSON Schema give one definition digest, but a model validates by
    itself (lax coercions, custom validators), so caches of compiled plans add this to
    their key: each form of a schema gets its own plan.
    """
    return schema if isinstance(schema, type) else None

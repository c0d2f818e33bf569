"""Run inputs checked against a flow's JSON Schema ``input_schema``.

The aim is that a flow behaves the same whether its ``input_schema`` is a pydantic model
or that model's ``model_json_schema()``. So after ``jsonschema`` validates the inputs
(draft 2020-12, local ``$ref``/``$defs`` resolved, formats not asserted), they are
conformed the way pydantic would have built and dumped the model:

* an absent property with a ``default`` gets a (conformed) copy of it, at the top level and in
  nested objects (through local ``$ref``, ``allOf``, the first matching ``anyOf``/``oneOf``
  branch, array ``items``/``prefixItems`` and ``additionalProperties``);
* a key an object schema with ``properties`` does not declare is dropped, unless the
  schema says what to do with extra keys (``additionalProperties`` or
  ``patternProperties``), as pydantic ignores extra fields by default;
* an integer given for a ``number`` (and not ``integer``) becomes a float, as pydantic
  makes an ``int`` given to a ``float`` field a float.

What does not carry over: JSON Schema never coerces (``"5"`` is not an integer, ``1`` not
a boolean) where pydantic's lax mode would, a pydantic ``default_factory`` has no
``default`` in the schema, so its field stays absent, and a ``set`` field (an array with
``uniqueItems``) keeps the order given where the model sorts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dagwright._json_schema import JSONSchema, plain_json, resolve_local, schema_name
from dagwright.errors import FlowInputError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

_JSON_TYPES: dict[type, frozenset[str]] = {
    dict: frozenset({"object"}),
    list: frozenset({"array"}),
    str: frozenset({"string"}),
    bool: frozenset({"boolean"}),
    int: frozenset({"integer", "number"}),
    float: frozenset({"number", "integer"}),  # 1.0 is an integer to JSON Schema
    type(None): frozenset({"null"}),
}
"""The JSON Schema types a (JSON) value of each Python type may satisfy."""

_MAX_MESSAGE = 300
"""Characters of one error message kept (the value is in the error's ``input``)."""

_MAX_REFS = 64
"""``$ref`` hops followed in a row before giving up (a reference cycle)."""


def _details(errors: list[ValidationError]) -> list[dict[str, Any]]:
    """Pydantic-shaped error details (``type``, ``loc``, ``msg``, ``input``), one missing
    entry per absent required property."""
    details: list[dict[str, Any]] = []
    seen_missing: set[tuple[str | int, ...]] = set()
    for error in errors:
        loc: tuple[str | int, ...] = tuple(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                where = (*loc, name)
                if name not in error.instance and where not in seen_missing:
                    seen_missing.add(where)
                    # As pydantic reports it: the input is the object lacking the key.
                    details.append(
                        {
                            "type": "missing",
                            "loc": where,
                            "msg": "Field required",
                            "input": error.instance,
                        }
                    )
            continue
        kind = str(error.validator)
        message = error.message
        if len(message) > _MAX_MESSAGE:  # jsonschema quotes the whole value it refused
            message = message[: _MAX_MESSAGE - 3] + "..."
        details.append({"type": kind, "loc": loc, "msg": message, "input": error.instance})
    return details


def _dotted(loc: tuple[str | int, ...]) -> str:
    return ".".join(map(str, loc))


def check_inputs(flow: str, schema: JSONSchema, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (JSON values) validated against ``schema`` and conformed (module
    docstring); ``FlowInputError`` listing every problem when it does not validate."""
    validator = schema.validator()
    errors = list(validator.iter_errors(data))
    if errors:
        details = _details(errors)
        missing = [_dotted(d["loc"]) for d in details if d["type"] == "missing"]
        raise FlowInputError(
            f"inputs of flow {flow!r} do not match "
            f"{schema_name(schema, 'input_schema')}: {len(details)} error(s): "
            + "; ".join(f"{_dotted(d['loc']) or '(root)'}: {d['msg']}" for d in details),
            missing=missing,
            errors=details,
        )
    result = _Conformer(schema.checking_form(), validator).value(schema.checking_form(), data)
    if not isinstance(result, dict):  # pragma: no cover - an object schema gives an object
        raise FlowInputError(f"inputs of flow {flow!r} are not an object")
    return result


class _Conformer:
    """Walks a validated value alongside its schema, building the conformed copy."""

    def __init__(self, root: Mapping[str, Any], validator: Validator) -> None:
        self.root = root
        self.validator = validator

    def fits(self, schema: Mapping[str, Any], value: Any) -> bool:
        return bool(self.validator.evolve(schema=schema).is_valid(value))

    def branch(self, branches: Any, value: Any) -> Any:
        """The first branch ``value`` is valid under, ``None`` if none is.

        Branches whose declared ``type`` cannot hold the value are passed over without
        validating; when one candidate is left it is taken as is (``Optional[Model]``,
        pydantic's most common union, then costs no validation at all).
        """
        admitted = _JSON_TYPES.get(type(value), frozenset())
        candidates = [b for b in branches if self.may_hold(b, admitted)]
        if len(candidates) == 1:
            return candidates[0]
        return next((b for b in candidates if self.fits(b, value)), None)

    def may_hold(self, schema: Any, admitted: frozenset[str]) -> bool:
        """False only when ``schema`` surely refuses values of the ``admitted`` types."""
        node = schema
        for _ in range(_MAX_REFS):
            if not isinstance(node, Mapping):
                return True
            kind = node.get("type")
            if kind is not None:
                kinds = {kind} if isinstance(kind, str) else set(kind)
                return bool(kinds & admitted)
            ref = node.get("$ref")
            if not isinstance(ref, str):
                return True
            node = resolve_local(self.root, ref)
        return True

    def value(self, schema: Any, value: Any, hops: int = 0, *, prune: bool = True) -> Any:
        """``value`` conformed to ``schema``; ``prune=False`` inside an ``allOf`` part,
        whose siblings may declare the keys it lacks."""
        if not isinstance(schema, Mapping):
            return value  # a boolean schema: nothing to conform
        ref = schema.get("$ref")
        if isinstance(ref, str) and hops < _MAX_REFS:
            target = resolve_local(self.root, ref)
            if target is not None:
                value = self.value(target, value, hops + 1, prune=prune)
        for part in schema.get("allOf", ()):
            value = self.value(part, value, hops, prune=False)
        for keyword in ("anyOf", "oneOf"):
            branches = schema.get(keyword)
            if branches:
                chosen = self.branch(branches, value)
                if chosen is not None:
                    value = self.value(chosen, value, hops, prune=prune)
        kind = type(value)
        if kind is dict:
            return self.object(schema, value, prune)
        if kind is list:
            return self.array(schema, value)
        if kind is int and _is_number(schema.get("type")):
            try:
                return float(value)
            except OverflowError:  # past float's range: kept exact rather than made inf
                return value
        return value

    def object(
        self, schema: Mapping[str, Any], value: dict[str, Any], prune: bool
    ) -> dict[str, Any]:
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        keep_extra = (
            not prune
            or not isinstance(properties, Mapping)
            or "patternProperties" in schema
            or "unevaluatedProperties" in schema
            or (extra is not None and extra is not False)
        )
        if not isinstance(properties, Mapping):
            properties = {}
        if not properties and not isinstance(extra, Mapping):
            return value  # nothing to conform; the (shallow) copy was made by the caller
        result: dict[str, Any] = {}
        for name, sub in properties.items():
            if name in value:
                result[name] = self.value(sub, value[name])
            elif isinstance(sub, Mapping) and "default" in sub:
                # Conformed too: pydantic dumps a default by the field's type (0 -> 0.0).
                result[name] = self.value(sub, plain_json(sub["default"]))
        for name, item in value.items():
            if name in properties or not keep_extra:
                continue
            result[name] = self.value(extra, item) if isinstance(extra, Mapping) else item
        return result

    def array(self, schema: Mapping[str, Any], value: list[Any]) -> list[Any]:
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        if not prefix and not isinstance(items, Mapping):
            return value
        prefix = prefix if isinstance(prefix, list | tuple) else ()
        return [
            self.value(prefix[i] if i < len(prefix) else items, item)
            for i, item in enumerate(value)
        ]


def _is_number(kind: Any) -> bool:
    if kind == "number":
        return True
    return isinstance(kind, list | tuple) and "number" in kind and "integer" not in kind

"""Canonical JSON, digests, and what counts as a JSON value.

Canonical JSON is the one byte form dagwright hashes and stores: keys sorted, no
insignificant white space, UTF-8 text kept as is, NaN and infinities refused (they have
no JSON form, so two runs could not agree on them). Digests are sha256 hex of it.

A *JSON value* is what a run's context may hold: ``dict`` with ``str`` keys, ``list``,
``str`` (valid UTF-8: no lone surrogate), finite ``float``, ``int`` of at most
:data:`MAX_INT_DIGITS` digits, ``bool`` and ``None``, nested at most :data:`MAX_DEPTH`
containers deep. Each of these bounds is where some reader of the value (the JSON
encoder, ``int`` to text, a store reading it back) would fail or disagree.
:func:`check_json` enforces them in one pass; :func:`json_form` also compares a
value's Python form with pydantic's JSON form of it, to catch what that form hides.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel

_ENCODER = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
)

MAX_DEPTH = 200
"""How many containers deep a JSON value may nest (pydantic refuses to dump ~255)."""

MAX_INT_DIGITS = 4300
"""The most decimal digits of an int: Python's default limit of int to text conversion."""

_INT_BOUND = 10**MAX_INT_DIGITS
_INT_FLOOR = -_INT_BOUND  # kept, never negated per check: that would copy 1,800 bytes


class NotJSONError(ValueError):
    """A value with no exact, deterministic JSON form; the message says what and where."""


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# The C encoder behind _ENCODER, built once: JSONEncoder.encode builds one per call, which
# costs more than encoding a small value. No cycle markers: a dict of markers shared by
# threads would see a value two threads encode at once as a cycle, and values reaching
# here are checked JSON (a cycle would still stop, with RecursionError).
_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)  # None without the C module
_C_ENCODER = (
    None
    if _make_encoder is None
    else _make_encoder(
        None, _not_json, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )
)


def canonical_json(value: Any) -> str:
    """Return the canonical JSON text of a JSON-mode value (dicts, lists, str, numbers...).

    Keys sorted, no insignificant white space, text kept as is, NaN and infinities
    refused (``ValueError``), anything else that is not JSON refused (``TypeError``).
    """
    if _C_ENCODER is None or type(value) is str:
        return _ENCODER.encode(value)
    return "".join(_C_ENCODER(value, 0))


def digest(value: Any) -> str:
    """Return the sha256 hex digest of ``canonical_json(value)``."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value: its dicts and lists are new, scalars are shared."""
    kind = type(value)
    if kind is dict:
        return {key: copy_json(item) for key, item in value.items()}
    if kind is list:
        return [copy_json(item) for item in value]
    return value


def _show(value: Any) -> str:
    try:
        return repr(value)
    except ValueError:  # an int too long to write
        return f"an {type(value).__name__} too long to show"


def _at(where: str) -> str:
    return f" at {where!r}" if where else ""


def _check_text(text: str, where: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise NotJSONError(f"a string{_at(where)} holds a lone surrogate") from None


def _check_scalar(value: Any, where: str) -> None:
    kind = type(value)
    if kind is str:
        _check_text(value, where)
    elif kind is float:
        if not math.isfinite(value):
            raise NotJSONError(f"{value!r}{_at(where)} has no JSON form")
    elif kind is int:
        if not _INT_FLOOR < value < _INT_BOUND:
            raise NotJSONError(f"an int{_at(where)} has more than {MAX_INT_DIGITS} digits")
    elif kind is not bool and value is not None:
        raise NotJSONError(f"a {kind.__name__}{_at(where)} is not a JSON value")


def flat_json(value: dict[Any, Any]) -> bool:
    """True when ``value`` is plainly a JSON value: ASCII ``str`` keys, small scalars.

    The usual value (a tool's output, a run's inputs) in one loop with no allocation;
    ``False`` says only that :func:`check_json` must look closer.
    """
    for key in value:
        if type(key) is not str or not key.isascii():
            return False
    return flat_values(value.values())


def flat_values(values: Iterable[Any]) -> bool:
    """True when every one of ``values`` is plainly a JSON scalar (see :func:`flat_json`)."""
    for item in values:
        kind = type(item)
        if kind is int:
            if _INT_FLOOR < item < _INT_BOUND:
                continue
        elif kind is str:
            if item.isascii():
                continue
        elif kind is bool or item is None or (kind is float and item - item == 0.0):
            continue
        return False
    return True


def check_json(value: Any) -> None:
    """Raise :class:`NotJSONError` unless ``value`` is a JSON value (module docstring)."""
    if type(value) is dict:
        if flat_json(value):
            return
    elif type(value) is not list:
        _check_scalar(value, "")
        return
    # Iterative, so that depth costs no Python stack; scalars are checked in place.
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        container, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise NotJSONError(f"a value{_at(where)} nests deeper than {MAX_DEPTH} containers")
        if type(container) is dict:
            for key, item in container.items():
                if type(key) is not str:
                    raise NotJSONError(f"a dict key {_show(key)}{_at(where)} is not a string")
                _check_text(key, where)
                kind = type(item)
                if kind is dict or kind is list:
                    stack.append((item, f"{where}/{key}", depth + 1))
                elif kind is not int or not _INT_FLOOR < item < _INT_BOUND:
                    _check_scalar(item, f"{where}/{key}")
        else:
            for position, item in enumerate(container):
                kind = type(item)
                if kind is dict or kind is list:
                    stack.append((item, f"{where}/{position}", depth + 1))
                elif kind is not int or not _INT_FLOOR < item < _INT_BOUND:
                    _check_scalar(item, f"{where}/{position}")


def _sort_key(items: list[Any]) -> Any:
    if all(type(x) is str for x in items):
        return None
    if all(type(x) is int or type(x) is float for x in items):
        return None
    return canonical_json


def json_form(python: Any, data: Any, where: str = "", depth: int = 0) -> Any:
    """``data`` (pydantic's JSON form of ``python``) with sets sorted, checked against it.

    pydantic's JSON form hides what has no JSON form: NaN and infinity inside an ``Any``
    value become ``null``, dict keys become their ``str()`` (so ``1`` and ``"1"``
    collide), and a set becomes a list in hash order, which differs between processes.
    Walking both forms together refuses the first two and sorts the third: strings and
    numbers by value, anything else by canonical JSON text.
    """
    if depth > MAX_DEPTH:
        raise NotJSONError(f"a value{_at(where)} nests deeper than {MAX_DEPTH} containers")
    if isinstance(python, float):
        if not math.isfinite(python):
            raise NotJSONError(f"{python!r}{_at(where)} has no JSON form")
        return data
    if isinstance(python, Mapping) and type(data) is dict:
        for key in python:
            if not isinstance(key, str):
                raise NotJSONError(f"a dict key {_show(key)}{_at(where)} is not a string")
            if key in data:
                data[key] = json_form(python[key], data[key], f"{where}/{key}", depth + 1)
        return data
    if isinstance(python, list | tuple) and type(data) is list and len(python) == len(data):
        for i, item in enumerate(python):
            data[i] = json_form(item, data[i], f"{where}/{i}", depth + 1)
        return data
    if isinstance(python, set | frozenset) and type(data) is list and len(python) == len(data):
        # Both forms iterate the one set object, so their orders match element by element.
        pairs = enumerate(zip(python, data, strict=True))
        items = [json_form(x, y, f"{where}/{i}", depth + 1) for i, (x, y) in pairs]
        try:
            return sorted(items, key=_sort_key(items))
        except (TypeError, ValueError):
            raise NotJSONError(f"a set{_at(where)} has elements with no JSON form") from None
    return data


def schema_nodes(schema: Any) -> Iterator[dict[str, Any]]:
    """Every node of a pydantic core schema that names its ``type``."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "type" in node:
                yield node
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)


# Core schema types whose JSON form can hide a non-JSON value (see json_form): models
# that may hold one are dumped twice, in Python and JSON mode, and the two compared.
_HIDING = frozenset({"any", "set", "frozenset", "is-instance"})
_risky: dict[type[BaseModel], bool] = {}


def _hides(cls: type[BaseModel]) -> bool:
    # Keys of other dumps are the model's field names, fixed and checked here once.
    if cls.model_config.get("extra") == "allow":
        return True
    for name, info in cls.model_fields.items():
        if not name.isascii() or not (info.serialization_alias or "").isascii():
            return True
    for node in schema_nodes(cls.__pydantic_core_schema__):
        kind = node["type"]
        if kind in _HIDING or "serialization" in node:
            return True
        if kind == "dict" and node.get("keys_schema", {}).get("type") != "str":
            return True
    return False


def model_json(model: BaseModel) -> dict[str, Any]:
    """``model``'s JSON-mode dump, checked to be an exact JSON value (sets sorted).

    Raises :class:`NotJSONError` when it has none: pydantic cannot dump it, it holds a
    cycle, or any value breaks the rules of :func:`check_json` or :func:`json_form`.
    """
    cls = type(model)
    risky = _risky.get(cls)
    if risky is None:
        risky = _risky[cls] = _hides(cls)
    serializer = model.__pydantic_serializer__
    try:
        data = serializer.to_python(model, mode="json")
        if risky:
            data = json_form(serializer.to_python(model, warnings=False), data)
    except NotJSONError:
        raise
    except (ValueError, TypeError, RecursionError) as exc:
        raise NotJSONError(f"pydantic could not write it as JSON: {exc}") from exc
    if not risky:
        # flat_values, inlined: this runs once per tool call, and the call costs more
        # than the loop on a one-field output.
        for item in data.values():
            kind = type(item)
            if kind is int:
                if _INT_FLOOR < item < _INT_BOUND:
                    continue
            elif kind is str:
                if item.isascii():
                    continue
            elif kind is bool or item is None or (kind is float and item - item == 0.0):
                continue
            break
        else:
            return data  # type: ignore[no-any-return]
    check_json(data)
    return data  # type: ignore[no-any-return]

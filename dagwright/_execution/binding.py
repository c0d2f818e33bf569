"""Input binding: fill a step's input fields from the visible context.

A step never sees a merged context. Each value it reads was resolved at compile time to
a :class:`~dagwright._execution.plan.Source` naming the ancestor steps that may have
written it (latest first) and whether the flow inputs may hold it; binding walks those
few candidates. A value found nowhere is ``MISSING``: its producer was skipped or an
optional input was not given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from dagwright._execution.plan import KEY, LITERAL, POINTER, FieldBinding, Source


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()
"""Sentinel for a value that no producer wrote and no input holds."""


def follow_pointer(value: Any, path: tuple[str, ...]) -> Any:
    """Walk decoded JSON-pointer tokens into ``value``; ``MISSING`` if a token is absent."""
    for token in path:
        if isinstance(value, Mapping):
            if token not in value:
                return MISSING
            value = value[token]
        elif isinstance(value, list):
            # RFC 6901 array indices: ASCII decimal digits (str.isdigit alone also takes
            # "²" and Arabic-Indic digits), no leading zeros; "-" is past the end.
            if not (token.isascii() and token.isdigit()) or (len(token) > 1 and token[0] == "0"):
                return MISSING
            position = int(token)
            if position >= len(value):
                return MISSING
            value = value[position]
        else:
            return MISSING
    return value


def lookup(
    source: Source,
    outputs: Sequence[Mapping[str, Any] | None],
    inputs: Mapping[str, Any],
) -> Any:
    """The value ``source`` names, from step ``outputs`` (by step index) or ``inputs``."""
    if source.kind == LITERAL:
        return source.value
    key = source.key
    for producer in source.producers:
        written = outputs[producer]
        if written is not None and key in written:
            value = written[key]
            break
    else:
        if source.from_input and key in inputs:
            value = inputs[key]
        else:
            return MISSING
    if source.kind == POINTER:
        return follow_pointer(value, source.path)
    return value


def bind(
    bindings: tuple[FieldBinding, ...],
    outputs: Sequence[Mapping[str, Any] | None],
    inputs: Mapping[str, Any],
) -> tuple[dict[str, Any], list[str]]:
    """Return the bound input fields and the names of required fields with no value.

    An optional field with no value is left out so the tool's default applies.
    """
    bound: dict[str, Any] = {}
    missing: list[str] = []
    for binding in bindings:
        source = binding.source
        if source.kind == KEY:  # the common case, inlined: one producer wrote it
            key = source.key
            for producer in source.producers:
                written = outputs[producer]
                if written is not None and key in written:
                    bound[binding.field] = written[key]
                    break
            else:
                if source.from_input and key in inputs:
                    bound[binding.field] = inputs[key]
                elif binding.required:
                    missing.append(binding.field)
            continue
        value = lookup(source, outputs, inputs)
        if value is MISSING:
            if binding.required:
                missing.append(binding.field)
        else:
            bound[binding.field] = value
    return bound, missing

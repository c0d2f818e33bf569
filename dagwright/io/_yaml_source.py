"""Read YAML flow files into plain values and the position of every key and item.

Values are built from PyYAML's event stream (libyaml's parser when it is installed),
never by a PyYAML constructor, so that no tag can build an object: only the standard
scalar tags (str, int, float, bool, null) and plain lists and mappings are accepted.
Building from events is also iterative (no Python recursion, whatever the nesting) and
sees every alias where it is written.

Refused, each with its position: duplicate keys, keys that are not text, aliases
(``*name``; anchors alone are harmless), merge keys (``<<``), tags other than the
standard ones, timestamps and binary data, ``.inf`` / ``.nan``, integers longer than
Python converts, nesting deeper than :data:`MAX_NESTING`, more than :data:`MAX_VALUES` values, more
than one document.
Refusing aliases rules out "billion laughs" documents, which expand a few lines of
aliases into exponentially many values.
"""

from __future__ import annotations

import functools
import importlib
import math
import re
from typing import Any

from dagwright._source import Location, Position
from dagwright.errors import FlowFileError

MAX_NESTING = 256
"""How many lists and mappings deep a flow file may nest."""

MAX_VALUES = 1_000_000
"""How many values (scalars, lists, mappings) a flow file may hold: a 10,000-step flow
holds a few hundred thousand, and each costs memory for itself and its position."""


def too_many(path: str | None, line: int, col: int) -> FlowFileError:
    """The error of a file holding more than :data:`MAX_VALUES` values."""
    return FlowFileError(
        f"the file holds more than {MAX_VALUES:,} values",
        path=path,
        line=line,
        col=col,
        hint="a flow file describes steps; keep large data out of it",
    )


YAML_HINT = "install PyYAML to read YAML flow files: pip install 'dagwright[yaml]'"

_STR = "tag:yaml.org,2002:str"
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "value")
)
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"


class Parsed:
    """A document's value and positions: ``positions`` of keys and items (and of the
    document), ``values`` where each mapping entry's value starts (after its key)."""

    __slots__ = ("positions", "value", "values")

    def __init__(self) -> None:
        self.value: Any = None
        self.positions: dict[Location, Position] = {}
        self.values: dict[Location, Position] = {}


def yaml_module() -> Any:
    """PyYAML, imported on first use (``FlowFileError`` with the install hint without it)."""
    try:
        return importlib.import_module("yaml")
    except ImportError:
        raise FlowFileError(
            "reading a YAML flow file needs PyYAML, which is not installed", hint=YAML_HINT
        ) from None


class _Container:
    __slots__ = ("data", "key", "key_at", "location")

    def __init__(self, data: dict[str, Any] | list[Any], location: Location) -> None:
        self.data = data
        self.location = location
        self.key: str | None = None  # a mapping's pending key
        self.key_at: Position = (1, 1)


def parse_yaml(text: str, path: str | None) -> Parsed:
    """Parse one YAML document of ``text`` (``FlowFileError`` with a position if invalid)."""
    yaml = yaml_module()
    loader = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    resolver = _resolver_class(yaml)()
    scalars = yaml.constructor.SafeConstructor()

    def fail(message: str, mark: Any, hint: str | None = None) -> FlowFileError:
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        return FlowFileError(message, path=path, line=line, col=col, hint=hint)

    parsed = Parsed()
    stack: list[_Container] = []
    documents = 0
    values = 0
    events = yaml.parse(text, Loader=loader)
    try:
        for event in events:
            kind = type(event).__name__
            if kind in ("StreamStartEvent", "StreamEndEvent", "DocumentEndEvent"):
                continue
            if kind == "DocumentStartEvent":
                documents += 1
                if documents > 1:
                    raise fail(
                        "the file holds more than one YAML document",
                        event.start_mark,
                        "a flow file holds exactly one flow; remove the extra '---'",
                    )
                continue
            if kind == "AliasEvent":
                raise fail(
                    f"YAML aliases (*{event.anchor}) are not allowed in flow files",
                    event.start_mark,
                    "write the value out in full; aliases can blow a small file up "
                    "into a huge document",
                )
            mark = event.start_mark
            at = (mark.line + 1, mark.column + 1)
            parent = stack[-1] if stack else None
            if kind in ("MappingEndEvent", "SequenceEndEvent"):
                done = stack.pop()
                _place(parsed, stack, done.data)
                continue
            if parent is not None and isinstance(parent.data, dict) and parent.key is None:
                _take_key(parent, event, kind, resolver, fail)
                continue
            location = _child_location(parent)
            values += 1
            if values > MAX_VALUES:
                raise too_many(path, *at)
            if kind == "ScalarEvent":
                value = _scalar(event, resolver, scalars, fail)
                _record(parsed, stack, location, at)
                _place(parsed, stack, value)
                continue
            tag = event.tag
            wanted = _MAP if kind == "MappingStartEvent" else _SEQ
            if tag not in (None, "!", wanted):
                raise fail(
                    f"the YAML tag {_short(tag)} is not allowed in flow files", mark, _TAG_HINT
                )
            if len(stack) >= MAX_NESTING:
                raise fail(
                    f"the file nests lists and mappings deeper than {MAX_NESTING} levels",
                    mark,
                    "flatten the value; flow files never need such depth",
                )
            _record(parsed, stack, location, at)
            stack.append(_Container({} if kind == "MappingStartEvent" else [], location))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        tab = mark is not None and text[mark.index : mark.index + 1] == "\t"
        raise fail(f"invalid YAML: {problem}", mark, _syntax_hint(problem, tab)) from None
    except yaml.YAMLError as exc:  # a reader error: a character YAML does not allow
        position = getattr(exc, "position", None)
        line, col = _offset_position(text, position) if position is not None else (None, None)
        reason = getattr(exc, "reason", None) or str(exc)
        raise FlowFileError(
            f"invalid YAML: {reason}",
            path=path,
            line=line,
            col=col,
            hint="remove control characters; YAML allows only printable Unicode text",
        ) from None
    if documents == 0:
        raise FlowFileError(
            "the file is empty",
            path=path,
            line=1,
            col=1,
            hint="a flow file is a mapping starting with 'format_version: 1'",
        )
    return parsed


_MAX_INT_BITS = 14_284
"""Bits of the largest int with 4300 decimal digits (``0x...`` escapes the digit limit)."""

_TAG_HINT = "flow files hold only plain text, numbers, true/false, null, lists and mappings"


EXPONENT_FLOAT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?[eE][-+]?[0-9]+$")
"""JSON's numbers with an exponent and no dot (``1e3``): YAML 1.1 reads them as text, a
flow file as the number (as its JSON form does). The dumper quotes such text."""


def add_number_resolver(cls: Any) -> None:
    """Make the loader or dumper class ``cls`` resolve :data:`EXPONENT_FLOAT` as floats."""
    cls.add_implicit_resolver("tag:yaml.org,2002:float", EXPONENT_FLOAT, list("-+0123456789"))


@functools.cache
def _resolver_class(yaml: Any) -> Any:
    """YAML 1.1's resolver plus :data:`EXPONENT_FLOAT`."""

    class Resolver(yaml.resolver.Resolver):  # type: ignore[misc]
        pass

    add_number_resolver(Resolver)
    return Resolver


def clip(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message, shortened when long (a file may hold huge keys)."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _short(tag: str) -> str:
    """A tag as it is written (``!!timestamp`` for ``tag:yaml.org,2002:timestamp``), clipped."""
    prefix = "tag:yaml.org,2002:"
    short = "!!" + tag.removeprefix(prefix) if tag.startswith(prefix) else tag
    return clip(short)[1:-1]


def _syntax_hint(problem: str, tab: bool) -> str:
    if "depth" in problem:
        return "flatten the value; flow files never need such depth"
    if tab or "tab" in problem:
        return "indent with spaces; YAML does not allow tabs for indentation"
    return "check the indentation and the quoting near this position"


def _offset_position(text: str, offset: int) -> Position:
    before = text[:offset]
    line = before.count("\n") + 1
    return line, offset - (before.rfind("\n") + 1) + 1


def _child_location(parent: _Container | None) -> Location:
    if parent is None:
        return ()
    if isinstance(parent.data, dict):
        assert parent.key is not None
        return (*parent.location, parent.key)
    return (*parent.location, len(parent.data))


def _record(parsed: Parsed, stack: list[_Container], location: Location, at: Position) -> None:
    parent = stack[-1] if stack else None
    if parent is not None and isinstance(parent.data, dict):
        parsed.positions[location] = parent.key_at
        parsed.values[location] = at
    else:
        parsed.positions[location] = at


def _place(parsed: Parsed, stack: list[_Container], value: Any) -> None:
    """Store a finished value in its parent (or as the document's value)."""
    parent = stack[-1] if stack else None
    if parent is None:
        parsed.value = value
    elif isinstance(parent.data, dict):
        assert parent.key is not None
        parent.data[parent.key] = value
        parent.key = None
    else:
        parent.data.append(value)


def _take_key(parent: _Container, event: Any, kind: str, resolver: Any, fail: Any) -> None:
    mark = event.start_mark
    if kind != "ScalarEvent":
        raise fail(
            "a mapping key must be text, not a list or mapping",
            mark,
            "keys in flow files are plain names such as 'steps' or 'depends_on'",
        )
    tag = event.tag
    if tag in (None, "!"):
        tag = resolver.resolve(yaml_module().ScalarNode, event.value, event.implicit)
    if tag == "tag:yaml.org,2002:merge":
        raise fail(
            "YAML merge keys ('<<') are not allowed in flow files",
            mark,
            "write the keys out in full, or quote '<<' if it is meant as a key",
        )
    if tag not in (_STR, "tag:yaml.org,2002:value"):
        raise fail(
            f"the key {clip(event.value)} is not text (YAML reads it as {_short(tag)})",
            mark,
            f"quote the key: '{clip(event.value)[1:-1]}'",
        )
    key = event.value
    if key in parent.data:
        raise fail(
            f"duplicate key {clip(key)}",
            mark,
            "each key may appear once in a mapping; remove or rename one of them",
        )
    parent.key = key
    parent.key_at = (mark.line + 1, mark.column + 1)


def _scalar(event: Any, resolver: Any, scalars: Any, fail: Any) -> Any:
    yaml = yaml_module()
    tag = event.tag
    value = event.value
    if tag in (None, "!"):
        tag = resolver.resolve(yaml.ScalarNode, value, event.implicit)
    if tag not in _SCALAR_TAGS:
        hint = _TAG_HINT
        if tag.endswith(":timestamp"):
            hint = f"quote the value to keep it as text: '{clip(value)[1:-1]}'"
        raise fail(
            f"the YAML type {_short(tag)} is not allowed in flow files", event.start_mark, hint
        )
    if tag in (_STR, "tag:yaml.org,2002:value"):
        return value
    node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark)
    try:
        if tag.endswith(":int"):
            result = scalars.construct_yaml_int(node)
        elif tag.endswith(":float"):
            result = scalars.construct_yaml_float(node)
        elif tag.endswith(":bool"):
            result = scalars.construct_yaml_bool(node)
        else:
            result = None
    except ValueError:
        raise fail(
            "the number is too large to read",
            event.start_mark,
            "integers in flow files have at most 4300 digits",
        ) from None
    except yaml.YAMLError as exc:
        raise fail(f"invalid value {clip(value)}: {exc}", event.start_mark, _TAG_HINT) from None
    if isinstance(result, int) and result.bit_length() > _MAX_INT_BITS:
        raise fail(
            "the number is too large to read",
            event.start_mark,
            "integers in flow files have at most 4300 digits",
        )
    if isinstance(result, float) and not math.isfinite(result):
        raise fail(
            f"{clip(value)} is not a finite number",
            event.start_mark,
            "NaN and infinity have no JSON form; quote the value to keep it as text",
        )
    return result

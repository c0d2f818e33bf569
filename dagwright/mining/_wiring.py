"""Value-based wiring: which earlier result each argument of a session's calls came from.

Every field of every successful result is indexed by its value (JSON pointers into the
result, RFC 6901). An argument whose value equals an indexed value binds to it: the
latest producer wins, then the shallowest pointer, then the smallest pointer. Values that
would wire by accident never wire (see :func:`wireable`): they become flow inputs.

A run of consecutive calls of one tool whose one argument takes each element of an
earlier list result, in order and covering the whole list, becomes one map node. (A
run over a field of each element, ``/results/*/url``, cannot be a map step, whose item is
the whole element: its calls stay separate steps, each wired to its element's field.)

A value the agent passed as an argument before any result held it is the agent's own:
a later result that echoes it does not wire later uses of it (they read the same flow
input).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagwright.traces import TraceCall

__all__ = ["Input", "Node", "Wire", "nodes_of", "value_key", "wireable"]


@dataclass(frozen=True, slots=True)
class Wire:
    """An argument read from node ``node``'s output at ``pointer``.

    For a step node the pointer starts with the output field (``/results/0/url``); for
    a map node with the instance index (``/2/text``).
    """

    node: int
    pointer: str


@dataclass(frozen=True, slots=True)
class Input:
    """An argument no earlier result explains: a flow input with the recorded value."""

    value: Any


@dataclass(frozen=True, slots=True)
class Node:
    """One step of a session: a call, or a fan-out run of calls of one tool (``over`` set)."""

    tool: str
    calls: tuple[TraceCall, ...]
    args: Mapping[str, Wire | Input]
    item: str | None = None
    over: Wire | None = None

    @property
    def is_map(self) -> bool:
        """True for a fan-out node."""
        return self.over is not None

    def producers(self) -> set[int]:
        """The nodes this one reads from."""
        found = {a.node for a in self.args.values() if isinstance(a, Wire)}
        if self.over is not None:
            found.add(self.over.node)
        return found


_MIN_STRING = 3
_MIN_INT = 1000


def wireable(value: Any) -> bool:
    """Whether ``value`` may bind an argument to a result.

    Strings of at least 3 characters, integers of magnitude 1000 or more, and non-empty
    lists and objects wire. Null, booleans, floats, small integers, short strings and
    empty containers never do: they match by accident too often (``limit=5``, ``true``).
    """
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str):
        return len(value) >= _MIN_STRING
    if isinstance(value, int):
        return abs(value) >= _MIN_INT
    if isinstance(value, (list, tuple, dict)):
        return len(value) > 0
    return False


def value_key(value: Any) -> str:
    """A canonical text of a JSON value: equal values, equal keys."""
    if isinstance(value, str):
        return "s" + value
    return "j" + json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


# One index entry: (node, depth, pointer).
_Entry = tuple[int, int, str]


def _index(index: dict[str, list[_Entry]], node: int, value: Any, pointer: str, depth: int) -> None:
    if depth > 0 and wireable(value):
        index.setdefault(value_key(value), []).append((node, depth, pointer))
    if isinstance(value, Mapping):
        for key, sub in value.items():
            _index(index, node, sub, f"{pointer}/{_escape(str(key))}", depth + 1)
    elif isinstance(value, (list, tuple)):
        for i, sub in enumerate(value):
            _index(index, node, sub, f"{pointer}/{i}", depth + 1)


def _best(entries: Sequence[_Entry]) -> _Entry:
    latest = entries[-1][0]
    return min((e for e in entries if e[0] == latest), key=lambda e: (e[1], e[2]))


def _resolve(outputs: list[Any], wire: Wire) -> Any:
    value: Any = outputs[wire.node]
    for raw in wire.pointer.split("/")[1:]:
        seg = raw.replace("~1", "/").replace("~0", "~")
        value = value[int(seg)] if isinstance(value, list) else value[seg]
    return value


def _source(index: dict[str, list[_Entry]], first_use: dict[str, int], value: Any) -> Wire | Input:
    if wireable(value):
        key = value_key(value)
        entries = index.get(key)
        # A value the agent passed before any result held it came from the agent: a
        # result that merely echoes it back (``{"query": ...}``) does not feed later calls.
        first = first_use.get(key)
        if entries and (first is None or entries[0][0] < first):
            node, _, pointer = _best(entries)
            return Wire(node, pointer)
    return Input(value)


def _note_uses(first_use: dict[str, int], node: int, arguments: Mapping[str, Any]) -> None:
    for value in arguments.values():
        if wireable(value):
            first_use.setdefault(value_key(value), node)


def _fan_out(
    calls: Sequence[TraceCall],
    at: int,
    index: dict[str, list[_Entry]],
    outputs: list[Any],
) -> tuple[str, Wire, int] | None:
    """(item argument, list source, run length) when ``calls[at]`` starts a fan-out."""
    first = calls[at]
    for name in sorted(first.arguments):
        value = first.arguments[name]
        if not wireable(value):
            continue
        lists = [e for e in index.get(value_key(value), ()) if e[2].endswith("/0")]
        for node, _, pointer in sorted(lists, key=lambda e: (-e[0], e[1], e[2])):
            over = Wire(node, pointer[: -len("/0")])
            items = _resolve(outputs, over)
            if not isinstance(items, list) or len(items) < 2 or at + len(items) > len(calls):
                continue
            run = calls[at : at + len(items)]
            if all(
                c.tool == first.tool
                and set(c.arguments) == set(first.arguments)
                and value_key(c.arguments[name]) == value_key(item)
                and all(
                    value_key(c.arguments[k]) == value_key(first.arguments[k])
                    for k in first.arguments
                    if k != name
                )
                for c, item in zip(run, items, strict=True)
            ):
                return name, over, len(items)
    return None


def nodes_of(calls: Sequence[TraceCall]) -> list[Node]:
    """The session's nodes in call order, each argument wired or a flow input.

    Linear in the size of the session's results: each result is indexed once, each
    argument looked up once.
    """
    index: dict[str, list[_Entry]] = {}
    first_use: dict[str, int] = {}
    outputs: list[Any] = []
    nodes: list[Node] = []
    at = 0
    while at < len(calls):
        call = calls[at]
        fan = _fan_out(calls, at, index, outputs)
        number = len(nodes)
        if fan is not None:
            item, over, count = fan
            run = tuple(calls[at : at + count])
            args = {
                k: _source(index, first_use, v)
                for k, v in sorted(call.arguments.items())
                if k != item
            }
            nodes.append(Node(call.tool, run, args, item=item, over=over))
            for c in run:
                _note_uses(first_use, number, c.arguments)
            results = [dict(c.result or {}) for c in run]
            outputs.append(results)
            _index(index, number, results, "", 0)
            at += count
            continue
        args = {k: _source(index, first_use, v) for k, v in sorted(call.arguments.items())}
        nodes.append(Node(call.tool, (call,), args))
        _note_uses(first_use, number, call.arguments)
        result = dict(call.result or {})
        outputs.append(result)
        _index(index, number, result, "", 0)
        at += 1
    return nodes

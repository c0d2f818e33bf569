"""Read JSON flow files into plain values and the position of every key and item.

A small scanner over the text (strings through the standard library's own
``json.decoder.scanstring``, numbers by its number pattern): iterative, so nesting costs
no Python stack, and it records where every key and item starts. It refuses what
``json.loads`` would accept but a flow file must not hold: duplicate keys, ``NaN`` and
``Infinity``, integers longer than Python converts, nesting deeper than ``MAX_NESTING``
or more than ``MAX_VALUES`` values (see :mod:`dagwright.io._yaml_source`). For a syntax
error the message and position are ``json.loads``'s own.
"""

from __future__ import annotations

import bisect
import json
import re
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from dagwright._source import Location, Position
from dagwright.errors import FlowFileError
from dagwright.io._yaml_source import MAX_NESTING, MAX_VALUES, Parsed, clip, too_many

_SPACE = re.compile(r"[ \t\n\r]*")
_NEWLINE = re.compile("\n")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_WORDS = {"true": True, "false": False, "null": None}
_NOT_FINITE = ("NaN", "Infinity", "-Infinity")


class _Syntax(Exception):
    """A syntax error at an offset; replaced by ``json.loads``'s own report."""

    def __init__(self, offset: int) -> None:
        self.offset = offset


class _Scanner:
    def __init__(self, text: str, path: str | None) -> None:
        self.text = text
        self.path = path
        self.key_positions: dict[Location, Position] = {}
        # The offset at which each line starts, for offsets -> (line, col).
        self.lines = [0, *(match.end() for match in _NEWLINE.finditer(text))]

    def at(self, offset: int) -> Position:
        """The 1-based (line, col) of an offset."""
        line = bisect.bisect_right(self.lines, offset)
        return line, offset - self.lines[line - 1] + 1

    def fail(self, message: str, offset: int, hint: str) -> FlowFileError:
        line, col = self.at(offset)
        return FlowFileError(message, path=self.path, line=line, col=col, hint=hint)

    def skip(self, offset: int) -> int:
        match = _SPACE.match(self.text, offset)
        assert match is not None
        return match.end()

    def scalar(self, offset: int) -> tuple[Any, int]:
        text = self.text
        char = text[offset : offset + 1]
        if char == '"':
            try:
                found: tuple[str, int] = scanstring(text, offset + 1, True)
                return found
            except json.JSONDecodeError as exc:
                raise _Syntax(exc.pos) from None
        for word, value in _WORDS.items():
            if text.startswith(word, offset):
                return value, offset + len(word)
        for word in _NOT_FINITE:
            if text.startswith(word, offset):
                raise self.fail(
                    f"{word} is not a JSON number",
                    offset,
                    "NaN and infinity have no JSON form; flow files hold finite numbers only",
                )
        match = _NUMBER.match(text, offset)
        if match is None:
            raise _Syntax(offset)
        integer, fraction, exponent = match.groups()
        try:
            if fraction or exponent:
                number: Any = float(match.group())
            else:
                number = int(integer)
        except ValueError:
            raise self.fail(
                "the number is too large to read",
                offset,
                "integers in flow files have at most 4300 digits",
            ) from None
        if isinstance(number, float) and number in (float("inf"), float("-inf")):
            raise self.fail(
                f"{match.group()} is too large for a floating-point number",
                offset,
                "NaN and infinity have no JSON form; flow files hold finite numbers only",
            )
        return number, match.end()

    def parse(self) -> Parsed:
        parsed = Parsed()
        text = self.text
        offset = self.skip(0)
        # Each open container with its location; a mapping's pending key ends ``location``.
        stack: list[tuple[dict[str, Any] | list[Any], Location]] = []
        location: Location = ()
        count = 0
        while True:
            # Here a value starts at ``offset``, at ``location``.
            start = self.at(offset)
            count += 1
            if count > MAX_VALUES:
                raise too_many(self.path, *start)
            if location and isinstance(location[-1], str):
                parsed.values[location] = start  # a mapping entry: its key is elsewhere
            else:
                parsed.positions[location] = start
            char = text[offset : offset + 1]
            value: Any
            if char in ("{", "["):
                if len(stack) >= MAX_NESTING:
                    raise self.fail(
                        f"the file nests lists and objects deeper than {MAX_NESTING} levels",
                        offset,
                        "flatten the value; flow files never need such depth",
                    )
                container: dict[str, Any] | list[Any] = {} if char == "{" else []
                stack.append((container, location))
                offset = self.skip(offset + 1)
                closing = "}" if char == "{" else "]"
                if text[offset : offset + 1] == closing:
                    value, offset = stack.pop()[0], offset + 1
                else:
                    location, offset = self.next_slot(stack, offset)
                    continue
            else:
                value, offset = self.scalar(offset)
            # A value is complete: store it and move to the next slot.
            while True:
                if not stack:
                    parsed.value = value
                    offset = self.skip(offset)
                    if offset != len(text):
                        raise _Syntax(offset)
                    return parsed
                container, where = stack[-1]
                if isinstance(container, dict):
                    key = location[-1]
                    assert isinstance(key, str)
                    container[key] = value
                else:
                    container.append(value)
                offset = self.skip(offset)
                char = text[offset : offset + 1]
                if char == ",":
                    location, offset = self.next_slot(stack, self.skip(offset + 1))
                    break
                if char != ("}" if isinstance(container, dict) else "]"):
                    raise _Syntax(offset)
                value, location = stack.pop()[0], where
                offset += 1

    def next_slot(
        self, stack: list[tuple[dict[str, Any] | list[Any], Location]], offset: int
    ) -> tuple[Location, int]:
        """Read up to the next value of the innermost container; return its location."""
        container, where = stack[-1]
        if isinstance(container, list):
            return (*where, len(container)), offset
        text = self.text
        if text[offset : offset + 1] != '"':
            raise _Syntax(offset)
        key_at = self.at(offset)
        key_offset = offset
        key, offset = self.scalar(offset)
        if key in container:
            raise self.fail(
                f"duplicate key {clip(key)}",
                key_offset,
                "each key may appear once in an object; remove or rename one of them",
            )
        offset = self.skip(offset)
        if text[offset : offset + 1] != ":":
            raise _Syntax(offset)
        location = (*where, key)
        self.key_positions[location] = key_at
        return location, self.skip(offset + 1)


def parse_json(text: str, path: str | None) -> Parsed:
    """Parse JSON ``text``, not blank (``FlowFileError`` with a position if invalid)."""
    scanner = _Scanner(text, path)
    try:
        parsed = scanner.parse()
    except _Syntax as syntax:
        raise _syntax_error(text, path, scanner, syntax.offset) from None
    parsed.positions.update(scanner.key_positions)
    return parsed


def _syntax_error(text: str, path: str | None, scanner: _Scanner, offset: int) -> FlowFileError:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return FlowFileError(
            f"invalid JSON: {exc.msg}",
            path=path,
            line=exc.lineno,
            col=exc.colno,
            hint="check the commas, quotes and brackets near this position",
        )
    except (RecursionError, ValueError):
        pass
    return scanner.fail(
        "invalid JSON", offset, "check the commas, quotes and brackets near this position"
    )

"""Reading trace files: JSON Lines of tool calls into sorted, checked ``TraceCall``s.

A trace line is one JSON object: ``session`` (a non-empty string), ``seq`` (an int >= 0,
unique within its session across every file read together), ``tool`` (a non-empty
string), ``arguments`` (an object), and optionally ``result`` (an object or null) and
``error`` (a string or null). Every problem is a :class:`~dagwright.TraceFileError` with
the file and the 1-based line. Files are read a line at a time, so a large trace is held
in memory only once, as its calls.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from dagwright.errors import TraceFileError
from dagwright.traces._records import TraceCall

KEYS = ("session", "seq", "tool", "arguments", "result", "error")
REQUIRED = frozenset(KEYS[:4])
_KNOWN = frozenset(KEYS)
_FORMAT_HINT = (
    'each line is {"session": str, "seq": int, "tool": str, "arguments": {...}, '
    '"result": {...} | null, "error": str | null}'
)

Source = str | os.PathLike[str] | TraceCall | Mapping[str, Any]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _DuplicateKey(ValueError):
    """An object with a key twice: JSON allows it, but which value counts is a guess."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(f"an object has the key {key!r} twice")
            seen.add(key)
    return value


# One decoder for every line: ``json.loads`` with an argument builds a new one per call.
DECODER = json.JSONDecoder(parse_constant=_no_constant, object_pairs_hook=_unique)


def _decode(raw: bytes, path: str | None, line: int) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TraceFileError(
            f"the line is not UTF-8 (byte {exc.start + 1})",
            path=path,
            line=line,
            hint="trace files are UTF-8 JSON Lines",
        ) from None
    try:
        return DECODER.decode(text)
    except _DuplicateKey as exc:
        raise TraceFileError(
            f"the line is ambiguous: {exc}", path=path, line=line, hint="write each key once"
        ) from None
    except ValueError as exc:
        if not raw.endswith(b"\n"):
            raise TraceFileError(
                "the last line is incomplete (it does not end with a newline and is not JSON)",
                path=path,
                line=line,
                hint="the writer probably stopped while writing it; delete that line",
            ) from None
        detail = str(exc) if "is not JSON" in str(exc) else getattr(exc, "msg", str(exc))
        raise TraceFileError(
            f"the line is not JSON: {detail}", path=path, line=line, hint=_FORMAT_HINT
        ) from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _problem(message: str, path: str | None, line: int | None, hint: str) -> TraceFileError:
    return TraceFileError(message, path=path, line=line, hint=hint)


def check_record(data: Any, path: str | None, line: int | None) -> TraceCall:
    """One trace line's JSON value as a ``TraceCall``, or the ``TraceFileError`` it is."""
    if type(data) is not dict:
        raise _problem(f"the line is {_kind(data)}, not an object", path, line, _FORMAT_HINT)
    if not data.keys() >= REQUIRED or not data.keys() <= _KNOWN:
        missing = [key for key in KEYS[:4] if key not in data]
        if missing:
            raise _problem(
                f"the call has no {', '.join(repr(key) for key in missing)}",
                path,
                line,
                _FORMAT_HINT,
            )
        unknown = sorted(key for key in data if key not in _KNOWN)
        raise _problem(
            f"unknown key {', '.join(repr(key) for key in unknown)}",
            path,
            line,
            f"the keys are {', '.join(KEYS)}",
        )
    session, seq, tool, arguments = data["session"], data["seq"], data["tool"], data["arguments"]
    result, error = data.get("result"), data.get("error")
    if type(session) is not str or not session:
        raise _problem(
            f"'session' is {_kind(session) if session != '' else 'empty'}",
            path,
            line,
            "'session' is a non-empty string naming the agent session",
        )
    if type(seq) is not int or seq < 0:
        raise _problem(
            f"'seq' is {_kind(seq) if type(seq) is not int else 'negative'}",
            path,
            line,
            "'seq' is an integer >= 0 ordering the calls of a session",
        )
    if type(tool) is not str or not tool:
        raise _problem(
            f"'tool' is {_kind(tool) if tool != '' else 'empty'}",
            path,
            line,
            "'tool' is the non-empty name of the tool called",
        )
    if type(arguments) is not dict:
        raise _problem(
            f"'arguments' is {_kind(arguments)}, not an object",
            path,
            line,
            "'arguments' is the JSON object of the call's arguments ({} for none)",
        )
    if result is not None and type(result) is not dict:
        raise _problem(
            f"'result' is {_kind(result)}, not an object or null",
            path,
            line,
            'record a plain value as an object, such as {"result": value}',
        )
    if error is not None and type(error) is not str:
        raise _problem(
            f"'error' is {_kind(error)}, not a string or null",
            path,
            line,
            "'error' is the failure's text, null on success",
        )
    return TraceCall(session, seq, tool, arguments, result, error, path, line)


def iter_file(path: str) -> Iterator[TraceCall]:
    """The calls of one trace file in file order, checked line by line (blank lines skipped)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; lines are decoded one by one
    except OSError as exc:
        raise TraceFileError(
            f"the trace file cannot be read: {exc.strerror or exc}",
            path=path,
            hint="check the path",
        ) from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            yield check_record(_decode(raw, path, number), path, number)


def trace_files(source: str | os.PathLike[str]) -> list[str]:
    """A path's trace files: the file itself, or every ``*.jsonl`` under a directory, sorted."""
    path = Path(source)
    if path.is_dir():
        return [str(file) for file in sorted(path.rglob("*.jsonl")) if file.is_file()]
    return [os.fspath(source)]


def _calls(sources: Iterable[Source]) -> Iterator[TraceCall]:
    for position, source in enumerate(sources, start=1):
        if isinstance(source, str | os.PathLike):
            for file in trace_files(source):
                yield from iter_file(file)
        elif isinstance(source, TraceCall):
            yield check_record(source.to_dict(), source.path, source.line)
        else:
            yield check_record(
                dict(source) if isinstance(source, Mapping) else source, None, position
            )


def sort_calls(calls: Iterable[TraceCall]) -> list[TraceCall]:
    """The calls sorted by (session, seq); a ``seq`` repeated within a session is an error."""
    ordered = sorted(calls, key=lambda call: (call.session, call.seq))
    for before, call in itertools.pairwise(ordered):
        if before.seq == call.seq and before.session == call.session:
            first, second = sorted((before, call), key=_where)
            raise TraceFileError(
                f"seq {call.seq} of session {call.session!r} is already used at {_place(first)}",
                path=second.path,
                line=second.line,
                hint="a seq orders the calls of one session: each is used once",
            )
    return ordered


def _where(call: TraceCall) -> tuple[str, int]:
    return (call.path or "", call.line or 0)


def _place(call: TraceCall) -> str:
    where = call.path if call.path is not None else "<traces>"
    return f"{where}:{call.line}" if call.line is not None else where


def read_traces(sources: Source | Iterable[Source]) -> list[TraceCall]:
    """Every call of ``sources``, checked, sorted by (session, seq).

    ``sources`` is a path (``str`` or ``os.PathLike``: a trace file, or a directory: every
    ``*.jsonl`` under it, sorted), a ``TraceCall`` or a dict of one trace line, or an
    iterable of any of these. The order is the same whatever order the files come in.
    Blank lines are skipped and an empty file holds no calls. Raises ``TraceFileError``
    (with the file and the 1-based line) for a line that is not UTF-8 or not JSON (NaN
    and Infinity are not JSON), an object with a key twice, a line that is not an
    object, a key missing, unknown or of the wrong type (a boolean is not an integer), a
    ``result`` that is not an object or null, a last line cut short by a writer that
    stopped, and a ``seq`` used twice in a session
    (across files too).
    """
    if isinstance(sources, str | os.PathLike | TraceCall | Mapping):
        sources = [sources]
    return sort_calls(_calls(sources))

"""OpenTelemetry GenAI ``execute_tool`` spans, exported as OTLP JSON, as trace calls.

A span is a tool call when its ``gen_ai.operation.name`` is ``execute_tool``. Its tool is
``gen_ai.tool.name`` (else the span name's ``execute_tool <tool>``), its arguments and
result ``gen_ai.tool.call.arguments`` / ``gen_ai.tool.call.result`` (JSON text, or a
structured value), its session ``gen_ai.conversation.id`` (else the trace id). Within a
session ``seq`` numbers the calls by start time (``startTimeUnixNano``, then span id).
A span with status code ERROR (or an ``error.type``) is a failed call: its error is the
status message, else the ``error.type``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from dagwright.errors import TraceFileError
from dagwright.traces._read import _no_constant, trace_files
from dagwright.traces._records import TraceCall

OPERATION = "gen_ai.operation.name"
TOOL_NAME = "gen_ai.tool.name"
ARGUMENTS = ("gen_ai.tool.call.arguments", "tool_arguments")
RESULT = ("gen_ai.tool.call.result", "tool_response")
SESSION = ("gen_ai.conversation.id", "session.id")
ERROR_TYPE = "error.type"
# Exports come from other programs' JSON writers: duplicate keys keep the last value.
DECODER = json.JSONDecoder(parse_constant=_no_constant)
_EXPORT_HINT = 'an OTLP JSON export: {"resourceSpans": [{"scopeSpans": [{"spans": [...]}]}]}'


def _value(value: Any, where: str, path: str, line: int | None) -> Any:
    """An OTLP ``AnyValue`` (``{"stringValue": ...}`` etc.) as a plain value."""
    if type(value) is not dict or len(value) > 1:
        raise TraceFileError(
            f"the attribute value at {where} is not an OTLP AnyValue",
            path=path,
            line=line,
            hint='an attribute value is one of {"stringValue": ...}, {"intValue": ...}, ...',
        )
    if not value:
        return None
    ((kind, item),) = value.items()
    if kind == "intValue":
        try:
            return int(item)
        except (TypeError, ValueError):
            pass
    elif kind == "doubleValue" and type(item) in (int, float, str):
        try:
            return float(item)
        except ValueError:
            pass
    elif (kind in ("stringValue", "bytesValue") and type(item) is str) or (
        kind == "boolValue" and type(item) is bool
    ):
        return item
    elif kind == "arrayValue" and type(item) is dict:
        return [
            _value(entry, f"{where}[{index}]", path, line)
            for index, entry in enumerate(item.get("values", []))
        ]
    elif kind == "kvlistValue" and type(item) is dict:
        return _attributes(item.get("values", []), where, path, line)
    raise TraceFileError(
        f"the attribute value at {where} is not an OTLP AnyValue ({kind!r})",
        path=path,
        line=line,
        hint="see the OTLP JSON encoding of attribute values",
    )


def _attributes(items: Any, where: str, path: str, line: int | None) -> dict[str, Any]:
    if type(items) is not list:
        raise TraceFileError(
            f"the attributes of {where} are not a list", path=path, line=line, hint=_EXPORT_HINT
        )
    attributes: dict[str, Any] = {}
    for item in items:
        if type(item) is not dict or type(item.get("key")) is not str:
            raise TraceFileError(
                f"an attribute of {where} has no key", path=path, line=line, hint=_EXPORT_HINT
            )
        attributes[item["key"]] = _value(
            item.get("value", {}), f"{where}/{item['key']}", path, line
        )
    return attributes


def _first(attributes: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in attributes:
            return attributes[name]
    return None


def _json_attribute(value: Any, name: str, span: str, path: str, line: int | None) -> Any:
    if type(value) is not str:
        return value
    try:
        return DECODER.decode(value)
    except ValueError:
        if name == "arguments":
            raise TraceFileError(
                f"the arguments of span {span} are not JSON",
                path=path,
                line=line,
                hint="gen_ai.tool.call.arguments holds the arguments' JSON text",
            ) from None
        return value  # a tool's plain-text result


class _Span:
    __slots__ = ("call", "key")

    def __init__(self, key: tuple[str, int, str], call: TraceCall) -> None:
        self.key = key
        self.call = call


def _span(span: Any, path: str, line: int | None) -> _Span | None:
    if type(span) is not dict:
        raise TraceFileError("a span is not an object", path=path, line=line, hint=_EXPORT_HINT)
    span_id = span.get("spanId", "")
    label = repr(span_id or span.get("name", "?"))
    attributes = _attributes(span.get("attributes", []), f"span {label}", path, line)
    if attributes.get(OPERATION) != "execute_tool":
        return None
    tool = attributes.get(TOOL_NAME)
    name = span.get("name")
    if not tool and type(name) is str and name.startswith("execute_tool "):
        tool = name[len("execute_tool ") :].strip()
    if type(tool) is not str or not tool:
        raise TraceFileError(
            f"the execute_tool span {label} names no tool",
            path=path,
            line=line,
            hint="set gen_ai.tool.name on execute_tool spans",
        )
    session = _first(attributes, SESSION) or span.get("traceId")
    if type(session) is not str or not session:
        raise TraceFileError(
            f"the execute_tool span {label} has neither gen_ai.conversation.id nor a traceId",
            path=path,
            line=line,
            hint="set gen_ai.conversation.id to group the calls of a session",
        )
    try:
        start = int(span.get("startTimeUnixNano", 0))
    except (TypeError, ValueError):
        raise TraceFileError(
            f"the startTimeUnixNano of span {label} is not an integer",
            path=path,
            line=line,
            hint="OTLP JSON writes it as a decimal string of nanoseconds",
        ) from None
    arguments = _json_attribute(_first(attributes, ARGUMENTS), "arguments", label, path, line)
    if arguments is None:
        arguments = {}
    if type(arguments) is not dict:
        raise TraceFileError(
            f"the arguments of span {label} are not a JSON object",
            path=path,
            line=line,
            hint="gen_ai.tool.call.arguments holds a JSON object's text",
        )
    status: dict[str, Any] = span["status"] if type(span.get("status")) is dict else {}
    failed = status.get("code") in (2, "2", "STATUS_CODE_ERROR") or ERROR_TYPE in attributes
    error: str | None = None
    result: Any = None
    if failed:
        error = str(status.get("message") or attributes.get(ERROR_TYPE) or "error")
    else:
        result = _json_attribute(_first(attributes, RESULT), "result", label, path, line)
        if result is None:
            result = {}
        elif type(result) is not dict:
            result = {"result": result}
    call = TraceCall(session, 0, tool, arguments, result, error, path, line)
    return _Span((session, start, str(span_id)), call)


def _spans(export: Any, path: str, line: int | None) -> Iterator[_Span]:
    if type(export) is not dict or type(export.get("resourceSpans")) is not list:
        raise TraceFileError(
            "the export has no resourceSpans list", path=path, line=line, hint=_EXPORT_HINT
        )
    for resource in export["resourceSpans"]:
        scopes = resource.get("scopeSpans", []) if type(resource) is dict else None
        if type(scopes) is not list:
            raise TraceFileError(
                "resourceSpans holds an entry without a scopeSpans list",
                path=path,
                line=line,
                hint=_EXPORT_HINT,
            )
        for scope in scopes:
            spans = scope.get("spans", []) if type(scope) is dict else None
            if type(spans) is not list:
                raise TraceFileError(
                    "scopeSpans holds an entry without a spans list",
                    path=path,
                    line=line,
                    hint=_EXPORT_HINT,
                )
            for span in spans:
                found = _span(span, path, line)
                if found is not None:
                    yield found


def _text(raw: bytes, path: str, line: int | None) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TraceFileError(
            "the export is not UTF-8", path=path, line=line, hint="OTLP JSON files are UTF-8"
        ) from None


def _exports(path: str) -> Iterator[tuple[Any, int | None]]:
    """A file's exports with their line: JSON Lines (streamed), else one document (line None).

    A file whose first non-blank line is a whole JSON value is JSON Lines; otherwise the
    file is one (pretty-printed) document.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise TraceFileError(
            f"the export cannot be read: {exc.strerror or exc}", path=path, hint="check the path"
        ) from None
    with handle:
        number = 0
        for number, raw in enumerate(handle, start=1):  # noqa: B007 - used after the loop
            if raw.strip():
                break
        else:
            return  # an empty file: no spans
        text = _text(raw, path, number)
        try:
            first = DECODER.decode(text)
        except ValueError:
            whole = _text(raw + handle.read(), path, None)
            try:
                document = DECODER.decode(whole)
            except ValueError as exc:
                raise TraceFileError(
                    f"the export is not JSON: {getattr(exc, 'msg', exc)}",
                    path=path,
                    hint=f"a file holds {_EXPORT_HINT}, or one such export per line",
                ) from None
            yield document, None
            return
        yield first, number
        for number, raw in enumerate(handle, start=number + 1):  # noqa: B020 - a fresh count
            if not raw.strip():
                continue
            text = _text(raw, path, number)
            try:
                export = DECODER.decode(text)
            except ValueError as exc:
                raise _not_json(exc, path, number) from None
            yield export, number


def _not_json(exc: ValueError, path: str, line: int) -> TraceFileError:
    return TraceFileError(
        f"the line is not JSON: {getattr(exc, 'msg', exc)}",
        path=path,
        line=line,
        hint=f"a file holds {_EXPORT_HINT}, or one such export per line",
    )


def read_otel(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[TraceCall]:
    """The ``execute_tool`` spans of OTLP JSON exports as calls, sorted by (session, seq).

    ``paths``: files (one OTLP JSON export each, or JSON Lines of exports) or directories
    (every ``*.json`` and ``*.jsonl`` under them, sorted). Spans of other operations are
    ignored. See the module docstring for the attributes read. Raises
    ``TraceFileError`` (with the file, and the line in JSON Lines) for a file that is not
    an OTLP JSON export or an ``execute_tool`` span that cannot be a call.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    spans: list[_Span] = []
    for source in paths:
        files = trace_files(source)
        if os.path.isdir(source):
            files = sorted({*files, *map(str, _json_files(source))})
        for file in files:
            for export, line in _exports(file):
                spans.extend(_spans(export, file, line))
    spans.sort(key=lambda span: span.key)
    calls: list[TraceCall] = []
    seq = 0
    for index, span in enumerate(spans):
        if index and spans[index - 1].key[0] == span.key[0]:
            seq += 1
        else:
            seq = 0
        call = span.call
        calls.append(
            TraceCall(
                call.session,
                seq,
                call.tool,
                call.arguments,
                call.result,
                call.error,
                call.path,
                call.line,
            )
        )
    return calls


def _json_files(directory: str | os.PathLike[str]) -> Iterator[str]:
    return (str(file) for file in Path(directory).rglob("*.json") if file.is_file())

"""Writing trace files: ``Recorder`` (from an agent loop) and ``write_traces`` (atomic)."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from dagwright._execution.canonical import NotJSONError, check_json
from dagwright.errors import TraceFileError, UsageError
from dagwright.traces._records import TraceCall

P = ParamSpec("P")
R = TypeVar("R")


def _plain(value: Any) -> Any:
    """``value`` with pydantic models (anywhere in it) dumped to JSON-mode data."""
    dump = getattr(value, "model_dump", None)
    if dump is not None and callable(dump) and not isinstance(value, type):
        return dump(mode="json")
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _json_value(value: Any, what: str) -> Any:
    try:
        check_json(value)
        return value
    except NotJSONError:
        value = _plain(value)  # models, tuples, mappings: made plain, then checked again
    try:
        check_json(value)
    except NotJSONError as exc:
        raise UsageError(
            f"the {what} cannot be recorded: {exc}",
            hint="record JSON values: dicts with str keys, lists, str, finite numbers, "
            "bools, None, or pydantic models",
        ) from None
    return value


def trace_line(call: TraceCall) -> str:
    """One call as its trace line: compact JSON in the documented key order, then ``\\n``."""
    return json.dumps(call.to_dict(), ensure_ascii=False, allow_nan=False) + "\n"


def make_call(
    session: str,
    seq: int,
    tool: str,
    arguments: Any,
    result: Any = None,
    error: str | None = None,
) -> TraceCall:
    """A checked ``TraceCall`` from Python values (a plain result becomes ``{"result": v}``)."""
    if type(tool) is not str or not tool:
        raise UsageError(f"a tool name is a non-empty string, not {tool!r}")
    if error is not None and type(error) is not str:
        raise UsageError(f"an error is a string or None, not {type(error).__name__}")
    arguments = _json_value(arguments, "arguments")
    if type(arguments) is not dict:
        raise UsageError(
            f"arguments are an object (a dict or a model), not {type(arguments).__name__}"
        )
    if result is not None:
        result = _json_value(result, "result")
        if type(result) is not dict:
            result = {"result": result}
    return TraceCall(session, seq, tool, arguments, result, error)


class Recorder:
    """Appends the tool calls of one agent session to a trace file, one line per call.

    ``with Recorder(path) as rec: rec.record(tool, arguments, result)``. ``session`` is
    the session id written on every line (a new ``uuid4`` hex when not given; give a new
    one for each session, as ``seq`` counts from 0). Each call is one ``write`` of one
    whole line to a file opened with ``O_APPEND``, so a crash loses at most the line being
    written, and several recorders (threads, processes) on one file interleave whole
    lines. ``record`` is thread-safe. Values are checked to be JSON (pydantic models are
    dumped with ``model_dump(mode="json")``); a result that is not an object is recorded
    as ``{"result": value}``.
    """

    def __init__(self, path: str | os.PathLike[str], *, session: str | None = None) -> None:
        if session is not None and (type(session) is not str or not session):
            raise UsageError(f"a session id is a non-empty string, not {session!r}")
        self.path = os.fspath(path)
        self.session = session if session is not None else uuid.uuid4().hex
        self._seq = 0
        self._lock = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> Recorder:
        self.open()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Open the file for appending (created if missing); ``record`` opens it if needed."""
        with self._lock:
            self._open()

    def _open(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(
                    self.path,
                    os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0),
                    0o644,
                )
            except OSError as exc:
                raise TraceFileError(
                    f"the trace file cannot be opened: {exc.strerror or exc}",
                    path=self.path,
                    hint="check that the directory exists and is writable",
                ) from None
            self._end_line(self._fd)
        return self._fd

    @staticmethod
    def _end_line(fd: int) -> None:
        # A writer that died mid-line left a fragment at the end: start on a new line, so
        # the next call is whole and the fragment stays a line of its own (reported). A
        # line still being copied by another writer can look the same: then the cost is
        # a blank line, which readers skip.
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.write(fd, b"\n")

    def close(self) -> None:
        """Close the file; a later ``record`` opens it again."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def record(
        self,
        tool: str,
        arguments: Any,
        result: Any = None,
        *,
        error: str | None = None,
    ) -> TraceCall:
        """Append one call (the next ``seq`` of the session) and return it as recorded."""
        with self._lock:
            call = make_call(self.session, self._seq, tool, arguments, result, error)
            data = trace_line(call).encode("utf-8")
            fd = self._open()
            try:
                written = os.write(fd, data)
                while written < len(data):  # a regular file takes it whole; be sure anyway
                    written += os.write(fd, data[written:])
            except OSError as exc:
                raise TraceFileError(
                    f"the call cannot be recorded: {exc.strerror or exc}",
                    path=self.path,
                    hint="check the disk and the file's permissions",
                ) from None
            self._seq += 1
            return call

    def wrap(self, fn: Callable[P, R], *, tool: str | None = None) -> Callable[P, R]:
        """``fn`` recording each of its calls: its bound arguments, its return or error.

        The tool name is ``tool`` or ``fn.__name__``. A call that raises is recorded with
        the error's text (``"TypeName: message"``) and the exception propagates.
        """
        name = tool or getattr(fn, "__name__", None) or "tool"
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def recorded(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            try:
                value = fn(*args, **kwargs)
            except Exception as exc:
                self.record(name, arguments, error=f"{type(exc).__name__}: {exc}")
                raise
            self.record(name, arguments, value)
            return value

        return recorded


def write_traces(calls: Iterable[TraceCall], path: str | os.PathLike[str]) -> None:
    """Write ``calls`` to ``path`` as a trace file, in the order given, atomically.

    The file is replaced whole (a temporary file in the same directory, then
    ``os.replace``): readers see the old file or the new one, never a part.
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory
        )
    except OSError as exc:
        raise TraceFileError(
            f"the trace file cannot be written: {exc.strerror or exc}",
            path=target,
            hint="check that the directory exists and is writable",
        ) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            for call in calls:
                handle.write(
                    trace_line(
                        make_call(
                            call.session,
                            call.seq,
                            call.tool,
                            call.arguments,
                            call.result,
                            call.error,
                        )
                    )
                )
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise

"""Flow files: ``load_flow`` reads a YAML or JSON file into a flow, ``dump_flow`` writes one.

The format is described in ``docs/flow-files.md`` and by :func:`dagwright.flow_json_schema`.
Loading never executes anything: no YAML tag builds an object and ``tools:`` import
paths are only recorded (on the flow's :class:`~dagwright._source.SourceMap`). A file
that cannot be read as a flow raises :class:`~dagwright.errors.FlowFileError` with its
path, line and column; never another exception.

``load_flow(dump_flow(flow))`` has the definition digest (and description) of ``flow``,
in both formats, and ``dump_flow`` of a loaded flow is stable.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from dagwright._source import SourceMap, source_of
from dagwright.errors import FlowFileError
from dagwright.flows import Flow, MapStep, Step
from dagwright.io._build import FORMAT_VERSION, Builder
from dagwright.io._json_source import parse_json
from dagwright.io._yaml_source import Parsed, add_number_resolver, parse_yaml, yaml_module

Format = Literal["yaml", "json"]

MAX_FILE_BYTES = 32 * 1024 * 1024
"""The largest flow file read (32 MiB): far above any real flow, far below harm."""

_SUFFIXES: dict[str, Format] = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}

_STEP_ORDER = (
    "id",
    "tool",
    "flow",
    "over",
    "item",
    "inputs",
    "outputs",
    "results",
    "errors",
    "depends_on",
    "when",
    "retry",
    "timeout_s",
    "max_concurrency",
    "error_policy",
    "on_error",
    "on_interrupted",
)


def load_flow(source: str | os.PathLike[str], *, format: Format | None = None) -> Flow:
    """Read one flow from a file or from text.

    ``source`` is a ``Path`` (or any ``os.PathLike``): a file; a ``str``: the text of a
    flow when it contains a newline or starts with ``{``, else a file path. ``format``
    is ``"yaml"`` or ``"json"``; by default a file's suffix decides (``.yaml``,
    ``.yml``, ``.json``) and otherwise text that parses as JSON is JSON, the rest YAML.
    Returns a ``Flow`` (``kind: flow``) or ``DAGFlow`` (``kind: dag``) whose
    :func:`~dagwright.io.flow_source` gives its file and positions. Raises
    :class:`~dagwright.errors.FlowFileError` for anything that is not a valid flow file.
    """
    if format is not None and format not in _SUFFIXES.values():
        raise FlowFileError(f"unknown flow file format {format!r}", hint="use 'yaml' or 'json'")
    path: str | None
    if isinstance(source, str) and ("\n" in source or source.lstrip().startswith("{")):
        text, path = source, None
    elif isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        text = _read(path)
        format = format or _SUFFIXES.get(Path(path).suffix.lower())
    else:
        raise FlowFileError(
            f"load_flow takes a path or the text of a flow, not {type(source).__name__}",
            hint="pass a pathlib.Path, a file name, or the file's text",
        )
    parsed = _parse(text.removeprefix("\ufeff"), path, format)
    return Builder(parsed, path).build()


def load_flows(paths: Iterable[str | os.PathLike[str]]) -> list[Flow]:
    """Load several flow files, in order; raises the first file's ``FlowFileError``."""
    return [load_flow(Path(path)) for path in paths]


def flow_source(flow: Flow) -> SourceMap | None:
    """Where ``flow`` was read from (file, positions, ``tools:``); ``None`` if built in Python."""
    return source_of(flow)


def _read(path: str) -> str:
    def fail(message: str, hint: str) -> FlowFileError:
        return FlowFileError(message, path=path, hint=hint)

    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise fail(
            "no such file", "check the path; it is relative to the current directory"
        ) from None
    except IsADirectoryError:
        raise fail("this is a directory, not a flow file", "name a .yaml or .json file") from None
    except PermissionError:
        raise fail("the file cannot be read: permission denied", "check its permissions") from None
    except OSError as exc:
        raise fail(f"the file cannot be read: {exc.strerror or exc}", "check the path") from None
    if len(data) > MAX_FILE_BYTES:
        raise fail(
            f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB",
            "a flow file describes steps; keep large data out of it",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        col = len(data[start : exc.start].decode("utf-8", "replace")) + 1  # characters
        raise FlowFileError(
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x})",
            path=path,
            line=line,
            col=col,
            hint="save the file as UTF-8",
        ) from None


def _parse(text: str, path: str | None, format: Format | None) -> Parsed:
    if not text.strip():
        raise FlowFileError(
            "the file is empty",
            path=path,
            line=1,
            col=1,
            hint="a flow file is a mapping of keys, starting with 'format_version: 1'",
        )
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # text given directly may hold a lone surrogate
            before = text[: exc.start]
            raise FlowFileError(
                "the text holds a lone surrogate, which is not a character",
                path=path,
                line=before.count("\n") + 1,
                col=exc.start - (before.rfind("\n") + 1) + 1,
                hint="pass text decoded from UTF-8",
            ) from None
    if format == "json":
        return _checked(parse_json(text, path), path)
    json_error = None
    if format is None:
        try:
            return _checked(parse_json(text, path), path)
        except FlowFileError as exc:
            if not exc.message.startswith("invalid JSON"):
                raise  # JSON, but not an acceptable one (a duplicate key, NaN...)
            json_error = exc
    try:
        return _checked(parse_yaml(text, path), path)
    except FlowFileError as exc:
        # Text that looks like JSON and is not YAML either: JSON's report is the clearer.
        if json_error is not None and text.lstrip().startswith(("{", "[")):
            raise json_error from None
        raise exc from None


def _checked(parsed: Parsed, path: str | None) -> Parsed:
    """Refuse text no JSON value may hold (a lone surrogate, written as an escape)."""
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(parsed.value, ())]
    while pending:
        value, location = pending.pop()
        items: Iterable[tuple[str | int, Any]]
        if isinstance(value, dict):
            items = value.items()
            for key in value:
                _text(key, (*location, key), parsed.positions, path)
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            if isinstance(value, str):
                where = parsed.values if location in parsed.values else parsed.positions
                _text(value, location, where, path)
            continue
        pending.extend((item, (*location, key)) for key, item in items)
    return parsed


def _text(
    text: str,
    location: tuple[str | int, ...],
    positions: Mapping[tuple[str | int, ...], tuple[int, int]],
    path: str | None,
) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        line, col = positions.get(location, (1, 1))
        raise FlowFileError(
            "the text holds a lone surrogate escape, which is not a character",
            path=path,
            line=line,
            col=col,
            hint="write the character itself, or a surrogate pair for characters above U+FFFF",
        ) from None


# ---- writing ---------------------------------------------------------------------------


def flow_file_data(flow: Flow) -> dict[str, Any]:
    """The flow-file form of ``flow`` as plain data, keys in the order files are written.

    Schemas given as pydantic models are written as their ``model_json_schema()``;
    ``tools:`` is the one the flow was loaded with, if any.
    """
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "kind": "flow" if flow.linear else "dag",
        "name": flow.name,
        "version": flow.version,
    }
    if flow.description:
        data["description"] = flow.description
    if flow.on_context_collision != "warn":
        data["on_context_collision"] = flow.on_context_collision
    definition = flow.definition()
    for key in ("input_schema", "output_schema"):
        if definition[key] is not None:
            data[key] = definition[key]
    source = source_of(flow)
    if source is not None and source.tools:
        data["tools"] = dict(source.tools)
    data["steps"] = [_step_data(step) for step in flow.steps]
    return data


def _step_data(step: Step | MapStep) -> dict[str, Any]:
    raw = step.model_dump(mode="json", exclude_defaults=True)
    ordered = {key: raw[key] for key in _STEP_ORDER if key in raw}
    ordered.update((key, value) for key, value in raw.items() if key not in ordered)
    if isinstance(step, MapStep):
        for key in ("over", "item", "results"):  # required: a step with `over` is a map
            ordered.setdefault(key, getattr(step, key))
    return ordered


def dump_flow(
    flow: Flow, path: str | os.PathLike[str] | None = None, *, format: Format = "yaml"
) -> str:
    """The text of ``flow`` as a flow file (``format`` ``"yaml"`` or ``"json"``).

    Deterministic: the same flow gives the same text (``format_version`` first, keys in
    a fixed order, block-style YAML). With ``path`` the text is also written there,
    atomically (a temporary file in the same directory, then renamed; ``FlowFileError``
    if it cannot be).
    """
    data = flow_file_data(flow)
    if format == "json":
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    elif format == "yaml":
        text = _yaml_text(data)
    else:
        raise FlowFileError(f"unknown flow file format {format!r}", hint="use 'yaml' or 'json'")
    if path is not None:
        target = os.fspath(path)
        try:
            _write_atomic(target, text)
        except OSError as exc:
            raise FlowFileError(
                f"the flow file cannot be written: {exc.strerror or exc}",
                path=target,
                hint="check that the directory exists and is writable",
            ) from exc
    return text


def _yaml_text(data: dict[str, Any]) -> str:
    try:
        yaml = yaml_module()
    except FlowFileError as exc:
        raise FlowFileError(
            "writing a YAML flow file needs PyYAML, which is not installed",
            hint=f"{exc.hint}, or dump with format='json'",
        ) from None
    base = yaml.SafeDumper

    def ignore_aliases(self: Any, data: Any) -> bool:
        return True  # equal values are written out, never as anchors

    def increase_indent(self: Any, flow: bool = False, indentless: bool = False) -> None:
        base.increase_indent(self, flow, False)  # list items indented under their key

    def text(dumper: Any, value: str) -> Any:
        # PyYAML writes YAML's other line breaks raw in plain and single-quoted text,
        # where reading folds them: only double quotes keep them (as escapes).
        style = "|" if "\n" in value.strip("\n") else None
        if any(char in value for char in "\x85\u2028\u2029"):
            style = '"'
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    dumper: Any = type(
        "FlowDumper",
        (base,),
        {"ignore_aliases": ignore_aliases, "increase_indent": increase_indent},
    )
    dumper.add_representer(str, text)
    add_number_resolver(dumper)  # so that text such as "1e3" is quoted
    dumped: str = yaml.dump(
        data,
        Dumper=dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
        indent=2,
    )
    return dumped


def _write_atomic(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would outlive the rename
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise

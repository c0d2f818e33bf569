"""Tool manifests: the compiler's view of a set of tools, as a JSON file.

A manifest lets a flow be linted where its tools cannot be imported (CI without the
application's dependencies, another language's tools). It holds, per tool, exactly what
a :class:`~dagwright.tools.ToolSpec` holds, plus its ``schema_hash`` so that a manifest
edited by hand or left behind by a change of the tools is refused rather than trusted::

    {
      "format_version": 1,
      "tools": [
        {
          "cacheable": false,
          "description": "Search the web.",
          "idempotent": true,
          "input_schema": {...},
          "name": "search",
          "output_schema": {...},
          "schema_hash": "9f2c...",
          "version": "1"
        }
      ]
    }

Tools are sorted by name and every entry's keys are sorted, so one set of tools always
gives the same bytes. The JSON Schemas keep their own key order (a model's property
order is its field order, which the compiler's messages follow), so the specs loaded
back are equal to the tools' specs, not merely equivalent.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from dagwright.errors import DagwrightError, ToolManifestError
from dagwright.io.files import _write_atomic as write_atomic
from dagwright.tools import Tool, ToolSpec

FORMAT_VERSION = 1
"""The manifest format this version of dagwright writes and reads."""

_ENTRY_KEYS = (
    "cacheable",
    "description",
    "idempotent",
    "input_schema",
    "name",
    "output_schema",
    "schema_hash",
    "version",
)
_TYPES: dict[str, type] = {
    "cacheable": bool,
    "description": str,
    "idempotent": bool,
    "input_schema": dict,
    "name": str,
    "output_schema": dict,
    "schema_hash": str,
    "version": str,
}
_TYPE_NAMES = {bool: "a boolean", str: "a string", dict: "an object"}
_Fail = Callable[[str, str | None], ToolManifestError]
_EXPORT = "dagwright tools export MODULE -o FILE"
_REEXPORT = f"re-export it from the tools: {_EXPORT}"


def _spec(tool: Tool | ToolSpec) -> ToolSpec:
    if isinstance(tool, Tool):
        return tool.spec
    if isinstance(tool, ToolSpec):
        return tool
    raise ToolManifestError(
        f"cannot describe {type(tool).__name__} {tool!r} in a tool manifest: "
        "expected a Tool or a ToolSpec",
        hint="pass the objects @tool built, or ToolSpecs",
    )


def _entry(spec: ToolSpec) -> dict[str, Any]:
    values: dict[str, Any] = {
        "cacheable": spec.cacheable,
        "description": spec.description,
        "idempotent": spec.idempotent,
        # Copies: the caller may edit the manifest, the spec's schemas must not change.
        "input_schema": copy.deepcopy(spec.input_json_schema),
        "name": spec.name,
        "output_schema": copy.deepcopy(spec.output_json_schema),
        "schema_hash": spec.schema_hash,
        "version": spec.version,
    }
    return {key: values[key] for key in _ENTRY_KEYS}


def tool_manifest(tools: Iterable[Tool | ToolSpec]) -> dict[str, Any]:
    """The manifest of ``tools`` (``Tool``s or ``ToolSpec``s) as a JSON-ready dict.

    ``{"format_version": 1, "tools": [...]}`` with one entry per tool, sorted by name
    (a fresh dict: editing it changes no tool),
    each with ``name``, ``version``, ``description``, ``input_schema`` and
    ``output_schema`` (JSON Schemas), ``schema_hash``, ``cacheable`` and ``idempotent``.
    The same tool given twice is described once; two different tools with one name
    raise :class:`~dagwright.errors.ToolManifestError` (a flow could not tell them apart).
    """
    by_name: dict[str, ToolSpec] = {}
    for tool in tools:
        spec = _spec(tool)
        seen = by_name.setdefault(spec.name, spec)
        if seen.schema_hash != spec.schema_hash:
            raise ToolManifestError(
                f"two different tools are named {spec.name!r} (schema hashes "
                f"{seen.schema_hash[:12]} and {spec.schema_hash[:12]})",
                hint="give each tool a unique name with @tool(name=...)",
            )
    return {
        "format_version": FORMAT_VERSION,
        "tools": [_entry(by_name[name]) for name in sorted(by_name)],
    }


def manifest_text(tools: Iterable[Tool | ToolSpec]) -> str:
    """The manifest of ``tools`` as the exact text :func:`write_tool_manifest` writes:
    2-space indented JSON ending with a newline, the same bytes for the same tools."""
    return json.dumps(tool_manifest(tools), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_tool_manifest(tools: Iterable[Tool | ToolSpec], path: str | os.PathLike[str]) -> Path:
    """Write the manifest of ``tools`` to ``path`` (UTF-8) and return the path.

    The write is atomic: the text goes to a temporary file in the same directory, which
    then replaces ``path``, so a reader never sees half a manifest. An unwritable place
    raises :class:`~dagwright.errors.ToolManifestError` naming it.
    """
    target = Path(path)
    text = manifest_text(tools)
    try:
        write_atomic(str(target), text)
    except OSError as exc:
        raise ToolManifestError(
            f"cannot write tool manifest {str(target)!r}: {exc.strerror or exc}",
            path=str(target),
            hint="check that the directory exists and is writable",
        ) from exc
    return target


def load_tool_manifest(path: str | os.PathLike[str]) -> list[ToolSpec]:
    """The :class:`~dagwright.tools.ToolSpec`\\ s described by the manifest at ``path``,
    in the manifest's order (by name).

    The specs have the same ``schema_hash`` as the tools the manifest was made from, so
    compiling a flow against them gives the same diagnostics as against the tools. A
    missing or unreadable file, text that is not JSON, a document that is not a manifest
    (wrong keys or value types), an unknown ``format_version``, two entries with one
    name, or a ``schema_hash`` that does not match the entry's schemas (a manifest
    edited by hand, or stale) raise :class:`~dagwright.errors.ToolManifestError` with
    ``path`` set and a one-line message saying which entry and what is wrong.
    """
    where = str(path)

    def fail(problem: str, hint: str | None = None) -> ToolManifestError:
        return ToolManifestError(f"tool manifest {where!r}: {problem}", path=where, hint=hint)

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise fail(
            "no such file", "export one with: dagwright tools export MODULE -o FILE"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise fail(f"cannot be read: {reason}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(
            f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", _REEXPORT
        ) from None
    if not isinstance(document, dict):
        raise fail(f"expected a JSON object, got {_kind(document)}", _REEXPORT)
    unknown = sorted(set(document) - {"format_version", "tools"})
    if unknown:
        raise fail(f"unknown key(s) {', '.join(map(repr, unknown))}", _REEXPORT)
    version = document.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise fail(
            f"unsupported format_version {version!r} (this dagwright reads {FORMAT_VERSION})",
            "export the manifest with this version of dagwright",
        )
    entries = document.get("tools")
    if not isinstance(entries, list):
        raise fail(f"'tools' must be a list, got {_kind(entries)}", _REEXPORT)
    specs: list[ToolSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        spec = _load_entry(entry, f"tools[{index}]", fail)
        if spec.name in seen:
            raise fail(f"tools[{index}]: a second tool named {spec.name!r}", _REEXPORT)
        seen.add(spec.name)
        specs.append(spec)
    return specs


def _kind(value: object) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    return names.get(type(value), "a list" if isinstance(value, list) else "an object")


def _load_entry(entry: object, at: str, fail: _Fail) -> ToolSpec:
    if not isinstance(entry, dict):
        raise fail(f"{at}: expected an object, got {_kind(entry)}", _REEXPORT)
    name = entry.get("name")
    if isinstance(name, str):
        at = f"{at} ({name!r})"
    missing = [key for key in _ENTRY_KEYS if key not in entry]
    if missing:
        raise fail(f"{at}: missing key(s) {', '.join(map(repr, missing))}", _REEXPORT)
    unknown = sorted(set(entry) - set(_ENTRY_KEYS))
    if unknown:
        raise fail(f"{at}: unknown key(s) {', '.join(map(repr, unknown))}", _REEXPORT)
    for key, expected in _TYPES.items():
        value = entry[key]
        if not isinstance(value, expected):
            raise fail(
                f"{at}: {key!r} must be {_TYPE_NAMES[expected]}, got {_kind(value)}", _REEXPORT
            )
    try:
        spec = ToolSpec(
            name=entry["name"],
            version=entry["version"],
            description=entry["description"],
            input_json_schema=entry["input_schema"],
            output_json_schema=entry["output_schema"],
            idempotent=entry["idempotent"],
            cacheable=entry["cacheable"],
        )
    except DagwrightError as exc:  # an invalid tool name
        raise fail(f"{at}: {exc.message}", exc.hint) from None
    try:
        actual = spec.schema_hash
    except (TypeError, ValueError) as exc:  # a schema with no canonical JSON form
        raise fail(f"{at}: its schemas cannot be hashed: {exc}", _REEXPORT) from None
    if actual != entry["schema_hash"]:
        raise fail(
            f"{at}: schema_hash does not match the entry's name, version and schemas "
            "(the manifest was edited or is stale)",
            _REEXPORT,
        )
    return spec

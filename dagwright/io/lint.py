"""Linting flow files: every compile check, reported per file, in four formats.

:func:`lint_files` loads each file, registers every flow it loaded in one
:class:`~dagwright.registry.FlowRegistry` (so files given together resolve each other's
sub-flows), compiles each flow and collects what the compiler found into a
:class:`LintReport`, whose ``to_text`` / ``to_json`` / ``to_github`` / ``to_sarif``
render it.

Each finding is reported once, at the file it is about. A sub-flow that does not
compile makes its callers fail with its errors, prefixed ``in sub-flow '<name>'``; when
the sub-flow is one of the files linted, that file reports them already, so they are
dropped from the callers (a finding only the caller sees, such as a call cycle through
it, stays). Warnings of a sub-flow are reported by the sub-flow's file only, never
through its callers (``CompiledFlow.diagnostics``, not ``all_warnings``).

Without tools only the checks in :data:`TOOL_FREE_CODES` run (their verdict does not
depend on the tools), and ``LintReport.skipped`` lists the others.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from dagwright._source import SourceMap
from dagwright._versions import parse_version
from dagwright.compiler import CODES, Diagnostic, compile_flow
from dagwright.errors import (
    FlowCompileError,
    FlowDefinitionError,
    FlowFileError,
    FlowNotFoundError,
    FlowRetiredError,
    UsageError,
)
from dagwright.flows import Flow
from dagwright.io.files import flow_source, load_flow
from dagwright.registry import _TOOL_FREE, FlowRegistry, _resolve_reference
from dagwright.tools import Tool, ToolSpec

TOOL_FREE_CODES: frozenset[str] = _TOOL_FREE | {
    "DW105",
    "DW108",
    "DW112",
    "DW113",
    "DW401",
    "DW404",
    "DW406",
}
"""Codes whose verdict needs no tool: those the registry checks without tools, plus the
ones that need only the other flows, which lint has (unknown sub-flow or version
``DW105``, call cycles ``DW108``, retired and deprecated sub-flows ``DW113`` and
``DW406``), map keys (``DW112``), unreachable steps (``DW401``) and the flow's
description (``DW404``)."""

FILE_ERROR_CODE = FlowFileError.code
"""The code reports give a file that cannot be read as a flow."""

_LINT_HINTS: Mapping[str, tuple[tuple[str, str], ...]] = {
    # The compiler's hints speak to Python callers; lint's users give files and modules.
    "DW104": (
        (
            "pass the tool (or its ToolSpec) in `tools=`",
            "import the module that defines it (--tools MODULE), or export it into the "
            "manifest (--tools-manifest FILE)",
        ),
        (
            "pass the fallback tool in `tools=`",
            "import the module that defines the fallback tool (--tools MODULE), or export "
            "it into the manifest",
        ),
    ),
    "DW105": (
        (
            "register the sub-flow with FlowRegistry.register(flow)",
            "lint the file that defines the sub-flow together with this one",
        ),
    ),
}

Tools = Iterable[Tool | ToolSpec] | Mapping[str, Tool | ToolSpec]


@dataclass(frozen=True)
class LintReport:
    """What linting found.

    ``diagnostics`` are sorted by (path, line, col, code); ``skipped`` lists the codes of
    the checks that did not run because no tools were given (empty with tools);
    ``file_errors`` holds a :class:`~dagwright.errors.FlowFileError` per file that could
    not be read as a flow; ``files`` the paths linted, in the order given; ``strict``
    whether warnings were made errors.
    """

    diagnostics: tuple[Diagnostic, ...] = ()
    skipped: tuple[str, ...] = ()
    file_errors: tuple[FlowFileError, ...] = ()
    files: tuple[str, ...] = ()
    strict: bool = False

    @property
    def exit_code(self) -> int:
        """2 when a file could not be read, else 1 when any finding is an error (with
        ``strict``, warnings are errors), else 0."""
        if self.file_errors:
            return 2
        if any(d.severity == "error" for d in self.diagnostics):
            return 1
        return 0

    def to_text(self) -> str:
        """ruff-style text: ``path:line:col: CODE message`` per finding, its hint on the
        next line, then a summary (see :func:`dagwright.io._formats.text`)."""
        from dagwright.io._formats import text

        return text(self)

    def to_json(self) -> str:
        """A JSON list of findings (file errors included), each with ``code``,
        ``severity``, ``message``, ``hint``, ``path``, ``line``, ``col``, ``step_id``."""
        from dagwright.io._formats import json_text

        return json_text(self)

    def to_github(self) -> str:
        """GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice``
        annotation line per finding."""
        from dagwright.io._formats import github

        return github(self)

    def to_sarif(self) -> str:
        """A SARIF 2.1.0 log as JSON text (see :mod:`dagwright.io._sarif`)."""
        from dagwright.io._sarif import sarif_text

        return sarif_text(self)

    def render(self, format: str = "text") -> str:
        """The report in ``format``: ``"text"``, ``"json"``, ``"sarif"`` or ``"github"``
        (the ``to_*`` method of that name). Another format raises
        :class:`~dagwright.errors.UsageError`."""
        renderers = {
            "text": self.to_text,
            "json": self.to_json,
            "sarif": self.to_sarif,
            "github": self.to_github,
        }
        if format not in renderers:
            raise UsageError(
                f"unknown lint report format {format!r}",
                hint=f"use one of: {', '.join(renderers)}",
            )
        return renderers[format]()

    def write(self, path: str | os.PathLike[str], *, format: str = "text") -> None:
        """Write :meth:`render` of ``format`` to ``path`` atomically (a temporary file in
        the same directory, then renamed over ``path``), ending with a newline; the
        directory must exist. A reader never sees a partial report, and a failed write
        leaves what was there. An ``OSError`` names ``path``."""
        from dagwright.io.files import _write_atomic

        text = self.render(format)
        target = os.fspath(path)
        try:
            _write_atomic(target, text if text.endswith("\n") else text + "\n")
        except OSError as exc:
            # Name the file asked for, not the temporary one beside it.
            raise OSError(exc.errno, exc.strerror, target) from exc


def parse_codes(selectors: Iterable[str], option: str = "select") -> tuple[str, ...]:
    """Normalize code selectors: full codes (``DW301``) or prefixes (``DW3``, ``DW``),
    comma- or space-separated, case-insensitive. A selector that matches no code raises
    :class:`~dagwright.errors.UsageError` with the closest code."""
    if isinstance(selectors, str):
        selectors = [selectors]
    found: list[str] = []
    for chunk in selectors:
        for raw in chunk.replace(",", " ").split():
            code = raw.strip().upper()
            if not any(known.startswith(code) for known in CODES):
                # A letter O typed for a zero is the usual slip; else the closest code.
                close = [code.replace("O", "0")] if code.replace("O", "0") in CODES else []
                close = close or difflib.get_close_matches(code, list(CODES), n=1, cutoff=0.5)
                tip = f"did you mean {close[0]!r}? " if close else ""
                raise UsageError(
                    f"{option}: unknown diagnostic code or prefix {raw!r}",
                    hint=f"{tip}codes are {min(CODES)}-{max(CODES)}, listed in "
                    "docs/reference/diagnostics.md",
                )
            found.append(code)
    return tuple(dict.fromkeys(found))


def _enabled(code: str, select: tuple[str, ...], ignore: tuple[str, ...]) -> bool:
    # ruff's rule: with no selection every code is on; an ignore beats a selection.
    if select and not any(code.startswith(s) for s in select):
        return False
    return not any(code.startswith(i) for i in ignore)


class _LintRegistry(FlowRegistry):
    """A registry that holds flows unchecked: lint compiles and reports every flow
    itself, so a flow with errors must still be there for its callers to resolve."""

    def _check(self, flow: Flow) -> None:
        return None


def _propagated(message: str, sub: str, inner: Diagnostic) -> bool:
    where = f" at step {inner.step_id!r}" if inner.step_id is not None else ""
    return message == f"in sub-flow {sub!r}{where}: {inner.message}"


@dataclass
class _Linted:
    path: str
    flow: Flow
    raw: tuple[Diagnostic, ...] = ()


def _compile(flow: Flow, tools: Tools | None, registry: FlowRegistry) -> tuple[Diagnostic, ...]:
    # Not strict here: strictness is applied per file afterwards, so that a sub-flow's
    # warnings are promoted at its own file and never reach its callers.
    try:
        return compile_flow(flow, tools if tools is not None else (), registry=registry).diagnostics
    except FlowCompileError as exc:
        return tuple(exc.diagnostics)


def _place(diagnostic: Diagnostic, path: str, source: SourceMap | None) -> Diagnostic:
    line, col = diagnostic.line, diagnostic.col
    if line is None and source is not None:
        line, col = source.position(diagnostic.location)
    return replace(diagnostic, path=path, line=line, col=col)


def _adjusted(d: Diagnostic, strict: bool) -> Diagnostic:
    """``d`` as lint reports it: a warning made an error under ``strict``, and the
    unknown tool and flow hints speaking of modules and files rather than arguments."""
    if strict and d.severity == "warning":
        d = replace(d, severity="error")
    hint = d.hint
    if hint is not None:
        for library, lint in _LINT_HINTS.get(d.code, ()):
            hint = hint.replace(library, lint)
        d = replace(d, hint=hint)
    return d


def _sort_key(d: Diagnostic) -> tuple[str, int, int, str, str]:
    return (d.path or "", d.line or 0, d.col or 0, d.code, d.message)


def lint_loaded(
    loaded: Sequence[tuple[str, Flow]],
    *,
    tools: Tools | None = None,
    select: Iterable[str] = (),
    ignore: Iterable[str] = (),
    strict: bool = False,
    file_errors: Sequence[FlowFileError] = (),
    files: Sequence[str] | None = None,
) -> LintReport:
    """Lint flows already loaded, each with the path it was read from (or a label):
    :func:`lint_files` without the loading. ``file_errors`` are added to the report as
    they are; ``files`` (default: the paths of ``loaded``) is what the report says was
    linted."""
    chosen, dropped = parse_codes(select, "select"), parse_codes(ignore, "ignore")
    registry = _LintRegistry()
    errors = list(file_errors)
    linted: list[_Linted] = []
    for path, flow in loaded:
        try:
            registry.register(flow)
        except FlowDefinitionError as exc:
            errors.append(_registration_error(exc, path, flow, linted))
            continue
        linted.append(_Linted(path, flow))
    for entry in linted:
        entry.raw = _compile(entry.flow, tools, registry)
    by_name = {(e.flow.name, e.flow.version): e for e in linted}
    found: list[Diagnostic] = []
    for entry in linted:
        calls = {
            index: step.flow for index, step in enumerate(entry.flow.steps) if step.flow is not None
        }
        source = flow_source(entry.flow)
        for d in entry.raw:
            if tools is None and d.code not in TOOL_FREE_CODES:
                continue
            if not _enabled(d.code, chosen, dropped):
                continue
            if _reported_by_subflow(d, calls, registry, by_name):
                continue
            found.append(_place(_adjusted(d, strict), entry.path, source))
    skipped: tuple[str, ...] = ()
    if tools is None:
        skipped = tuple(
            c for c in CODES if c not in TOOL_FREE_CODES and _enabled(c, chosen, dropped)
        )
    return LintReport(
        diagnostics=tuple(sorted(found, key=_sort_key)),
        skipped=skipped,
        file_errors=tuple(sorted(errors, key=_file_error_key)),
        files=tuple(files) if files is not None else tuple(p for p, _ in loaded),
        strict=strict,
    )


def _registration_error(
    exc: FlowDefinitionError, path: str, flow: Flow, linted: Sequence[_Linted]
) -> FlowFileError:
    """A file whose flow the registry refused: a version defined differently in an
    earlier file (PEP 440 equal: ``1`` and ``1.0`` are one version), or a version or
    name the registry never takes (positioned at that key)."""
    key = parse_version(flow.version)
    first = next(
        (
            e.path
            for e in linted
            if e.flow.name == flow.name and key is not None and parse_version(e.flow.version) == key
        ),
        None,
    )
    if first is None:
        return _registration_file_error(exc, flow, path)
    return FlowFileError(
        f"flow {flow.name!r} version {flow.version!r} is also defined, differently, in {first}",
        path=path,
        hint="give each flow its own name, or a new version",
    )


def _registration_file_error(
    exc: FlowDefinitionError, flow: Flow, path: str | None = None
) -> FlowFileError:
    """``exc``, raised registering ``flow`` (a version that is not PEP 440, a name
    holding ``@``, another definition of its version), as a file error at the file
    ``flow`` was read from, positioned at its ``version`` or ``name`` when that is the
    cause."""
    source = flow_source(flow)
    path = path if path is not None else (source.path if source is not None else None)
    line = col = None
    if source is not None:
        at = "name" if "flow name" in exc.message else "version"
        line, col = source.position((at,))
    return FlowFileError(exc.message, path=path, line=line, col=col, hint=exc.hint)


def _file_error_key(error: FlowFileError) -> tuple[str, int, int]:
    return (error.path or "", error.line or 0, error.col or 0)


def _reported_by_subflow(
    d: Diagnostic,
    calls: Mapping[int, str],
    registry: FlowRegistry,
    by_name: Mapping[tuple[str, str], _Linted],
) -> bool:
    """Whether ``d`` is a sub-flow's own finding passed on to its caller, which the
    sub-flow's file reports itself."""
    location = d.location
    if len(location) != 3 or location[0] != "steps" or location[2] != "flow":
        return False
    reference = calls.get(location[1]) if isinstance(location[1], int) else None
    if reference is None:
        return False
    try:
        sub = _resolve_reference(registry, reference).flow
    except (FlowNotFoundError, FlowRetiredError):
        return False
    entry = by_name.get((sub.name, sub.version))
    if entry is None:
        return False
    return any(
        inner.code == d.code and _propagated(d.message, reference, inner) for inner in entry.raw
    )


def lint_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    tools: Tools | None = None,
    select: Iterable[str] = (),
    ignore: Iterable[str] = (),
    strict: bool = False,
) -> LintReport:
    """Lint the flow files at ``paths`` together and return a :class:`LintReport`.

    A directory stands for every flow file (``.yaml``, ``.yml``, ``.json``) under it, at
    any depth, hidden directories excluded, in sorted order (see :func:`expand_paths`).
    Each file is read with :func:`dagwright.load_flow`; one that cannot be read is
    reported in ``file_errors`` and the others are still linted. Every flow read is
    registered in one registry, so a file's sub-flows may be defined in other files
    given with it, and compiled against ``tools`` (``Tool``s or ``ToolSpec``s, such as
    :func:`~dagwright.io.load_tool_manifest` returns). With ``tools=None`` only the
    checks that need no tool run (:data:`TOOL_FREE_CODES`); ``tools=[]`` runs every
    check against no tools.

    ``select`` and ``ignore`` take codes or prefixes (``DW2``, ``DW301``), as ruff does:
    without ``select`` every code is reported, and ``ignore`` wins over ``select``. An
    unknown code raises :class:`~dagwright.errors.UsageError`. ``strict`` makes warnings
    errors. Two files defining one flow name and version differently: the second is a
    file error.
    """

    given, errors = expand_paths(paths)
    # Refused before any file is read.
    chosen, dropped = parse_codes(select, "select"), parse_codes(ignore, "ignore")
    loaded: list[tuple[str, Flow]] = []
    for path in given:
        try:
            loaded.append((path, load_flow(Path(path))))
        except FlowFileError as exc:
            errors.append(exc if exc.path is not None else _with_path(exc, path))
    return lint_loaded(
        loaded,
        tools=tools,
        select=chosen,
        ignore=dropped,
        strict=strict,
        file_errors=errors,
        files=given,
    )


FLOW_SUFFIXES = (".yaml", ".yml", ".json")
"""The file names a directory given to :func:`lint_files` is searched for."""


def expand_paths(
    paths: Iterable[str | os.PathLike[str]],
) -> tuple[list[str], list[FlowFileError]]:
    """The files ``paths`` stand for, and an error per directory that holds none.

    A file stays as given (missing or not: reading it reports that). A directory gives
    its files ending in :data:`FLOW_SUFFIXES`, at any depth, skipping hidden
    directories and files (``.git``, ``.venv``), sorted; a directory with no such file
    is a :class:`~dagwright.errors.FlowFileError`, since linting nothing is never what
    was meant. A file named twice is linted once.
    """
    files: list[str] = []
    errors: list[FlowFileError] = []
    for given in paths:
        path = os.fspath(given)
        if not os.path.isdir(path):
            files.append(path)
            continue
        found = sorted(
            str(found)
            for found in Path(path).rglob("*")
            if found.suffix.lower() in FLOW_SUFFIXES
            and found.is_file()
            and not any(part.startswith(".") for part in found.relative_to(path).parts)
        )
        if not found:
            errors.append(
                FlowFileError(
                    "no flow files (.yaml, .yml, .json) in this directory",
                    path=path,
                    hint="name the flow files, or the directory that holds them",
                )
            )
        files.extend(found)
    return list(dict.fromkeys(files)), errors


def _with_path(error: FlowFileError, path: str) -> FlowFileError:
    copy = FlowFileError(error.message, path=path, line=error.line, col=error.col, hint=error.hint)
    copy.__cause__ = error
    return copy

"""FlowRegistry: flows by name, several PEP 440 versions each, each with a status.

Versions are immutable: registering a different definition under a name and a version
equal to one already there (PEP 440 equality: ``"1"`` is ``"1.0"``) is refused (the
same definition again is a no-op), so a run that names a version always gets the flow
it was written against. Each version has a status, ``draft``, ``active``,
``deprecated`` or ``retired``; ``get(name)`` without a version returns the latest
``active`` one (see :meth:`FlowRegistry.get` for the fallbacks).

Entries are copy-on-write: every change makes a new immutable :class:`FlowVersion`
and a new tuple of a name's versions, replacing the old ones; whatever a caller (a
compiled plan, a run in flight) already holds never changes under it. Every change
bumps :attr:`FlowRegistry.generation`, so plans resolved through "latest" recompile.
"""

from __future__ import annotations

import bisect
import copy
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple, TypeAlias

from packaging.version import Version

from dagwright._misuse import flow_ref_error
from dagwright._versions import SEPARATOR, VERSION_HINT, parse_version, split_reference
from dagwright.errors import (
    FlowCompileError,
    FlowDefinitionError,
    FlowNotFoundError,
    FlowRetiredError,
    UsageError,
)
from dagwright.flows import Flow
from dagwright.tools import Tool, ToolSpec

Tools = Iterable[Tool | ToolSpec] | Mapping[str, Tool | ToolSpec]

Status: TypeAlias = Literal["draft", "active", "deprecated", "retired"]
"""A flow version's status: what it is offered for (see :class:`FlowRegistry`)."""

STATUSES: tuple[Status, ...] = ("draft", "active", "deprecated", "retired")
"""Every status, in the order a version usually goes through them."""

_TOOL_FREE = frozenset(
    {"DW101", "DW102", "DW103", "DW106", "DW107", "DW109", "DW110", "DW111", "DW208"}
)
"""The checks whose verdict needs neither a tool nor the sub-flows: ids, dependencies,
cycles, targets named, map settings, predicates and pointers."""

_REGISTRY_STATE = frozenset({"DW105", "DW113"})
"""Findings about the sub-flows the registry holds now (unknown, retired): they are
judged when the caller is compiled to run, never at its registration, since the
registry may change in between (callers may come before their sub-flows)."""


def version_key(version: str) -> Version:
    """Sort key for flow versions: the PEP 440 version (``"1.10" > "1.9"``,
    ``"2.0rc1" < "2.0"``). Raises ``FlowDefinitionError`` for a version that is not
    PEP 440."""
    parsed = parse_version(version)
    if parsed is None:
        raise FlowDefinitionError(f"{version!r} is not a PEP 440 version", hint=VERSION_HINT)
    return parsed


class FlowVersion(NamedTuple):
    """One registered version of a flow: its version as registered, its status and the
    flow. Immutable: :meth:`FlowRegistry.set_status` replaces an entry with a new one,
    so an entry held before a change still says what it said."""

    version: str
    status: Status
    flow: Flow


@dataclass(frozen=True, slots=True)
class _Line:
    """One name's versions in PEP 440 order, with their parsed versions (immutable)."""

    entries: tuple[FlowVersion, ...]
    keys: tuple[Version, ...]

    def find(self, key: Version) -> int | None:
        at = bisect.bisect_left(self.keys, key)
        return at if at < len(self.keys) and self.keys[at] == key else None

    def put(self, key: Version, entry: FlowVersion) -> _Line:
        at = bisect.bisect_left(self.keys, key)
        replace = at < len(self.keys) and self.keys[at] == key
        after = at + 1 if replace else at
        return _Line(
            (*self.entries[:at], entry, *self.entries[after:]),
            (*self.keys[:at], key, *self.keys[after:]),
        )

    def latest(self, status: Status) -> FlowVersion | None:
        for entry in reversed(self.entries):
            if entry.status == status:
                return entry
        return None

    def listing(self) -> str:
        return ", ".join(f"{e.version} ({e.status})" for e in self.entries)


class _Book:
    """A registry's state; shared by the registry and its resume view."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lines: dict[str, _Line] = {}
        self.generation = 0


class FlowRegistry:
    """Holds flows by name and version, each version with a status; safe to share
    between threads.

    **Versions** are PEP 440 versions (``packaging.version.Version``): ``"1.10"`` comes
    after ``"1.9"``, ``"2.0rc1"`` before ``"2.0"``, ``"1.0.post1"`` after ``"1.0"``, and
    equal versions (``"1"``, ``"1.0"``) are one version. A flow whose version is not
    PEP 440 is refused at :meth:`register`.

    **Statuses**: ``draft`` (runs only when named with its version), ``active`` (what a
    bare name resolves to), ``deprecated`` (still runs, with a warning; a bare name
    falls back to it when no version is active), ``retired`` (refused for new runs;
    runs that started on it can still be resumed). Any status may follow any other.

    :meth:`register` checks each flow before adding it and raises
    :class:`~dagwright.errors.FlowCompileError` (adding nothing) when a check fails.
    Given ``tools`` (``Tool``s or ``ToolSpec``s, as for ``compile_flow``), it runs every
    check, sub-flows resolving through this registry. Without them (``tools=None``) it
    runs those that need no tool: duplicate or missing ids, unknown dependencies,
    cycles, steps naming both or neither of tool/flow, map settings, ``when``
    predicates and JSON pointers; tools, types and data flow are checked when the flow
    is compiled to run. A sub-flow that is not registered yet, or is retired, is not an
    error here (callers may be registered before the flows they call): it is when the
    caller is compiled.
    """

    def __init__(
        self, flows: tuple[Flow, ...] | list[Flow] = (), tools: Tools | None = None
    ) -> None:
        self._book = _Book()
        self._admit_retired = False
        self._tools: Tools | None = (
            None if tools is None else dict(tools) if isinstance(tools, Mapping) else tuple(tools)
        )
        for flow in flows:
            self.register(flow)

    # ---- changes ---------------------------------------------------------------------

    def register(self, flow: Flow, status: Status = "active") -> Flow:
        """Check ``flow`` (see the class docstring), add it under its name and version
        with ``status``, and return it.

        Registering the same definition again under an equal version is a no-op (with
        the status it has; change that with :meth:`set_status`). Raises
        :class:`~dagwright.errors.FlowCompileError` when a check fails,
        :class:`~dagwright.errors.FlowDefinitionError` when the version is not PEP 440,
        the name holds ``@``, or another definition already holds that name and version,
        and :class:`~dagwright.errors.UsageError` when ``flow`` is not a flow, ``status``
        is not a status, or the same definition is registered with another status.
        """
        if not isinstance(flow, Flow):
            raise flow_ref_error(flow, names=False)
        _check_status(status)
        if SEPARATOR in flow.name:
            raise FlowDefinitionError(
                f"flow name {flow.name!r} holds {SEPARATOR!r}, which separates a name from "
                "a version in flow references",
                hint="rename the flow: a name is referred to as name or name@version",
            )
        key = _flow_key(flow)
        self._check(flow)
        book = self._book
        with book.lock:
            line = book.lines.get(flow.name, _EMPTY)
            at = line.find(key)
            if at is not None:
                existing = line.entries[at]
                if not _same_definition(existing.flow, flow):
                    raise FlowDefinitionError(
                        f"flow {flow.name!r} version {flow.version!r} is already registered "
                        + (
                            "with a different definition"
                            if existing.version == flow.version
                            else f"as version {existing.version!r} (an equal PEP 440 "
                            "version) with a different definition"
                        ),
                        hint="registered versions are immutable: bump `version` for the change",
                    )
                if existing.status != status:
                    raise UsageError(
                        f"flow {flow.name!r} version {existing.version!r} is already "
                        f"registered with status {existing.status!r}, not {status!r}",
                        hint="change a registered version's status with "
                        "FlowRegistry.set_status(name, version, status)",
                    )
                return flow
            book.lines[flow.name] = line.put(key, FlowVersion(flow.version, status, flow))
            book.generation += 1
            return flow

    def set_status(self, name: str, version: str, status: Status) -> FlowVersion:
        """Give ``name`` at ``version`` the status ``status`` and return its new entry.

        Copy-on-write: a new :class:`FlowVersion` replaces the old one, which is left as
        it was, and :attr:`generation` is bumped (unless the status was already
        ``status``). Runs in flight keep what they resolved; the next run sees the
        change. Raises ``FlowNotFoundError`` for an unknown name or version and
        ``UsageError`` for a status that is not one of :data:`STATUSES`.
        """
        _check_status(status)
        book = self._book
        with book.lock:
            line, at = self._find(name, version)
            old = line.entries[at]
            if old.status == status:
                return old
            entry = old._replace(status=status)
            book.lines[name] = line.put(line.keys[at], entry)
            book.generation += 1
            return entry

    def _check(self, flow: Flow) -> None:
        with self._book.lock:
            line = self._book.lines.get(flow.name, _EMPTY)
            at = line.find(_flow_key(flow))
            existing = None if at is None else line.entries[at].flow
        if existing is not None and _same_definition(existing, flow):
            return  # checked when it was first registered
        from dagwright.compiler import compile_flow  # the compiler imports this module

        try:
            compile_flow(flow, self._tools or (), registry=self)
        except FlowCompileError as exc:
            errors = [
                d
                for d in exc.diagnostics
                if d.severity == "error"
                and d.code not in _REGISTRY_STATE
                and (self._tools is not None or d.code in _TOOL_FREE)
            ]
            if errors:
                raise FlowCompileError(flow.name, errors) from None

    # ---- lookups -----------------------------------------------------------------------

    def get(self, name: str, version: str | None = None) -> Flow:
        """The flow ``name`` at ``version`` (whatever its status), or, without a version,
        the one a bare name runs.

        Without a version: the latest ``active`` version; when none is active, the
        latest ``deprecated`` one; when none is either, ``FlowRetiredError`` if some
        version is retired (drafts never stand in), else (only drafts)
        ``FlowNotFoundError`` naming the drafts, which run only when named with their
        version. ``FlowNotFoundError`` for an unknown name or version.
        """
        return self.entry(name, version).flow

    def entry(self, name: str, version: str | None = None) -> FlowVersion:
        """The :class:`FlowVersion` that :meth:`get` returns the flow of: with its
        version as registered and its status."""
        with self._book.lock:
            line = self._line(name)
            if version is not None:
                return line.entries[self._find(name, version)[1]]
            found = line.latest("active") or line.latest("deprecated")
            if found is not None:
                return found
        retired = line.latest("retired")
        drafts = [e.version for e in line.entries if e.status == "draft"]
        pin = f" (drafts run only when named: {name}{SEPARATOR}{drafts[-1]})" if drafts else ""
        if retired is not None:
            raise FlowRetiredError(
                f"every released version of flow {name!r} is retired "
                f"(registered: {line.listing()})",
                name=name,
                version=retired.version,
                hint=f"set a version active with FlowRegistry.set_status{pin}",
            )
        raise FlowNotFoundError(
            f"flow {name!r} has no active or deprecated version, only drafts ({', '.join(drafts)})",
            hint=f"name a draft with its version, as {name}{SEPARATOR}{drafts[-1]!s}, or "
            "make one active with FlowRegistry.set_status",
        )

    def versions(self, name: str) -> tuple[FlowVersion, ...]:
        """Every version of ``name``, in PEP 440 order, each with its status (an
        immutable snapshot). ``FlowNotFoundError`` for an unknown name."""
        with self._book.lock:
            return self._line(name).entries

    def status(self, name: str, version: str) -> Status:
        """The status of ``name`` at ``version`` (``FlowNotFoundError`` when unknown)."""
        return self.entry(name, version).status

    @property
    def generation(self) -> int:
        """A counter bumped by every new registration and status change: compiled plans
        that resolved sub-flows by "latest version" are valid only for the generation
        they saw."""
        return self._book.generation

    def _line(self, name: str) -> _Line:
        line = self._book.lines.get(name)
        if line is None:
            known = ", ".join(sorted(self._book.lines)) or "none"
            raise FlowNotFoundError(
                f"no flow named {name!r} is registered (known: {known})",
                hint="register it with FlowRegistry.register(flow)",
            )
        return line

    def _find(self, name: str, version: str) -> tuple[_Line, int]:
        line = self._line(name)
        key = parse_version(version)
        at = None if key is None else line.find(key)
        if at is None:
            why = "" if key is not None else f"; {version!r} is not a PEP 440 version"
            raise FlowNotFoundError(
                f"flow {name!r} has no version {version!r} (registered: {line.listing()}){why}",
                hint="name one of the registered versions, or register this one",
            )
        return line, at

    def _lookup(self, name: str, version: str) -> FlowVersion | None:
        """The entry of ``name`` at ``version``, or ``None`` (never raises)."""
        line = self._book.lines.get(name)  # immutable once read
        if line is None:
            return None  # the usual case for flows passed as objects: nothing to parse
        key = parse_version(version)
        at = None if key is None else line.find(key)
        return None if at is None else line.entries[at]

    def __contains__(self, name: object) -> bool:
        return name in self._book.lines

    def __iter__(self) -> Iterator[Flow]:
        """Every registered flow: names in registration order, versions in PEP 440 order."""
        with self._book.lock:
            flows = [e.flow for line in self._book.lines.values() for e in line.entries]
        return iter(flows)

    def __len__(self) -> int:
        with self._book.lock:
            return sum(len(line.entries) for line in self._book.lines.values())


_EMPTY = _Line((), ())


def _check_status(status: object) -> None:
    if status not in STATUSES:
        raise UsageError(
            f"{status!r} is not a flow status",
            hint=f"use one of: {', '.join(STATUSES)}",
        )


def _flow_key(flow: Flow) -> Version:
    key = parse_version(flow.version)
    if key is None:
        raise FlowDefinitionError(
            f"flow {flow.name!r} version {flow.version!r} is not a PEP 440 version",
            hint=VERSION_HINT,
        )
    return key


def _same_definition(a: Flow, b: Flow) -> bool:
    """Equal definitions, up to how an equal version is spelled (``"1"``, ``"1.0"``)."""
    if a.definition_digest == b.definition_digest:
        return True
    if a.version == b.version or type(a) is not type(b):
        return False
    return a.model_copy(update={"version": b.version}).definition_digest == b.definition_digest


def _entry_of(registry: FlowRegistry, name: str, version: str) -> FlowVersion | None:
    """The entry ``registry`` holds for ``name`` at ``version``, or ``None`` (an unknown
    name or version, or one that is not PEP 440), without building an error: for flows
    given as objects, which need not be registered at all."""
    return registry._lookup(name, version)


def _resume_view(registry: FlowRegistry) -> FlowRegistry:
    """``registry`` as resuming a run sees it: the same flows, statuses and generation
    (shared, not copied), but a sub-flow pinned to a retired version compiles, since
    the run being resumed started on it before it was retired."""
    view = copy.copy(registry)
    view._admit_retired = True
    return view


def _admits_retired(registry: FlowRegistry) -> bool:
    """Whether ``registry`` is a resume view (see :func:`_resume_view`)."""
    return registry._admit_retired


def _resolve_reference(registry: FlowRegistry, reference: str) -> FlowVersion:
    """The entry a flow reference names: ``"name@version"`` that version whatever its
    status, ``"name"`` what :meth:`FlowRegistry.get` returns for the bare name (in a
    resume view, the latest retired version when every released one is retired).
    Raises ``FlowNotFoundError`` or ``FlowRetiredError`` as ``get`` does."""
    name, version = split_reference(reference)
    try:
        return registry.entry(name, version)
    except FlowRetiredError as exc:
        if not registry._admit_retired:
            raise
        return registry.entry(name, exc.version)

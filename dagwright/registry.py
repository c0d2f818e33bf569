"""FlowRegistry: flows by name and version.

Versions are immutable: registering a different definition under a name and version
that already exist is refused (the same definition again is a no-op), so a run that
names a version always gets the flow it was written against. ``get(name)`` without a
version returns the highest version, compared part by part with numbers as numbers
(``"1.10" > "1.9"``, ``"2" > "1.5"``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping

from dagwright._misuse import flow_ref_error
from dagwright.errors import FlowCompileError, FlowDefinitionError, FlowNotFoundError
from dagwright.flows import Flow
from dagwright.tools import Tool, ToolSpec

Tools = Iterable[Tool | ToolSpec] | Mapping[str, Tool | ToolSpec]

_TOOL_FREE = frozenset(
    {"DW101", "DW102", "DW103", "DW106", "DW107", "DW109", "DW110", "DW111", "DW208"}
)
"""The checks whose verdict needs neither a tool nor the sub-flows: ids, dependencies,
cycles, targets named, map settings, predicates and pointers."""

_PART = re.compile(r"(\d+)|(\D+)")


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key for version strings: numeric parts compare as numbers, text as text."""
    return tuple((0, int(num)) if num else (1, text) for num, text in _PART.findall(version))


class FlowRegistry:
    """Holds flows by name and version; safe to share between threads.

    :meth:`register` checks each flow before adding it and raises
    :class:`~dagwright.errors.FlowCompileError` (adding nothing) when a check fails.
    Given ``tools`` (``Tool``s or ``ToolSpec``s, as for ``compile_flow``), it runs every
    check, sub-flows resolving through this registry. Without them (``tools=None``) it
    runs those that need no tool: duplicate or missing ids, unknown dependencies,
    cycles, steps naming both or neither of tool/flow, map settings, ``when``
    predicates and JSON pointers; tools, types and data flow are checked when the flow
    is compiled to run. A sub-flow that is not registered yet is not an error here
    (callers may be registered before the flows they call): it is when the caller is
    compiled.
    """

    def __init__(
        self, flows: tuple[Flow, ...] | list[Flow] = (), tools: Tools | None = None
    ) -> None:
        self._flows: dict[str, dict[str, Flow]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._tools: Tools | None = (
            None if tools is None else dict(tools) if isinstance(tools, Mapping) else tuple(tools)
        )
        for flow in flows:
            self.register(flow)

    def register(self, flow: Flow) -> Flow:
        """Check ``flow`` (see the class docstring), add it under its name and version,
        and return it.

        Raises :class:`~dagwright.errors.FlowCompileError` when a check fails,
        :class:`FlowDefinitionError` when another definition already holds that name
        and version, and :class:`~dagwright.errors.UsageError` when ``flow`` is not a flow.
        """
        if not isinstance(flow, Flow):
            raise flow_ref_error(flow, names=False)
        self._check(flow)
        with self._lock:
            versions = self._flows.setdefault(flow.name, {})
            existing = versions.get(flow.version)
            if existing is not None and existing.definition_digest != flow.definition_digest:
                raise FlowDefinitionError(
                    f"flow {flow.name!r} version {flow.version!r} is already registered "
                    "with a different definition",
                    hint="registered versions are immutable: bump `version` for the change",
                )
            if existing is None:
                versions[flow.version] = flow
                self._generation += 1
            return flow

    def _check(self, flow: Flow) -> None:
        with self._lock:
            existing = self._flows.get(flow.name, {}).get(flow.version)
        if existing is not None and existing.definition_digest == flow.definition_digest:
            return  # checked when it was first registered
        from dagwright.compiler import compile_flow  # the compiler imports this module

        try:
            compile_flow(flow, self._tools or (), registry=self)
        except FlowCompileError as exc:
            errors = [
                d
                for d in exc.diagnostics
                if d.severity == "error"
                and d.code != "DW105"
                and (self._tools is not None or d.code in _TOOL_FREE)
            ]
            if errors:
                raise FlowCompileError(flow.name, errors) from None

    def get(self, name: str, version: str | None = None) -> Flow:
        """The flow ``name`` at ``version``, or its highest version when none is given."""
        with self._lock:
            versions = self._flows.get(name)
            if not versions:
                known = ", ".join(sorted(self._flows)) or "none"
                raise FlowNotFoundError(
                    f"no flow named {name!r} is registered (known: {known})",
                    hint="register it with FlowRegistry.register(flow)",
                )
            if version is None:
                return versions[max(versions, key=version_key)]
            try:
                return versions[version]
            except KeyError:
                raise FlowNotFoundError(
                    f"flow {name!r} has no version {version!r} "
                    f"(registered: {', '.join(sorted(versions, key=version_key))})",
                ) from None

    @property
    def generation(self) -> int:
        """A counter bumped by every new registration: compiled plans that resolved
        sub-flows by "latest version" are valid only for the generation they saw."""
        return self._generation

    def __contains__(self, name: object) -> bool:
        return name in self._flows

    def __iter__(self) -> Iterator[Flow]:
        with self._lock:
            flows = [f for versions in self._flows.values() for f in versions.values()]
        return iter(flows)

    def __len__(self) -> int:
        return sum(len(v) for v in self._flows.values())

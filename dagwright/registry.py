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
from collections.abc import Iterator

from dagwright._misuse import flow_ref_error
from dagwright.errors import FlowDefinitionError, FlowNotFoundError
from dagwright.flows import Flow

_PART = re.compile(r"(\d+)|(\D+)")


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key for version strings: numeric parts compare as numbers, text as text."""
    return tuple((0, int(num)) if num else (1, text) for num, text in _PART.findall(version))


class FlowRegistry:
    """Holds flows by name and version; safe to share between threads."""

    def __init__(self, flows: tuple[Flow, ...] | list[Flow] = ()) -> None:
        self._flows: dict[str, dict[str, Flow]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        for flow in flows:
            self.register(flow)

    def register(self, flow: Flow) -> Flow:
        """Add ``flow`` under its name and version and return it.

        Raises :class:`FlowDefinitionError` when another definition already holds that
        name and version, :class:`UsageError` when ``flow`` is not a flow.
        """
        if not isinstance(flow, Flow):
            raise flow_ref_error(flow, names=False)
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

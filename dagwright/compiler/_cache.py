"""The compile cache: a thread-safe, bounded LRU of successful compilations.

A compilation depends on the flow definition, on every tool the flow and its sub-flows
reference, and on the sub-flows the registry resolves (their versions and statuses); the
key covers exactly that, so a changed tool, a newly registered sub-flow version or a
status change compiles afresh. Failures are never cached: they are cheap to recompute
and their findings depend on the call path (DW108).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

from dagwright._json_schema import validating_model
from dagwright.compiler._interfaces import ToolEntry
from dagwright.errors import FlowNotFoundError, FlowRetiredError
from dagwright.flows import Flow, Step
from dagwright.registry import FlowRegistry, _admits_retired, _resolve_reference

V = TypeVar("V")

MAXSIZE = 256


class LRUCache(Generic[V]):
    """A bounded mapping evicting the least recently used entry; safe across threads."""

    def __init__(self, maxsize: int = MAXSIZE) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value under ``key`` (now the most recently used), or ``None``."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> V:
        """Store ``value`` unless another thread stored one first; return the stored one.

        Returning the first stored value keeps "same inputs, identical object" true even
        when two threads compile the same flow at once.
        """
        return self.add(key, value)[0]

    def add(self, key: Hashable, value: V) -> tuple[V, bool]:
        """Like :meth:`put`, and whether this call stored ``value``.

        The flag, decided under the lock, tells exactly one of racing callers that it
        stored the entry (the same object may come from two callers).
        """
        with self._lock:
            existing = self._data.get(key)
            if existing is not None:
                self._data.move_to_end(key)
                return existing, False
            self._data[key] = value
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
            return value, True

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


def referenced_tools(flow: Flow) -> list[str]:
    """Tool names the flow's own steps call, fallbacks included, in declaration order."""
    names: dict[str, None] = {}
    for step in flow.steps:
        if step.tool is not None:
            names.setdefault(step.tool, None)
        if isinstance(step, Step) and step.on_error.startswith("fallback:"):
            names.setdefault(step.on_error.removeprefix("fallback:"), None)
    return list(names)


def cache_key(
    flow: Flow, tools: Mapping[str, ToolEntry], registry: FlowRegistry | None
) -> Hashable:
    """Everything a compilation of ``flow`` depends on.

    The flow's definition digest and description (descriptions are outside the digest
    but decide DW404), the model validating its inputs (``validating_model``), the
    fingerprint of every tool referenced by the flow or any sub-flow it reaches, and,
    for each sub-flow reference (``"enrich"``, ``"enrich@2"``), the version it resolves
    to, its status (DW113, DW406; whether a retired one is admitted, as when resuming),
    its digest and its description. A status change, or a new latest version, makes a
    new key.
    """
    tool_names: set[str] = set()
    subflows: dict[str, tuple[str, str, bool, str, str] | None] = {}
    admit = registry is not None and _admits_retired(registry)
    pending = [flow]
    while pending:
        current = pending.pop()
        tool_names.update(referenced_tools(current))
        for step in current.steps:
            reference = step.flow
            if reference is None or reference in subflows:
                continue
            if registry is None:
                subflows[reference] = None
                continue
            try:
                entry = _resolve_reference(registry, reference)
            except (FlowNotFoundError, FlowRetiredError):
                subflows[reference] = None
                continue
            sub = entry.flow
            subflows[reference] = (
                entry.version,
                entry.status,
                admit and entry.status == "retired",
                sub.definition_digest,
                sub.description,
            )
            pending.append(sub)
    fingerprints = tuple(
        (n, tools[n].fingerprint() if n in tools else None) for n in sorted(tool_names)
    )
    return (
        flow.definition_digest,
        flow.description,
        validating_model(flow.input_schema),
        fingerprints,
        tuple(sorted(subflows.items(), key=lambda item: item[0])),
    )

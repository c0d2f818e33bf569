"""Where a flow came from: the file, and the position of every part of its definition.

A flow read from a file carries a :class:`SourceMap` (see ``dagwright.io.flow_source``).
The map is attached to the flow object, outside its fields: it never changes the flow's
equality, hash or definition digest, so the same flow read from two files is one flow
that happens to have two sources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagwright.flows import Flow

Location = tuple[str | int, ...]
"""A path of keys and indices into the flow-file form: ``("steps", 2, "inputs", "q")``."""

Position = tuple[int, int]
"""A 1-based ``(line, col)`` in a file."""


@dataclass(frozen=True, eq=False)
class SourceMap:
    """The file a flow was read from and the position of each part of its definition.

    ``path`` is the file as it was given (``None`` for text loaded directly).
    ``positions`` maps locations to 1-based ``(line, col)``: for a mapping entry the
    position of its key, for a list item the start of the item, ``()`` the start of the
    flow. ``tools`` is the file's ``tools:`` section (tool name -> ``"module:attr"``),
    never imported by loading. Compared by identity.
    """

    path: str | None
    positions: Mapping[Location, Position] = field(default_factory=dict)
    tools: Mapping[str, str] = field(default_factory=dict)

    def position(self, location: Location) -> Position:
        """The ``(line, col)`` of the most specific known prefix of ``location``.

        ``()`` (and any location of which no prefix is known) gives the flow's start.
        """
        positions = self.positions
        for end in range(len(location), 0, -1):
            found = positions.get(location[:end])
            if found is not None:
                return found
        return positions.get((), (1, 1))


class SourceSlot:
    """The holder of a flow's source map, kept in a private attribute of the flow.

    It compares equal to every other slot (and to ``None``), so that where a flow came
    from never changes whether two flows are equal.
    """

    __slots__ = ("positioned", "source")

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        # Compilations handed out for this flow with its file positions filled: the
        # cached compilation's id -> (that compilation, kept alive, and its copy).
        self.positioned: dict[int, tuple[Any, Any]] = {}

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, SourceSlot)

    def __hash__(self) -> int:
        return 0

    def __deepcopy__(self, memo: dict[int, Any]) -> SourceSlot:
        return SourceSlot(self.source)

    def __reduce__(self) -> tuple[Any, ...]:
        return (SourceSlot, (self.source,))


def attach_source(flow: Flow, source: SourceMap) -> None:
    """Record ``source`` as where ``flow`` came from (on this flow object only)."""
    flow._source = SourceSlot(source)


def slot_of(flow: Flow) -> SourceSlot | None:
    """The flow's source holder, ``None`` for a flow built in Python."""
    slot = getattr(flow, "_source", None)
    return slot if isinstance(slot, SourceSlot) else None


def source_of(flow: Flow) -> SourceMap | None:
    """The flow's source map, ``None`` for a flow built in Python."""
    slot = slot_of(flow)
    return slot.source if slot is not None else None

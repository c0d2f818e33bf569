"""Chains: the connected groups of a session's wired nodes, and their signatures.

A chain's signature names its nodes in a canonical order (topological, ties broken by
what each node is and where its data comes from, never by call order alone) with every
data edge and flow input expressed by position. Sessions whose chains have the same
signature support the same flow. Grouping is a dictionary lookup per chain: no pair of
sessions is ever compared.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagwright.mining._wiring import Node, Wire, value_key, wireable

__all__ = ["Chain", "NodeSig", "Occurrence", "Signature", "chains_of", "embeds"]


@dataclass(frozen=True, slots=True)
class NodeSig:
    """One node of a signature. ``args`` maps an argument to ``("node", i, pointer)``
    (node ``i`` of the signature) or ``("input", j)`` (flow input ``j``)."""

    tool: str
    args: tuple[tuple[str, tuple[Any, ...]], ...]
    item: str | None = None
    over: tuple[int, str] | None = None


Signature = tuple[NodeSig, ...]


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One session's instance of a signature: its nodes (signature order) and input values."""

    session: str
    nodes: tuple[Node, ...]
    inputs: tuple[Any, ...]
    input_args: tuple[str, ...]

    @property
    def calls(self) -> int:
        """How many tool calls this occurrence made."""
        return sum(len(n.calls) for n in self.nodes)


@dataclass(frozen=True, slots=True)
class Chain:
    """A signature and the occurrences of it, across sessions."""

    signature: Signature
    occurrences: tuple[Occurrence, ...]


def _components(nodes: Sequence[Node]) -> list[list[int]]:
    parent = list(range(len(nodes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, node in enumerate(nodes):
        for j in node.producers():
            a, b = find(i), find(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(len(nodes)):
        groups.setdefault(find(i), []).append(i)
    return [g for g in groups.values() if len(g) >= 2]


_Key = tuple[str, str, tuple[int, str], tuple[tuple[str, int, str], ...]]


def _key(node: Node, position: Mapping[int, int]) -> _Key:
    """What a ready node is, with its producers by canonical position: the order key."""
    over = (-1, "") if node.over is None else (position[node.over.node], node.over.pointer)
    args = tuple(
        (name, position[src.node], src.pointer) if isinstance(src, Wire) else (name, -1, "")
        for name, src in node.args.items()
    )
    return (node.tool, node.item or "", over, args)


def _canonical(nodes: Sequence[Node], members: Sequence[int]) -> list[int]:
    """Topological order; among ready nodes the smallest key first, then call order.

    Keys name producers by canonical position, so the same chain recorded with its
    independent calls in another order gets the same order.
    """
    inside = set(members)
    waiting = {i: len(nodes[i].producers() & inside) for i in members}
    users: dict[int, list[int]] = {i: [] for i in members}
    for i in members:
        for j in nodes[i].producers():
            users[j].append(i)
    position: dict[int, int] = {}
    heap = [(_key(nodes[i], position), i) for i in members if waiting[i] == 0]
    heapq.heapify(heap)
    order: list[int] = []
    while heap:
        _, i = heapq.heappop(heap)
        position[i] = len(order)
        order.append(i)
        for user in users[i]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(heap, (_key(nodes[user], position), user))
    return order


def _signature(
    nodes: Sequence[Node], order: Sequence[int]
) -> tuple[Signature, tuple[Any, ...], tuple[str, ...]]:
    position = {n: p for p, n in enumerate(order)}
    shared: dict[str, int] = {}
    values: list[Any] = []
    arg_names: list[str] = []
    sig: list[NodeSig] = []
    for n in order:
        node = nodes[n]
        args: list[tuple[str, tuple[Any, ...]]] = []
        for name, src in node.args.items():
            if isinstance(src, Wire):
                args.append((name, ("node", position[src.node], src.pointer)))
                continue
            # A non-trivial value used twice is one input; trivial ones stay apart so
            # that ``limit=5`` twice and ``limit=5, limit=10`` mine the same flow.
            key = value_key(src.value) if wireable(src.value) else None
            if key is not None and key in shared:
                args.append((name, ("input", shared[key])))
                continue
            if key is not None:
                shared[key] = len(values)
            args.append((name, ("input", len(values))))
            values.append(src.value)
            arg_names.append(name)
        over = None if node.over is None else (position[node.over.node], node.over.pointer)
        sig.append(NodeSig(node.tool, tuple(args), node.item, over))
    return tuple(sig), tuple(values), tuple(arg_names)


def chains_of(sessions: Mapping[str, Sequence[Node]]) -> list[Chain]:
    """Every signature seen in ``sessions`` with its occurrences, in first-seen order."""
    found: dict[Signature, list[Occurrence]] = {}
    for session, nodes in sessions.items():
        for members in _components(nodes):
            order = _canonical(nodes, members)
            sig, values, names = _signature(nodes, order)
            found.setdefault(sig, []).append(
                Occurrence(session, tuple(nodes[i] for i in order), values, names)
            )
    return [Chain(sig, tuple(occ)) for sig, occ in found.items()]


def embeds(small: Signature, big: Signature) -> bool:
    """Whether ``small`` is a sub-chain of ``big``: its nodes map one-to-one onto nodes of
    ``big`` with the same tools and the same data edges (inputs may be fed either way)."""
    if len(small) >= len(big):
        return False

    def fits(i: int, j: int, mapping: dict[int, int]) -> bool:
        a, b = small[i], big[j]
        if a.tool != b.tool or a.item != b.item or (a.over is None) != (b.over is None):
            return False
        if (
            a.over is not None
            and b.over is not None
            and (mapping.get(a.over[0]) != b.over[0] or a.over[1] != b.over[1])
        ):
            return False
        theirs = dict(b.args)
        if set(theirs) != {name for name, _ in a.args}:
            return False
        for name, src in a.args:
            if src[0] == "node" and (
                theirs[name][0] != "node"
                or mapping.get(src[1]) != theirs[name][1]
                or src[2] != theirs[name][2]
            ):
                return False
        return True

    def search(i: int, mapping: dict[int, int]) -> bool:
        if i == len(small):
            return True
        used = set(mapping.values())
        for j in range(len(big)):
            if j not in used and fits(i, j, mapping):
                mapping[i] = j
                if search(i + 1, mapping):
                    return True
                del mapping[i]
        return False

    return search(0, {})

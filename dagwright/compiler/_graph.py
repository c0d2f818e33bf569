"""Structure pass: step ids, dependency edges, cycles, canonical order and ancestors.

Emits DW101 (duplicate id), DW102 (unknown dependency), DW103 (cycle, with its path)
and DW109 (missing id in a DAGFlow).
"""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Sequence
from typing import Any

from dagwright._execution.plan import FLOW, MAP, TOOL
from dagwright.compiler._state import Analysis, StepState
from dagwright.flows import Flow, MapStep


def _placeholder(index: int) -> str:
    # Only ever shown in diagnostics: a step without a usable id cannot compile.
    return f"<step {index + 1}>"


def default_ids(flow: Flow) -> list[str | None]:
    """Linear flows: a missing id becomes the target name, ``-2``, ``-3``... on repeats.

    A suffix already taken by an explicit id is skipped, so defaulting never creates a
    duplicate by itself.
    """
    explicit = {s.id for s in flow.steps if s.id is not None}
    uses: dict[str, int] = {}
    ids: list[str | None] = []
    for step in flow.steps:
        if step.id is not None:
            ids.append(step.id)
            continue
        base = step.target
        if base is None:
            ids.append(None)
            continue
        n = uses.get(base, 0) + 1
        candidate = base if n == 1 else f"{base}-{n}"
        while candidate in explicit:
            n += 1
            candidate = f"{base}-{n}"
        uses[base] = n
        ids.append(candidate)
    return ids


def build_steps(analysis: Analysis) -> None:
    """Create the step states with their ids; report DW109 and DW101."""
    flow = analysis.flow
    ids = default_ids(flow) if flow.linear else [s.id for s in flow.steps]
    first: dict[str, int] = {}
    for index, (step, step_id) in enumerate(zip(flow.steps, ids, strict=True)):
        if isinstance(step, MapStep):
            kind = MAP
        else:
            kind = FLOW if step.flow is not None and step.tool is None else TOOL
        state = StepState(index=index, step=step, id=step_id or _placeholder(index), kind=kind)
        analysis.steps.append(state)
        if step_id is None:
            if not flow.linear:
                analysis.report(
                    "DW109",
                    f"step {index + 1} (calling {step.target!r}) has no id; every step of "
                    f"DAGFlow {flow.name!r} needs one",
                    step=state,
                    hint="set `id=` on the step; other steps name it in `depends_on`",
                    at=("tool",) if step.tool is not None else ("flow",),
                )
            continue
        if step_id in first:
            analysis.report(
                "DW101",
                f"step id {step_id!r} is used by steps {first[step_id] + 1} and {index + 1}",
                step=state,
                hint="give each step a unique `id`",
                at=("id",),
            )
        else:
            first[step_id] = index


def _suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def build_edges(analysis: Analysis) -> None:
    """Resolve ``depends_on`` (DW102), add implicit linear edges, order, find cycles."""
    steps = analysis.steps
    by_id: dict[str, int] = {}
    for state in steps:
        by_id.setdefault(state.id, state.index)
    preds: list[set[int]] = [set() for _ in steps]
    explicit: list[set[int]] = [set() for _ in steps]
    for state in steps:
        for position, dep in enumerate(state.step.depends_on):
            target = by_id.get(dep)
            if target is None:
                analysis.report(
                    "DW102",
                    f"depends on unknown step {dep!r}",
                    step=state,
                    hint=f"{_suggest(dep, list(by_id))}depends_on must name the id of "
                    "another step of this flow",
                    at=("depends_on", position),
                )
                continue
            explicit[state.index].add(target)
            preds[state.index].add(target)
        if analysis.flow.linear and state.index > 0:
            preds[state.index].add(state.index - 1)
    analysis.preds = tuple(frozenset(p) for p in preds)
    analysis.explicit = tuple(frozenset(e) for e in explicit)
    _order(analysis)
    if not analysis.acyclic:
        _report_cycles(analysis)
    _ancestors(analysis)


def _order(analysis: Analysis) -> None:
    """Kahn's algorithm over a min-heap of declaration indices."""
    n = len(analysis.steps)
    successors: list[list[int]] = [[] for _ in range(n)]
    waiting = [len(p) for p in analysis.preds]
    for index, preds in enumerate(analysis.preds):
        for p in preds:
            successors[p].append(index)
    ready = [i for i in range(n) if waiting[i] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for succ in successors[index]:
            waiting[succ] -= 1
            if waiting[succ] == 0:
                heapq.heappush(ready, succ)
    analysis.acyclic = len(order) == n
    if not analysis.acyclic:
        # Steps on or behind a cycle get no true position; declaration order keeps the
        # remaining checks deterministic.
        placed = set(order)
        order.extend(i for i in range(n) if i not in placed)
    analysis.order = tuple(order)
    position = [0] * n
    for pos, index in enumerate(order):
        position[index] = pos
    analysis.position = tuple(position)


def _graph(analysis: Analysis) -> Any:
    import networkx as nx  # compile-time only; kept out of `import dagwright`

    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(analysis.steps)))
    for index, preds in enumerate(analysis.preds):
        graph.add_edges_from((p, index) for p in preds)
    return graph


def _report_cycles(analysis: Analysis) -> None:
    import networkx as nx

    graph = _graph(analysis)
    components = sorted(
        (sorted(c) for c in nx.strongly_connected_components(graph)), key=lambda c: c[0]
    )
    for component in components:
        start = component[0]
        if len(component) == 1 and not graph.has_edge(start, start):
            continue
        edges = nx.find_cycle(graph.subgraph(component), source=start)
        # Edges run from a dependency to its dependent; show "x -> y" as "x depends on y".
        runs_before = [int(u) for u, _ in edges]
        depends = [runs_before[0], *reversed(runs_before[1:])]
        pivot = depends.index(min(depends))
        depends = depends[pivot:] + depends[:pivot]
        path = " -> ".join(analysis.steps[i].id for i in [*depends, depends[0]])
        # Point at the first edge of the cycle when it is written (not an implicit one).
        first = analysis.steps[depends[0]]
        second = analysis.steps[depends[1] if len(depends) > 1 else depends[0]].id
        written = first.step.depends_on
        at: tuple[str | int, ...] = (
            ("depends_on", written.index(second)) if second in written else ()
        )
        analysis.report(
            "DW103",
            f"dependency cycle: {path} ('a -> b' reads 'a depends on b')",
            step=analysis.steps[depends[0]],
            hint="remove one `depends_on` edge of the cycle"
            + (
                "; in a linear Flow each step already depends on the one before it"
                if analysis.flow.linear
                else ""
            ),
            at=at,
        )


def _ancestors(analysis: Analysis) -> None:
    n = len(analysis.steps)
    masks = [0] * n
    earlier = [0] * n
    position = analysis.position
    if analysis.acyclic:
        for index in analysis.order:
            mask = by_position = 0
            for p in analysis.preds[index]:
                mask |= masks[p] | (1 << p)
                by_position |= earlier[p] | (1 << position[p])
            masks[index] = mask
            earlier[index] = by_position
    else:
        import networkx as nx

        graph = _graph(analysis)
        for index in range(n):
            for a in nx.ancestors(graph, index):
                if a != index:
                    masks[index] |= 1 << a
                    earlier[index] |= 1 << position[a]
    analysis.ancestors = tuple(masks)
    analysis.earlier = tuple(earlier)

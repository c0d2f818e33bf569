"""Pictures of a flow: Mermaid and Graphviz DOT text, optionally coloured by status.

The picture is drawn from the flow definition alone, with the graph pass's step ids,
edges and canonical order, so a flow is drawn without its tools (a flow that does not
compile is drawn too: steps without an id get a placeholder, unknown dependencies are
left out). It shows the flow's own steps; a sub-flow step is one node naming the
sub-flow (draw the sub-flow itself for its inside). A compiled flow draws the same
picture as its definition.

* Nodes are ``n0``, ``n1``... in canonical order, whatever the step ids hold. Each label
  is the step id, then what it calls: the tool name, ``flow: <name>`` for a sub-flow,
  ``map <target>`` plus ``over: <key> (max N)`` for a map step; a fallback adds
  ``fallback: <tool>``; a ``when`` of a step without incoming edges is in its label.
* Shapes: a tool step is a rectangle, a map step a parallelogram, a sub-flow step a
  subroutine (Mermaid ``[[...]]``; DOT a box with a double border).
* Edges run from a dependency to its dependent: solid for ``depends_on``, dotted for
  the implicit previous-step edge of a linear ``Flow``; a step's ``when`` labels each of
  its incoming edges.
* ``statuses`` (step id -> status) colours steps: completed/succeeded green, failed red,
  skipped grey, cancelled orange, running blue, pending white, incomplete/interrupted
  yellow. Steps not in ``statuses`` stay uncoloured; ids the flow lacks are ignored.

Output is deterministic: the same flow and statuses give the same bytes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from dagwright.errors import UsageError
from dagwright.flows import Flow, MapStep, Step

if TYPE_CHECKING:
    from dagwright.compiler._compile import CompiledFlow

__all__ = ["GraphFormat", "render_graph"]

GraphFormat = Literal["mermaid", "dot"]

# Status -> (style name, fill, stroke, text colour), in legend order.
_STYLES: dict[str, tuple[str, str, str, str]] = {
    "completed": ("completed", "#c8e6c9", "#2e7d32", "#1b5e20"),
    "failed": ("failed", "#ffcdd2", "#c62828", "#b71c1c"),
    "skipped": ("skipped", "#e0e0e0", "#757575", "#424242"),
    "cancelled": ("cancelled", "#ffe0b2", "#ef6c00", "#e65100"),
    "running": ("running", "#bbdefb", "#1565c0", "#0d47a1"),
    "pending": ("pending", "#ffffff", "#9e9e9e", "#424242"),
    "incomplete": ("incomplete", "#fff9c4", "#f9a825", "#795548"),
}
_COLOUR_NAMES = {
    "completed": "green",
    "failed": "red",
    "skipped": "grey",
    "cancelled": "orange",
    "running": "blue",
    "pending": "white",
    "incomplete": "yellow",
}
_ALIASES = {"succeeded": "completed", "interrupted": "incomplete"}


@dataclass(frozen=True, slots=True)
class _Node:
    name: str
    step_id: str
    lines: tuple[str, ...]
    shape: str  # "tool", "map" or "flow"


@dataclass(frozen=True, slots=True)
class _Edge:
    source: str
    target: str
    implicit: bool
    label: str | None


def render_graph(
    flow: Flow | CompiledFlow,
    *,
    format: GraphFormat = "mermaid",
    statuses: Mapping[str, str] | None = None,
) -> str:
    """The picture of ``flow`` (a ``Flow``, ``DAGFlow`` or ``CompiledFlow``) as Mermaid
    (``flowchart TD``) or Graphviz DOT text, ending with a newline.

    ``statuses`` maps step ids to recorded statuses (``StepRecord.status``, a
    ``StoredRun.statuses`` value or a run status: ``completed``/``succeeded``,
    ``failed``, ``skipped``, ``cancelled``, ``running``, ``pending``,
    ``incomplete``/``interrupted``) and colours those steps. An unknown format or status
    raises :class:`~dagwright.errors.UsageError`. See the module docstring for what the
    picture shows.
    """
    from dagwright.compiler._compile import CompiledFlow

    definition = flow.flow if isinstance(flow, CompiledFlow) else flow
    if not isinstance(definition, Flow):
        raise UsageError(
            f"render_graph() draws a Flow, DAGFlow or CompiledFlow, not {type(flow).__name__}",
            hint="load or build the flow first, e.g. with dagwright.load_flow(path)",
        )
    writers: dict[str, Callable[[Flow, list[_Node], list[_Edge], dict[str, str]], str]] = {
        "mermaid": _mermaid,
        "dot": _dot,
    }
    writer = writers.get(format)
    if writer is None:
        raise UsageError(
            f"unknown graph format {format!r}", hint="use format='mermaid' or format='dot'"
        )
    nodes, edges = _structure(definition)
    return writer(definition, nodes, edges, _styles(nodes, statuses))


def _styles(nodes: list[_Node], statuses: Mapping[str, str] | None) -> dict[str, str]:
    """Node name -> style name, for the nodes ``statuses`` names."""
    if not statuses:
        return {}
    styles: dict[str, str] = {}
    by_id: dict[str, list[str]] = {}
    for node in nodes:
        by_id.setdefault(node.step_id, []).append(node.name)
    for step_id, status in statuses.items():
        key = _ALIASES.get(status, status) if isinstance(status, str) else None
        if key not in _STYLES:
            known = ", ".join([*_STYLES, *_ALIASES])
            raise UsageError(
                f"unknown status {status!r} for step {step_id!r}",
                hint=f"a status is one of {known}",
            )
        for name in by_id.get(step_id, ()):
            styles[name] = key
    return styles


def _structure(flow: Flow) -> tuple[list[_Node], list[_Edge]]:
    """Nodes in canonical order and edges sorted by (target, source) position."""
    from dagwright.compiler._graph import build_edges, build_steps
    from dagwright.compiler._state import Analysis

    analysis = Analysis(flow, {})
    build_steps(analysis)
    build_edges(analysis)
    name = {index: f"n{pos}" for index, pos in enumerate(analysis.position)}
    nodes: list[_Node] = []
    edges: list[_Edge] = []
    for state in analysis.in_order():
        step = state.step
        preds = analysis.preds[state.index]
        lines = [state.id, *_calls(step)]
        if step.when is not None and not preds:
            lines.append(f"when {step.when}")
        nodes.append(_Node(name[state.index], state.id, tuple(lines), state.kind))
        label = None if step.when is None else f"when {step.when}"
        explicit = analysis.explicit[state.index]
        for pred in sorted(preds, key=lambda p: analysis.position[p]):
            edges.append(_Edge(name[pred], name[state.index], pred not in explicit, label))
    return nodes, edges


def _calls(step: Step | MapStep) -> list[str]:
    # A sub-flow is drawn as it is referenced, with its pinned version (`enrich@2`).
    if step.tool is not None:
        what = step.tool
    else:
        what = f"flow: {'?' if step.flow is None else step.flow}"
    if isinstance(step, MapStep):
        return [f"map {what}", f"over: {step.over} (max {step.max_concurrency})"]
    lines = [what]
    if step.on_error.startswith("fallback:"):
        lines.append(f"fallback: {step.on_error.partition(':')[2]}")
    elif step.on_error == "skip":
        lines.append("on error: skip")
    return lines


# ---- Mermaid -----------------------------------------------------------------------

_MERMAID_ENTITIES = {
    "#": "#35;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "|": "#124;",
    "`": "#96;",
}
_MERMAID_SHAPES = {"tool": ("[", "]"), "map": ("[/", "/]"), "flow": ("[[", "]]")}


def _mermaid_char(c: str) -> str:
    if c in _MERMAID_ENTITIES:
        return _MERMAID_ENTITIES[c]
    return f"#{ord(c)};" if _is_break(c) else c


def _mermaid_text(lines: tuple[str, ...] | list[str]) -> str:
    """Lines as a quoted Mermaid label (entities, ``<br/>`` between lines)."""
    parts = [part for line in lines for part in line.split("\n")]
    return '"' + "<br/>".join("".join(map(_mermaid_char, part)) for part in parts) + '"'


def _mermaid(flow: Flow, nodes: list[_Node], edges: list[_Edge], styles: dict[str, str]) -> str:
    out = [
        "flowchart TD",
        f"    %% flow {_comment(flow.name)} (version {_comment(flow.version)})",
        "    %% legend: rectangle = tool step, parallelogram = map step, "
        "subroutine = sub-flow step",
        "    %% legend: solid edge = depends_on, dotted edge = implicit previous step",
    ]
    if styles:
        out.append(f"    %% legend: {_colour_legend(styles)}")
    for node in nodes:
        opening, closing = _MERMAID_SHAPES[node.shape]
        out.append(f"    {node.name}{opening}{_mermaid_text(node.lines)}{closing}")
    for edge in edges:
        arrow = "-.->" if edge.implicit else "-->"
        label = "" if edge.label is None else f"|{_mermaid_text([edge.label])}|"
        out.append(f"    {edge.source} {arrow}{label} {edge.target}")
    for key in _used(styles):
        _, fill, stroke, text = _STYLES[key]
        out.append(f"    classDef {key} fill:{fill},stroke:{stroke},color:{text}")
    for key in _used(styles):
        names = [name for name, style in styles.items() if style == key]
        out.append(f"    class {','.join(sorted(names, key=_number))} {key}")
    return "\n".join(out) + "\n"


# ---- DOT ---------------------------------------------------------------------------

_DOT_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "\n": "\\n",
}
_DOT_SHAPES = {
    "tool": "shape=box",
    "map": "shape=parallelogram",
    "flow": "shape=box, peripheries=2",
}


def _dot_char(c: str) -> str:
    if c in _DOT_ESCAPES:
        return _DOT_ESCAPES[c]
    return f"&#{ord(c)};" if _is_break(c) else c


def _dot_text(lines: tuple[str, ...] | list[str]) -> str:
    """Lines as a quoted DOT string (escaped, ``\\n`` between lines)."""
    return '"' + "\\n".join("".join(map(_dot_char, line)) for line in lines) + '"'


def _dot(flow: Flow, nodes: list[_Node], edges: list[_Edge], styles: dict[str, str]) -> str:
    out = [
        f"digraph {_dot_text([flow.name])} {{",
        f"    // flow {_comment(flow.name)} (version {_comment(flow.version)})",
        "    // legend: box = tool step, parallelogram = map step, double box = sub-flow step",
        "    // legend: solid edge = depends_on, dotted edge = implicit previous step",
    ]
    if styles:
        out.append(f"    // legend: {_colour_legend(styles)}")
    out += [
        "    rankdir=TB;",
        '    node [fontname="Helvetica", fontsize=11];',
        '    edge [fontname="Helvetica", fontsize=10];',
    ]
    for node in nodes:
        attrs = [f"label={_dot_text(node.lines)}", _DOT_SHAPES[node.shape]]
        style = styles.get(node.name)
        if style is not None:
            _, fill, stroke, text = _STYLES[style]
            attrs.append(f'style=filled, fillcolor="{fill}", color="{stroke}", fontcolor="{text}"')
        out.append(f"    {node.name} [{', '.join(attrs)}];")
    for edge in edges:
        attrs = []
        if edge.implicit:
            attrs.append("style=dotted")
        if edge.label is not None:
            attrs.append(f"label={_dot_text([edge.label])}")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        out.append(f"    {edge.source} -> {edge.target}{suffix};")
    out.append("}")
    return "\n".join(out) + "\n"


# ---- shared ------------------------------------------------------------------------


def _is_break(c: str) -> bool:
    """Control characters and Unicode line or paragraph separators: written as numeric
    entities, so no text can end a line of the output or hide in it."""
    return unicodedata.category(c) in ("Cc", "Zl", "Zp")


def _used(styles: dict[str, str]) -> list[str]:
    present = set(styles.values())
    return [key for key in _STYLES if key in present]


def _colour_legend(styles: dict[str, str]) -> str:
    return ", ".join(f"{key} = {_COLOUR_NAMES[key]}" for key in _used(styles))


def _comment(text: str) -> str:
    """Text safe inside a one-line comment of either format."""
    visible = "".join(" " if _is_break(c) else c for c in text)
    return " ".join(visible.split())


def _number(name: str) -> int:
    return int(name[1:])

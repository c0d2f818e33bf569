"""Build a ``DAGFlow`` from a chain signature.

Step ids are tool names (``fetch``, ``fetch-2`` when a tool repeats). Every recorded
argument is mapped explicitly. Each step writes its output fields under their own names
unless a name is taken (by a flow input, another step's field, or a map's results): then
that step's fields are written as ``<step>_<field>`` through ``outputs``, so the flow has
no context collisions. A map step writes ``<step>_results``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagwright.flows import DAGFlow, MapStep, Step
from dagwright.mining._chains import Signature
from dagwright.tools import ToolSpec

__all__ = ["Built", "build_flow", "flow_base_name"]


@dataclass(frozen=True, slots=True)
class Built:
    """A flow built from a signature and the names its flow inputs got (input order)."""

    flow: DAGFlow
    input_names: tuple[str, ...]
    step_ids: tuple[str, ...]
    outputs: tuple[Mapping[str, str], ...]  # per step: context key -> output field


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def flow_base_name(signature: Signature) -> str:
    """``search_then_fetch``: the tools in signature order (a map step as ``each_<tool>``)."""
    parts = [("each_" if n.over is not None else "") + _slug(n.tool) for n in signature]
    return "_then_".join(parts)


def _step_ids(signature: Signature) -> list[str]:
    seen: Counter[str] = Counter()
    ids: list[str] = []
    for node in signature:
        seen[node.tool] += 1
        count = seen[node.tool]
        ids.append(node.tool if count == 1 else f"{node.tool}-{count}")
    return ids


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


def _fields(spec: ToolSpec) -> list[str]:
    props = spec.output_json_schema.get("properties", {})
    return sorted(props) if isinstance(props, Mapping) else []


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def build_flow(
    signature: Signature,
    input_args: Sequence[str],
    specs: Mapping[str, ToolSpec],
    name: str,
    description: str,
) -> Built:
    """The ``DAGFlow`` of ``signature``; every tool must be in ``specs``."""
    ids = _step_ids(signature)
    taken: set[str] = set()
    input_names = tuple(_unique(arg, taken) for arg in input_args)
    field_use: Counter[str] = Counter()
    for node in signature:
        if node.over is None:
            field_use.update(_fields(specs[node.tool]))
    keys: list[dict[str, str]] = []  # per step: output field -> context key
    results: list[str | None] = []
    for sid, node in zip(ids, signature, strict=True):
        if node.over is not None:
            keys.append({})
            results.append(_unique(f"{_slug(sid)}_results", taken))
            continue
        fields = _fields(specs[node.tool])
        clash = any(field_use[f] > 1 or f in taken for f in fields)
        mapping = {f: (f"{_slug(sid)}_{f}" if clash else f) for f in fields}
        for key in mapping.values():
            taken.add(key)
        keys.append(mapping)
        results.append(None)

    def source(ref: tuple[Any, ...]) -> str:
        if ref[0] == "input":
            return input_names[int(ref[1])]
        producer, pointer = int(ref[1]), str(ref[2])
        if results[producer] is not None:
            return f"/{_escape(str(results[producer]))}{pointer}"
        head, _, rest = pointer[1:].partition("/")
        field = head.replace("~1", "/").replace("~0", "~")
        key: str = keys[producer].get(field, field)
        return key if not rest else f"/{_escape(key)}/{rest}"

    steps: list[Step | MapStep] = []
    outputs: list[Mapping[str, str]] = []
    for k, (sid, node) in enumerate(zip(ids, signature, strict=True)):
        inputs = {arg: source(ref) for arg, ref in node.args}
        deps = sorted({int(ref[1]) for _, ref in node.args if ref[0] == "node"})
        if node.over is not None and node.item is not None:
            deps = sorted({*deps, node.over[0]})
            over = source(("node", node.over[0], node.over[1]))
            steps.append(
                MapStep(
                    id=sid,
                    tool=node.tool,
                    over=over,
                    item=node.item,
                    inputs=inputs,
                    results=str(results[k]),
                    depends_on=tuple(ids[d] for d in deps),
                )
            )
            outputs.append({})
            continue
        renamed = {key: f for f, key in keys[k].items()}
        plain = all(key == f for key, f in renamed.items())
        steps.append(
            Step(
                id=sid,
                tool=node.tool,
                inputs=inputs,
                outputs=None if plain else renamed,
                depends_on=tuple(ids[d] for d in deps),
            )
        )
        outputs.append(renamed)
    flow = DAGFlow(name, steps, version="1", description=description)
    return Built(flow, input_names, tuple(ids), tuple(outputs))

"""Context pass: who writes each key, and what the flow returns.

Emits DW209 (output_schema field never produced), DW301 (ordered collision, severity
from ``on_context_collision``), DW302 (unordered collision) and DW303 (dead output).
"""

from __future__ import annotations

from dagwright._json_schema import schema_label, schema_name
from dagwright.compiler._reads import flow_inputs
from dagwright.compiler._state import Analysis, StepState
from dagwright.compiler.diagnostics import Severity
from dagwright.flows import MapStep

_ORDERED_SEVERITY: dict[str, Severity | None] = {
    "warn": "warning",
    "error": "error",
    "overwrite": None,
}


def written_keys(analysis: Analysis) -> dict[str, list[int]]:
    """Each written key -> its writers (declaration indices) in canonical order."""
    writers: dict[str, list[int]] = {}
    for state in analysis.in_order():
        for key in state.produces:
            writers.setdefault(key, []).append(state.index)
    return writers


def write_at(state: StepState, key: str) -> tuple[str | int, ...]:
    """Where in the step the write of ``key`` is declared (``()`` when implicit)."""
    step = state.step
    if isinstance(step, MapStep):
        return ("errors",) if key == step.errors else ("results",)
    if step.outputs is not None and key in step.outputs:
        return ("outputs", key)
    return ()


def check_context(analysis: Analysis) -> None:
    """Report collisions, output fields never produced and dead outputs."""
    writers = written_keys(analysis)
    _check_outputs(analysis, writers)
    _check_collisions(analysis, writers)
    _check_dead(analysis)


def _check_outputs(analysis: Analysis, writers: dict[str, list[int]]) -> None:
    if analysis.output_fields is None:
        return
    inputs = flow_inputs(analysis)
    label, name_of = _output_names(analysis)
    for name in analysis.output_fields:
        if name not in writers and name not in inputs:
            analysis.report(
                "DW209",
                f"{label} field {name!r} is written by no step and is not a flow input",
                hint=f"add a step that writes {name!r} (or rename an output to it with "
                f"`outputs`), or remove the field from {name_of}",
                at=("output_schema", "properties", name),
            )


def _output_names(analysis: Analysis) -> tuple[str, str]:
    """How messages call the output schema: ``output_schema Out`` and ``Out``."""
    schema = analysis.flow.output_schema
    assert schema is not None  # output_fields come from it
    return schema_label(schema, "output_schema"), schema_name(schema, "output_schema")


def _names(analysis: Analysis, indices: list[int], total: int) -> str:
    shown = ", ".join(repr(analysis.steps[i].id) for i in indices[:_SHOWN])
    return shown + (f" and {total - _SHOWN} more" if total > _SHOWN else "")


_SHOWN = 5
"""Writers named in one message; a key with thousands of writers gets a short one."""


def _unordered(
    analysis: Analysis, b: int, earlier: list[int], mask: int
) -> tuple[list[int], int, int]:
    """The earlier writers in ``mask`` unordered with ``b``: the first few in canonical
    order, how many there are, and the latest.

    Canonical order is topological, so an earlier writer is never a descendant of ``b``
    unless the graph has a cycle; only then is each one checked.
    """
    if not analysis.acyclic:
        every = [a for a in earlier if mask >> a & 1 and not analysis.is_ancestor(b, a)]
        return every[:_SHOWN], len(every), every[-1] if every else -1
    total = mask.bit_count()
    if not total:
        return [], 0, -1
    first = []
    for a in earlier:
        if mask >> a & 1:
            first.append(a)
            if len(first) == _SHOWN:
                break
    latest = next(a for a in reversed(earlier) if mask >> a & 1)
    return first, total, latest


def _check_collisions(analysis: Analysis, writers: dict[str, list[int]]) -> None:
    """One finding per (writer, key) against the writers before it in canonical order.

    Reporting every pair would drown a chain of n writers in n^2/2 warnings; the writer
    it directly overwrites (its latest ancestor writer) is the one worth naming.
    """
    severity = _ORDERED_SEVERITY[analysis.flow.on_context_collision]
    fields = analysis.input_fields or {}
    steps = analysis.steps
    for key, indices in writers.items():
        earlier: list[int] = []
        earlier_mask = 0
        for b in indices:
            ancestors = analysis.ancestors[b] & earlier_mask
            first, total, latest_unordered = _unordered(
                analysis, b, earlier, earlier_mask & ~ancestors
            )
            if total:
                analysis.report(
                    "DW302",
                    f"steps {_names(analysis, first, total)} and {steps[b].id!r} all write "
                    f"key {key!r} and none depends on another, so the result would depend on "
                    "timing"
                    if total > 1
                    else f"steps {steps[first[0]].id!r} and {steps[b].id!r} both write "
                    f"key {key!r} and neither depends on the other, so the result would "
                    "depend on timing",
                    step=steps[b],
                    hint=f"rename one output with `outputs`, or add "
                    f"depends_on=[{steps[latest_unordered].id!r}] to {steps[b].id!r}",
                    at=write_at(steps[b], key),
                )
            if severity is not None and ancestors:
                latest = next(a for a in reversed(earlier) if ancestors >> a & 1)
                more = ancestors.bit_count() - 1
                analysis.report(
                    "DW301",
                    f"step {steps[b].id!r} overwrites key {key!r} written by its ancestor "
                    f"{steps[latest].id!r}"
                    + (f" (and {more} earlier writer(s))" if more else "")
                    + "; the later value wins",
                    step=steps[b],
                    hint="rename one output with `outputs`, or set "
                    "on_context_collision='overwrite' if the overwrite is intended",
                    severity=severity,
                    at=write_at(steps[b], key),
                )
            elif severity is not None and key in fields:
                analysis.report(
                    "DW301",
                    f"step {steps[b].id!r} overwrites flow input {key!r}; the step's value wins",
                    step=steps[b],
                    hint="rename the output with `outputs`, or set "
                    "on_context_collision='overwrite' if replacing the input is intended",
                    severity=severity,
                    at=write_at(steps[b], key),
                )
            earlier.append(b)
            earlier_mask |= 1 << b


def _check_dead(analysis: Analysis) -> None:
    outputs = analysis.output_fields
    if outputs is None:
        return  # without an output schema every written key is returned: nothing is dead
    label, name_of = _output_names(analysis)
    for state in analysis.in_order():
        for key in state.produces:
            if key not in analysis.reads and key not in outputs:
                analysis.report(
                    "DW303",
                    f"writes key {key!r}, which no step reads and {label} lacks",
                    step=state,
                    hint="keep only the outputs you need with `outputs`, or add the key "
                    f"to {name_of}",
                    at=write_at(state, key),
                )

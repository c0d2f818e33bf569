"""Write pass: which context keys each step writes, and with what schema.

Tool and sub-flow steps write their output fields (all under their own names, or as
``outputs`` maps them); map steps write ``results`` (and ``errors``). Emits DW204 for an
``outputs`` entry naming no output field, and for a fallback tool lacking an output field
that the step writes.
"""

from __future__ import annotations

from dagwright._execution.plan import MAP
from dagwright.compiler._interfaces import ERRORS_SCHEMA, results_schema, tool_interface
from dagwright.compiler._schemas import ANY
from dagwright.compiler._state import Analysis, StepState
from dagwright.flows import MapStep, Step


def resolve_writes(analysis: Analysis) -> None:
    """Fill ``writes`` and ``produces`` of every step."""
    for state in analysis.steps:
        step = state.step
        if isinstance(step, MapStep):
            state.produces[step.results] = results_schema(state.interface)
            if step.errors is not None:
                state.produces[step.errors] = ERRORS_SCHEMA
            continue
        _step_writes(analysis, state, step)
        _check_fallback(analysis, state)


def _step_writes(analysis: Analysis, state: StepState, step: Step) -> None:
    interface = state.interface
    if interface is None:
        # Unresolved target: only an explicit `outputs` mapping says what it writes.
        if step.outputs is None:
            state.opaque = True
        else:
            for key, output in step.outputs.items():
                state.writes.append((key, output))
                state.produces[key] = ANY
        return
    if step.outputs is None:
        for name, spec in interface.outputs.items():
            state.writes.append((name, name))
            state.produces[name] = spec.schema
        return
    what = "tool" if state.tool is not None else "sub-flow"
    for key, output in step.outputs.items():
        produced = interface.outputs.get(output)
        if produced is None:
            known = ", ".join(interface.outputs) or "none"
            analysis.report(
                "DW204",
                f"outputs maps key {key!r} to {output!r}, which is not an output field of "
                f"{what} {state.target!r} (its outputs: {known})",
                step=state,
                hint="`outputs` maps context keys to output fields: {key: field}",
                at=("outputs", key),
            )
            continue
        state.writes.append((key, output))
        state.produces[key] = produced.schema


def _check_fallback(analysis: Analysis, state: StepState) -> None:
    if state.fallback is None or state.kind == MAP:
        return
    fallback_outputs = tool_interface(state.fallback.spec).outputs
    missing = sorted({field for _, field in state.writes if field not in fallback_outputs})
    if missing:
        analysis.report(
            "DW204",
            f"fallback tool {state.fallback.name!r} does not output "
            f"{', '.join(map(repr, missing))}, which step writes",
            step=state,
            hint="the fallback must output every field the step writes; choose another "
            "fallback or keep fewer fields with `outputs`",
            at=("on_error",),
        )

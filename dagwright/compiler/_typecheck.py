"""Type pass: producers against consumers, by JSON Schema.

Emits DW202 (a producer's type is not accepted by the consuming field) and DW206 (a
map's ``over`` is known not to be a list). Every producer of a binding is checked, plus
the flow input schema when the value may come from the inputs; a pointer is checked when
the producer's schema describes the path it walks.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagwright._execution.plan import LITERAL
from dagwright.compiler._reads import flow_inputs
from dagwright.compiler._schemas import (
    Comparer,
    Mismatch,
    Schema,
    array_items,
    describe,
    json_types,
    literal_schema,
    navigate,
)
from dagwright.compiler._state import Analysis, SourceDraft, StepState
from dagwright.flows import MapStep


@dataclass(frozen=True, slots=True)
class _Sources:
    """What the producers of a key may be: step outputs and, maybe, the flow inputs."""

    analysis: Analysis
    inputs: frozenset[str]
    uniform: frozenset[str]
    """Keys whose writers all share one schema object (the same tool, many times)."""
    comparer: Comparer

    def origins(self, source: SourceDraft) -> list[tuple[str, Schema]]:
        """(description, schema) of everything that may supply ``source``'s value.

        Producers sharing a schema object are judged once, so a chain of n writers
        costs n comparisons, not n^2 / 2.
        """
        steps = self.analysis.steps
        key = source.key
        producers = source.producers[:4] if key in self.uniform else source.producers
        groups: dict[int, tuple[Schema, list[int]]] = {}
        for p in producers:
            schema = steps[p].produces[key]
            group = groups.setdefault(id(schema), (schema, []))
            if len(group[1]) < 4:
                group[1].append(p)
        where = key if not source.path else "/" + "/".join((key, *source.path))
        found: list[tuple[str, Schema]] = []
        for schema, members in groups.values():
            target = navigate(schema, source.path)
            if target is not None:
                shown = ", ".join(repr(steps[p].id) for p in members[:3])
                if len(members) > 3:
                    shown += " and others"
                plural = "s" if len(members) > 1 else ""
                found.append((f"{where!r} from step{plural} {shown}", target))
        fields = self.analysis.input_fields
        if fields is not None and key in self.inputs and key in fields:
            target = navigate(fields[key].schema, source.path)
            if target is not None:
                found.append((f"{where!r} from the flow inputs", target))
        return found


def check_types(analysis: Analysis) -> None:
    """Report DW202 and DW206 for every step."""
    schemas: dict[str, set[int]] = {}
    for state in analysis.steps:
        for key, schema in state.produces.items():
            schemas.setdefault(key, set()).add(id(schema))
    sources = _Sources(
        analysis,
        flow_inputs(analysis),
        frozenset(k for k, ids in schemas.items() if len(ids) == 1),
        Comparer(),
    )
    for state in analysis.in_order():
        _check_bindings(sources, state)
        if isinstance(state.step, MapStep) and state.over is not None:
            _check_over(sources, state, state.step, state.over)


def _target(state: StepState) -> str:
    return f"{'tool' if state.tool is not None else 'flow'} {state.target!r}"


def _check_bindings(sources: _Sources, state: StepState) -> None:
    for binding in state.bindings:
        source = binding.source
        if source.kind == LITERAL:
            origins = [(f"the literal {source.value!r}", literal_schema(source.value))]
        else:
            origins = sources.origins(source)
        bad, nested = _misfits(sources.comparer, origins, binding.schema, "")
        if not bad:
            continue
        sources.analysis.report(
            "DW202",
            f"field {binding.field!r} of {_target(state)} expects "
            f"{describe(binding.schema)}, but {'; '.join(bad)}",
            step=state,
            hint=_hint(nested, "map the field to a source of a compatible type"),
            at=("inputs", binding.field) if binding.field in state.step.inputs else (),
        )


def _misfits(
    comparer: Comparer, origins: list[tuple[str, Schema]], consumer: Schema, what: str
) -> tuple[list[str], bool]:
    """One phrase per origin that does not fit ``consumer``, and whether one is nested."""
    bad = []
    nested = False
    for label, schema in origins:
        found: Mismatch | None = comparer.mismatch(schema, consumer)
        if found is None:
            continue
        phrase = f"{what}{label} {'are' if what else 'is'} {describe(schema)}"
        if found.path:
            nested = True
            phrase += f", and at `{found.where}` the consumer {found.reason}"
        elif describe(schema) == describe(consumer):
            phrase += f" and the consumer {found.reason}"  # same type, other values
        bad.append(phrase)
    return bad, nested


def _hint(nested: bool, advice: str) -> str:
    if nested:
        return (
            f"{advice}; for a nested type, give the producer's model the fields the "
            "consumer requires, with compatible types, or make them optional in the consumer"
        )
    return f"{advice}, or change one of the schemas"


def _check_over(sources: _Sources, state: StepState, step: MapStep, over: SourceDraft) -> None:
    analysis = sources.analysis
    origins = sources.origins(over)
    not_lists = []
    for label, schema in origins:
        kinds = json_types(schema)
        if kinds is not None and "array" not in kinds:
            not_lists.append(f"{label} is {describe(schema)}")
    if not_lists:
        analysis.report(
            "DW206",
            f"`over` must be a list, but {'; '.join(not_lists)}",
            step=state,
            hint="point `over` at a key (or JSON pointer) that holds a list",
            at=("over",),
        )
        return
    item_field = state.interface.inputs.get(step.item) if state.interface else None
    if item_field is None:
        return
    items = [(label, i) for label, s in origins if (i := array_items(s)) is not None]
    bad, nested = _misfits(sources.comparer, items, item_field.schema, "the items of ")
    if bad:
        analysis.report(
            "DW202",
            f"item field {step.item!r} of {_target(state)} expects "
            f"{describe(item_field.schema)}, but {'; '.join(bad)}",
            step=state,
            hint=_hint(
                nested, "map over a list whose items match the item field, or change `item`"
            ),
            at=("item",),
        )

"""Hygiene pass: findings that never block compilation.

Emits DW401 (unreachable step), DW402 (retry on a non-idempotent tool), DW403 (tool
without description, once per tool), DW404 (flow without description, ``info``),
DW405 (a required flow input named like a key some step writes) and DW407
(``on_interrupted="retry"`` on a step that makes no non-idempotent call).
"""

from __future__ import annotations

from difflib import get_close_matches

from dagwright._execution.plan import LITERAL
from dagwright.compiler._state import Analysis, SourceDraft, StepState

_CLOSE = 0.8
"""difflib similarity above which two names look like one misspelt: ``result`` and
``results`` score 0.92, ``n`` and ``ns`` 0.67."""


def check_hygiene(analysis: Analysis) -> None:
    """Report DW401-DW405 and DW407."""
    _check_unreachable(analysis)
    _check_retries(analysis)
    _check_on_interrupted(analysis)
    _check_descriptions(analysis)
    _check_near_misses(analysis)


def _check_unreachable(analysis: Analysis) -> None:
    unreachable: set[int] = set()
    for state in analysis.in_order():
        predicate = state.predicate
        sources = analysis.explicit[state.index]
        if predicate is not None and predicate.constant is False:
            reason = f"its `when` {state.step.when!r} is always false"
            hint = "remove the step, or fix its `when`"
            at: tuple[str | int, ...] = ("when",)
        elif sources and sources <= unreachable:
            names = ", ".join(repr(analysis.steps[i].id) for i in sorted(sources))
            reason = f"every step it depends on ({names}) is unreachable"
            hint = "remove the step, or depend on a step that can run"
            at = ("depends_on",)
        else:
            continue
        unreachable.add(state.index)
        analysis.report("DW401", f"step can never run: {reason}", step=state, hint=hint, at=at)


def _check_retries(analysis: Analysis) -> None:
    for state in analysis.in_order():
        retry = state.step.retry
        if retry is None or retry.max_attempts <= 1 or state.tool is None:
            continue
        if not state.tool.spec.idempotent:
            analysis.report(
                "DW402",
                f"retries tool {state.tool.name!r} up to {retry.max_attempts} times, but it "
                "is marked idempotent=False: a retried call may repeat its side effects",
                step=state,
                hint="drop the retry, or make the tool safe to call again (it can "
                "deduplicate on current_call().idempotency_key) and mark it idempotent; "
                "after a crash a resume does not repeat its call unless the step sets "
                "on_interrupted='retry'",
                at=("retry",),
            )


def _check_on_interrupted(analysis: Analysis) -> None:
    for state in analysis.in_order():
        if state.step.on_interrupted != "retry":
            continue
        if state.subflow is not None:
            why = (
                f"it calls sub-flow {state.subflow.flow.name!r}, whose steps each say for "
                "themselves"
            )
            hint = "set on_interrupted='retry' on the sub-flow's step that needs it"
        elif state.tool is None:
            continue  # an unknown tool is reported on its own
        elif any(not entry.spec.idempotent for entry in (state.tool, state.fallback) if entry):
            continue
        else:
            why = f"tool {state.tool.name!r} is idempotent, so its call is always made again"
            hint = "drop on_interrupted, or mark the tool idempotent=False if it is not"
        analysis.report(
            "DW407",
            f"on_interrupted='retry' has no effect here: {why}",
            step=state,
            hint=hint,
            at=("on_interrupted",),
        )


def _check_descriptions(analysis: Analysis) -> None:
    seen: set[str] = set()
    for state in analysis.in_order():
        for entry in (state.tool, state.fallback):
            if entry is None or entry.name in seen:
                continue
            seen.add(entry.name)
            if not entry.spec.description.strip():
                analysis.report(
                    "DW403",
                    f"tool {entry.name!r} has no description",
                    step=state,
                    hint="give the tool a docstring or `description=`; it is shown in "
                    "lint output, graphs and schemas",
                    at=("tool",) if entry is state.tool else ("on_error",),
                )
    flow = analysis.flow
    if not flow.description.strip():
        analysis.report(
            "DW404",
            f"flow {flow.name!r} has no description",
            hint="set `description=` on the flow",
            at=("name",),
        )


def _reads_input(state: StepState, key: str) -> bool:
    """Whether ``state`` reads ``key`` from the flow inputs (no producer before it)."""
    sources: list[SourceDraft] = [b.source for b in state.bindings]
    sources += [source for _, source in state.when_sources]
    if state.over is not None:
        sources.append(state.over)
    return any(s.kind != LITERAL and s.key == key and not s.producers for s in sources)


def _read_at(state: StepState | None, key: str, analysis: Analysis) -> tuple[str | int, ...]:
    """Where ``state`` reads ``key`` (the ``input_schema`` field for a flow-level finding)."""
    if state is None:
        schema = analysis.flow.input_schema
        return ("input_schema", "properties", key) if schema is not None else ()
    for binding in state.bindings:
        if binding.source.key == key and binding.field in state.step.inputs:
            return ("inputs", binding.field)
    if any(source.key == key for _, source in state.when_sources):
        return ("when",)
    if state.over is not None and state.over.key == key:
        return ("over",)
    return ()


def _check_near_misses(analysis: Analysis) -> None:
    """A required input that only looks like a written key is probably a typo of it."""
    if not analysis.required_inputs:
        return
    first_writer: dict[str, StepState] = {}
    for state in analysis.in_order():
        for key in state.produces:
            first_writer.setdefault(key, state)
    # Bucket by length: names whose lengths differ by half cannot reach the cutoff, so a
    # flow with many keys costs a few comparisons per input, not one per key.
    by_length: dict[int, list[str]] = {}
    for key in first_writer:
        by_length.setdefault(len(key), []).append(key)
    for name in analysis.required_inputs:
        if name in first_writer:
            continue
        low, high = len(name) * 2 // 3, len(name) * 3 // 2 + 1
        near = [k for n in range(low, high + 1) for k in by_length.get(n, ())]
        match = get_close_matches(name, near, n=1, cutoff=_CLOSE)
        if not match:
            continue
        key = match[0]
        reader = next((s for s in analysis.in_order() if _reads_input(s, name)), None)
        analysis.report(
            "DW405",
            f"required flow input {name!r} is close to key {key!r}, which step "
            f"{first_writer[key].id!r} writes: did you mean `{key}`?",
            step=reader,
            hint=f"read {key!r} instead (and depend on {first_writer[key].id!r}), or "
            f"rename the input if {name!r} is meant",
            at=_read_at(reader, name, analysis),
        )

"""Hygiene pass: findings that never block compilation.

Emits DW401 (unreachable step), DW402 (retry on a non-idempotent tool), DW403 (tool
without description, once per tool) and DW404 (flow without description, ``info``).
"""

from __future__ import annotations

from dagwright.compiler._state import Analysis


def check_hygiene(analysis: Analysis) -> None:
    """Report DW401-DW404."""
    _check_unreachable(analysis)
    _check_retries(analysis)
    _check_descriptions(analysis)


def _check_unreachable(analysis: Analysis) -> None:
    unreachable: set[int] = set()
    for state in analysis.in_order():
        predicate = state.predicate
        sources = analysis.explicit[state.index]
        if predicate is not None and predicate.constant is False:
            reason = f"its `when` {state.step.when!r} is always false"
            hint = "remove the step, or fix its `when`"
        elif sources and sources <= unreachable:
            names = ", ".join(repr(analysis.steps[i].id) for i in sorted(sources))
            reason = f"every step it depends on ({names}) is unreachable"
            hint = "remove the step, or depend on a step that can run"
        else:
            continue
        unreachable.add(state.index)
        analysis.report("DW401", f"step can never run: {reason}", step=state, hint=hint)


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
                hint="drop the retry, or make the tool safe to call again and mark it idempotent",
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
                )
    flow = analysis.flow
    if not flow.description.strip():
        analysis.report(
            "DW404",
            f"flow {flow.name!r} has no description",
            hint="set `description=` on the flow",
        )

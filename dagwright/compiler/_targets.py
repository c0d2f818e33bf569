"""Target pass: what each step calls.

Resolves tools and sub-flows (compiling sub-flows recursively), fallbacks and map
settings. A sub-flow reference ``"name@version"`` resolves to that version, a bare
``"name"`` to the latest active one, through the registry. Emits DW104 (unknown tool),
DW105 (unknown flow or version), DW106 (not exactly one of tool/flow), DW107
(max_concurrency), DW108 (sub-flow recursion), DW111 (fallback on a non-tool step),
DW112 (map results and errors sharing a key), DW113 (retired sub-flow), DW406
(deprecated sub-flow), and passes on the errors of a sub-flow that does not compile.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from dagwright._versions import split_reference
from dagwright.compiler._interfaces import TargetInterface, tool_interface
from dagwright.compiler._state import Analysis, StepState
from dagwright.compiler.diagnostics import Diagnostic
from dagwright.errors import FlowNotFoundError, FlowRetiredError
from dagwright.flows import Flow, MapStep, Step
from dagwright.registry import FlowRegistry, FlowVersion, _admits_retired, _resolve_reference

if TYPE_CHECKING:
    from dagwright.compiler._compile import CompiledFlow

SubCompiler = Callable[[Flow], "CompiledFlow | Sequence[Diagnostic]"]
"""Compiles a sub-flow one level deeper: its result, or its findings when it fails."""


def _known(names: Sequence[str], name: str) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"did you mean {close[0]!r}? "
    shown = ", ".join(sorted(names)[:8]) or "none"
    return f"known: {shown}; "


def resolve_targets(
    analysis: Analysis,
    registry: FlowRegistry | None,
    stack: tuple[str, ...],
    compile_sub: SubCompiler,
) -> None:
    """Resolve every step's target; ``stack`` is the chain of flows being compiled."""
    failed_subflows: set[str] = set()
    interfaces: dict[str, TargetInterface] = {}
    for state in analysis.steps:
        step = state.step
        if (step.tool is None) == (step.flow is None):
            both = step.tool is not None
            analysis.report(
                "DW106",
                f"step sets both tool={step.tool!r} and flow={step.flow!r}"
                if both
                else "step sets neither `tool` nor `flow`",
                step=state,
                hint="set exactly one of `tool=` (a tool call) or `flow=` (a sub-flow call)",
                at=("flow",) if both else (),
            )
        elif step.tool is not None:
            _resolve_tool(analysis, state, step.tool, interfaces)
        elif step.flow is not None:
            _resolve_flow(
                analysis,
                state,
                step.flow,
                registry=registry,
                stack=stack,
                compile_sub=compile_sub,
                failed=failed_subflows,
            )
        if isinstance(step, MapStep):
            _check_map(analysis, state, step)
        else:
            _resolve_fallback(analysis, state, step)


def _resolve_tool(
    analysis: Analysis, state: StepState, name: str, interfaces: dict[str, TargetInterface]
) -> None:
    state.target = name
    entry = analysis.tools.get(name)
    if entry is None:
        analysis.report(
            "DW104",
            f"calls unknown tool {name!r}",
            step=state,
            hint=f"{_known(list(analysis.tools), name)}pass the tool (or its ToolSpec) in `tools=`",
            at=("tool",),
        )
        return
    state.tool = entry
    state.interface = interfaces.get(name)
    if state.interface is None:
        # Hashing a ToolSpec digests its schemas; look it up once per tool, not per step.
        state.interface = interfaces[name] = tool_interface(entry.spec)


def _resolve_flow(
    analysis: Analysis,
    state: StepState,
    reference: str,
    *,
    registry: FlowRegistry | None,
    stack: tuple[str, ...],
    compile_sub: SubCompiler,
    failed: set[str],
) -> None:
    # Keyed by the reference as written ("enrich", "enrich@2"): the plan's target, the
    # records and CompiledFlow.subflows all name a sub-flow that way.
    state.target = reference
    name, pinned = split_reference(reference)
    if name in stack:
        path = " -> ".join((*stack, name))
        analysis.report(
            "DW108",
            f"calls flow {name!r} recursively: {path}",
            step=state,
            hint="a flow may not call itself (any version of it), directly or through "
            "sub-flows; factor the shared steps into a separate flow",
            at=("flow",),
        )
        return
    if registry is None:
        analysis.report(
            "DW105",
            f"calls sub-flow {reference!r} but no registry was given",
            step=state,
            hint="register the sub-flow in a FlowRegistry and pass `registry=`",
            at=("flow",),
        )
        return
    compiled = analysis.subflows.get(reference)
    if compiled is None and reference not in failed:
        entry = _sub_entry(analysis, state, reference, name, pinned, registry)
        if entry is None:
            failed.add(reference)
            return
        result = compile_sub(entry.flow)
        if isinstance(result, Sequence):
            failed.add(reference)
            for inner in result:
                if inner.severity != "error":
                    continue
                where = f" at step {inner.step_id!r}" if inner.step_id is not None else ""
                analysis.diagnostics.append(
                    Diagnostic(
                        code=inner.code,
                        severity="error",
                        message=f"in sub-flow {reference!r}{where}: {inner.message}",
                        step_id=state.id,
                        hint=inner.hint,
                        location=("steps", state.index, "flow"),
                    )
                )
            return
        compiled = result
        analysis.subflows[reference] = compiled
    if compiled is not None:
        state.subflow = compiled
        state.interface = compiled.interface


def _sub_entry(
    analysis: Analysis,
    state: StepState,
    reference: str,
    name: str,
    pinned: str | None,
    registry: FlowRegistry,
) -> FlowVersion | None:
    """The registry entry ``reference`` resolves to, its status judged (DW113 for a
    retired one, DW406 for a deprecated one); ``None``, reported, when it cannot run."""
    try:
        entry = _resolve_reference(registry, reference)
    except FlowRetiredError:
        analysis.report(
            "DW113",
            f"calls flow {name!r}, whose every released version is retired "
            f"({_listing(registry, name)})",
            step=state,
            hint=f"pin a version, as {name}@<version>, or set one active with "
            "FlowRegistry.set_status",
            at=("flow",),
        )
        return None
    except FlowNotFoundError:
        if name not in registry:
            analysis.report(
                "DW105",
                f"calls unknown flow {name!r}",
                step=state,
                hint=f"{_known(sorted({f.name for f in registry}), name)}register the "
                "sub-flow with FlowRegistry.register(flow)",
                at=("flow",),
            )
        elif pinned is not None:
            analysis.report(
                "DW105",
                f"calls flow {name!r} version {pinned!r}, which is not registered",
                step=state,
                hint=f"registered versions of {name!r}: {_listing(registry, name)}; pin one "
                f"of them, or register version {pinned!r}",
                at=("flow",),
            )
        else:
            analysis.report(
                "DW105",
                f"calls flow {name!r}, which has only draft versions ({_listing(registry, name)})",
                step=state,
                hint=f"a draft runs only when pinned, as {name}@<version>; or make a "
                "version active with FlowRegistry.set_status",
                at=("flow",),
            )
        return None
    if entry.status == "retired" and not _admits_retired(registry):
        analysis.report(
            "DW113",
            f"calls flow {name!r} version {entry.version!r}, which is retired",
            step=state,
            hint=f"pin another version of {name!r} ({_listing(registry, name)}), or set this "
            "one active again with FlowRegistry.set_status",
            at=("flow",),
        )
        return None
    if entry.status == "deprecated":
        why = "" if pinned is not None else f" (no version of {name!r} is active)"
        analysis.report(
            "DW406",
            f"calls flow {name!r} version {entry.version!r}, which is deprecated{why}",
            step=state,
            hint=f"pin an active version of {name!r} ({_listing(registry, name)}) before "
            "this one is retired",
            at=("flow",),
        )
    return entry


def _listing(registry: FlowRegistry, name: str) -> str:
    return ", ".join(f"{e.version} ({e.status})" for e in registry.versions(name))


def _check_map(analysis: Analysis, state: StepState, step: MapStep) -> None:
    limit = step.max_concurrency
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        analysis.report(
            "DW107",
            f"max_concurrency must be an integer >= 1, got {limit!r}",
            step=state,
            hint="use 1 to run the items one at a time, or a small integer such as 8",
            at=("max_concurrency",),
        )
    if step.errors is not None and step.errors == step.results:
        analysis.report(
            "DW112",
            f"results and errors both write key {step.results!r}; the errors would "
            "overwrite the results",
            step=state,
            hint=f"give errors its own key, such as {step.results + '_errors'!r}",
            at=("errors",),
        )


def _resolve_fallback(analysis: Analysis, state: StepState, step: Step) -> None:
    if not step.on_error.startswith("fallback:"):
        return
    name = step.on_error.removeprefix("fallback:")
    if step.tool is None:
        analysis.report(
            "DW111",
            f"on_error={step.on_error!r} is set on a sub-flow step; fallback only "
            "applies to tool steps",
            step=state,
            hint="use on_error='skip', or handle the failure inside the sub-flow",
            at=("on_error",),
        )
    entry = analysis.tools.get(name)
    if entry is None:
        analysis.report(
            "DW104",
            f"fallback names unknown tool {name!r}",
            step=state,
            hint=f"{_known(list(analysis.tools), name)}pass the fallback tool in `tools=`",
            at=("on_error",),
        )
        return
    state.fallback = entry

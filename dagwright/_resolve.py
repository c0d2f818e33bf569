"""How the executor turns what a caller names into a flow it may run, and a plan.

A flow is named by a ``Flow`` object, a bare name (``"enrich"``: the registry's latest
active version) or a pinned reference (``"enrich@2"``: that version, whatever its
status). Each resolves to the flow and the status the registry gives it at that moment
(``None`` for a flow object the registry does not hold): one snapshot, so a status
change racing the call never splits what the run sees. A new run refuses a retired
version before anything is compiled or journaled and logs a deprecated one; resuming a
run does neither, and compiles through the registry's resume view, so pinned sub-flows
retired since the run started still compile.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagwright._json_schema import validating_model
from dagwright._logging import get_logger
from dagwright._misuse import flow_ref_error
from dagwright._plan_cache import PlanCache
from dagwright._versions import REFERENCE_HINT, reference_problem
from dagwright.compiler import CompiledFlow, compile_flow
from dagwright.errors import FlowRetiredError, UsageError
from dagwright.flows import Flow
from dagwright.registry import FlowRegistry, Status, _entry_of, _resolve_reference, _resume_view
from dagwright.tools import Tool


def resolve_flow(registry: FlowRegistry, flow_or_name: object) -> tuple[Flow, Status | None]:
    """The flow ``flow_or_name`` names and its status in ``registry`` (``None`` when the
    registry does not hold that name and version).

    Raises ``UsageError`` for something that is not a flow or a well-formed reference,
    ``FlowNotFoundError`` for an unknown name or version, and ``FlowRetiredError`` for a
    bare name whose every released version is retired.
    """
    if isinstance(flow_or_name, Flow):
        entry = _entry_of(registry, flow_or_name.name, flow_or_name.version)
        return flow_or_name, None if entry is None else entry.status
    if isinstance(flow_or_name, str):
        problem = reference_problem(flow_or_name)
        if problem is not None:
            raise UsageError(problem, hint=REFERENCE_HINT)
        entry = _resolve_reference(registry, flow_or_name)
        return entry.flow, entry.status
    raise flow_ref_error(flow_or_name)


def check_runnable(flow: Flow, status: Status | None, registry: FlowRegistry) -> None:
    """A new run of a retired version is refused (``FlowRetiredError``)."""
    if status != "retired":
        return
    others = [
        v.version
        for v in registry.versions(flow.name)
        if v.status in ("active", "deprecated") and v.version != flow.version
    ]
    offer = f"run {flow.name}@{others[-1]}, or " if others else ""
    raise FlowRetiredError(
        f"flow {flow.name!r} version {flow.version!r} is retired: it starts no new runs",
        name=flow.name,
        version=flow.version,
        hint=f"{offer}make it active again with FlowRegistry.set_status; runs that "
        "started on it can still be resumed",
    )


def log_deprecated(flow: Flow, status: Status | None, run_id: str) -> None:
    """A run of a deprecated version says so, once, at WARNING (``flow_deprecated``)."""
    if status == "deprecated":
        get_logger().warning("flow_deprecated", flow=flow.name, version=flow.version, run_id=run_id)


def compile_cached(
    cache: PlanCache,
    flow: Flow,
    *,
    tools: Mapping[str, Tool],
    registry: FlowRegistry,
    strict: bool,
    resuming: bool = False,
) -> CompiledFlow:
    """``flow`` compiled against ``tools``, through the executor's plan ``cache``.

    Keyed by the flow's definition, its input model, the registry's generation (any
    registration or status change recompiles, which the compiler's own cache makes
    cheap when nothing the flow uses changed) and whether it is for a resume (a resume
    admits retired sub-flows, a new run must not reuse that plan). A plan's warnings
    are logged once, when this cache first holds it.
    """
    plain = (flow.definition_digest, validating_model(flow.input_schema), registry.generation)
    compiled = cache.get(plain)
    if compiled is not None:
        # Compiled for a new run at this generation: no retired sub-flow, fit to resume.
        return compiled
    key = (*plain, True) if resuming else plain
    compiled = cache.get(key) if resuming else None
    if compiled is not None:
        return compiled
    fresh = compile_flow(
        flow,
        tools=tools,
        registry=_resume_view(registry) if resuming else registry,
        strict=strict,
    )
    # Another thread may have cached this plan first: every caller shares that one.
    compiled, first = cache.add(key, fresh)
    if first and compiled.all_warnings:
        # Logged when the plan is compiled, not per run, so that they are read.
        get_logger().warning(
            "flow_warnings",
            flow=flow.name,
            version=flow.version,
            codes=[d.code for d in compiled.all_warnings],
            diagnostics=[d.format() for d in compiled.all_warnings],
            record={"diagnostics": compiled.all_warnings},
        )
    return compiled

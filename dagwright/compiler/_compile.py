"""``compile_flow``: run every check, then build the plan.

The passes run in a fixed order (structure, targets, writes, reads, types, context,
hygiene) and each one records findings instead of stopping, so one call reports
everything. Only a flow with no error gets a :class:`~dagwright._execution.plan.Plan`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from dagwright._execution.canonical import copy_json
from dagwright._execution.canonical import digest as canonical_digest
from dagwright._execution.plan import Plan
from dagwright._source import SourceMap, slot_of, source_of
from dagwright.compiler._cache import MAXSIZE, LRUCache, cache_key, referenced_tools
from dagwright.compiler._interfaces import (
    TargetInterface,
    ToolEntry,
    flow_interface,
    normalize_tools,
)
from dagwright.compiler.diagnostics import Diagnostic
from dagwright.errors import FlowCompileError
from dagwright.flows import Flow
from dagwright.registry import FlowRegistry
from dagwright.tools import Tool, ToolSpec

if TYPE_CHECKING:
    from dagwright.compiler._state import Analysis
    from dagwright.results import ExecutionResult


@dataclass(frozen=True, eq=False)
class CompiledFlow:
    """A flow that passed every check, with its plan and the non-error findings.

    ``required_inputs`` / ``optional_inputs`` are sorted alphabetically (with an
    ``input_schema``: its required and other fields; without one: the keys some step
    reads before any step writes them, required when a required field, a map's ``over``
    or a ``when`` reads them). ``canonical_order`` lists step ids in canonical order.
    ``digest`` equals ``plan.digest``. ``subflows`` maps each sub-flow name the flow
    calls to its compiled form. ``interface`` is what a caller of this flow as a
    sub-flow sees: its input fields and the output keys it returns.

    Compared and hashed by identity: the compile cache hands out one object per
    (flow, tools, sub-flows) combination (and, for a flow read from a file, one copy
    of it per flow object, with that file's positions).
    """

    flow: Flow
    plan: Plan
    diagnostics: tuple[Diagnostic, ...]
    required_inputs: tuple[str, ...]
    optional_inputs: tuple[str, ...]
    canonical_order: tuple[str, ...]
    digest: str
    subflows: Mapping[str, CompiledFlow]
    interface: TargetInterface = field(repr=False)
    source: SourceMap | None = field(default=None, repr=False)
    schemas: tuple[Mapping[str, Any], Mapping[str, Any]] = field(
        default=(MappingProxyType({}), MappingProxyType({})), repr=False
    )
    """The flow's input and output JSON Schemas as one tool (see ``input_json_schema``)."""

    def input_json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the flow's inputs, as a tool taking them would declare it.

        Its ``input_schema`` when it has one; else an object schema whose properties are
        :attr:`required_inputs` (listed in ``required``) and :attr:`optional_inputs`,
        each typed by the tool fields that read it (``allOf`` when several read it with
        different types, an array for a map's ``over``, open when only a ``when`` or a
        JSON pointer reads it). A fresh dict on every call.
        """
        schema: dict[str, Any] = copy_json(dict(self.schemas[0]))
        return schema

    def output_json_schema(self) -> dict[str, Any]:
        """The JSON Schema of what the flow returns (:meth:`outputs_of`): its
        ``output_schema`` when it has one, else an object with every key its steps
        write, typed by the field that last writes it. A fresh dict on every call."""
        schema: dict[str, Any] = copy_json(dict(self.schemas[1]))
        return schema

    @property
    def output_keys(self) -> tuple[str, ...]:
        """The keys the flow returns: its ``output_schema`` fields, else every key its
        steps write (what a caller of it as a sub-flow receives)."""
        return tuple(self.interface.outputs)

    def outputs_of(self, result: ExecutionResult) -> dict[str, Any]:
        """The part of a run's final context that the flow returns (:attr:`output_keys`
        present in it), as an agent calling the flow as one tool should see it."""
        output = result.output
        return {key: copy_json(output[key]) for key in self.output_keys if key in output}

    """Where ``flow`` was read from, when it was read from a file: every diagnostic then
    carries its ``path``, ``line`` and ``col``."""

    @cached_property
    def declared_inputs(self) -> frozenset[str]:
        """Every flow input key, required or optional."""
        return frozenset(self.required_inputs).union(self.optional_inputs)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """Error findings (always empty: a flow with errors does not compile)."""
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """Warning findings (``info`` ones are only in ``diagnostics``)."""
        return tuple(d for d in self.diagnostics if d.severity == "warning")

    @cached_property
    def all_warnings(self) -> tuple[Diagnostic, ...]:
        """:attr:`warnings` and those of every sub-flow called, however deep.

        A sub-flow's warning is prefixed ``in sub-flow '<name>'`` and attached to the
        first step that calls it, as its errors are.
        """
        from dagwright.compiler._graph import default_ids

        found = list(self.warnings)
        declared = {step_id: index for index, step_id in enumerate(default_ids(self.flow))}
        callers: dict[str, str] = {}
        for step in self.plan.steps:
            if step.subplan is not None:
                callers.setdefault(step.target, step.id)
        for name, sub in self.subflows.items():
            caller = callers.get(name)
            location = ("steps", declared[caller], "flow") if caller in declared else ()
            for inner in sub.all_warnings:
                where = f" at step {inner.step_id!r}" if inner.step_id is not None else ""
                message = f"in sub-flow {name!r}{where}: {inner.message}"
                found.append(replace(inner, message=message, step_id=caller, location=location))
        return positioned(found, self.source)

    def to_mermaid(self, statuses: Mapping[str, str] | None = None) -> str:
        """The flow as a Mermaid ``flowchart TD``, steps coloured by ``statuses`` (step id
        -> recorded status); the same text as ``render_graph(self.flow)``, see
        :func:`~dagwright.compiler.render_graph`."""
        from dagwright.compiler._render import render_graph

        return render_graph(self, format="mermaid", statuses=statuses)

    def to_dot(self, statuses: Mapping[str, str] | None = None) -> str:
        """The flow as Graphviz DOT text, steps coloured by ``statuses``; see
        :meth:`to_mermaid`."""
        from dagwright.compiler._render import render_graph

        return render_graph(self, format="dot", statuses=statuses)


_CACHE: LRUCache[CompiledFlow] = LRUCache(MAXSIZE)


def clear_cache() -> None:
    """Forget every cached compilation (tests, or after changing tools in place)."""
    _CACHE.clear()


def compile_flow(
    flow: Flow,
    tools: Iterable[Tool | ToolSpec] | Mapping[str, Tool | ToolSpec] = (),
    registry: FlowRegistry | None = None,
    *,
    strict: bool = False,
) -> CompiledFlow:
    """Check ``flow`` against ``tools`` (and sub-flows from ``registry``) and compile it.

    Every check runs and every finding is collected. If any has severity ``"error"``,
    raises :class:`~dagwright.errors.FlowCompileError` carrying all of them (warnings
    included); otherwise returns the :class:`CompiledFlow` with its warnings and infos.
    ``tools`` are ``Tool``s or ``ToolSpec``s (the callables are never needed), as an
    iterable (indexed by name) or a mapping (indexed by key). Sub-flows resolve to
    their latest registered version and compile recursively with the same tools.
    Successful results are cached (thread-safe LRU of 256): the same flow, tools and
    sub-flows give the identical object.

    With ``strict=True`` warnings are errors: a flow with any warning (its own, or one
    of a sub-flow it calls, prefixed ``in sub-flow '<name>'`` and attached to the calling
    step) raises ``FlowCompileError``, whose diagnostics carry them with severity
    ``"error"``. Strictness is applied after the cache, so it never changes what is cached.
    """
    result = _compile(flow, normalize_tools(tools), registry, ())
    if not isinstance(result, CompiledFlow):
        raise FlowCompileError(flow.name, positioned(result, source_of(flow)))
    result = _with_positions(result, flow)
    if strict and result.all_warnings:
        others = [d for d in result.diagnostics if d.severity != "warning"]
        promoted = [replace(d, severity="error") for d in result.all_warnings]
        raise FlowCompileError(flow.name, [*promoted, *others])
    return result


def positioned(
    diagnostics: Iterable[Diagnostic], source: SourceMap | None
) -> tuple[Diagnostic, ...]:
    """``diagnostics`` with the file position of each location (unchanged without a source)."""
    if source is None:
        return tuple(diagnostics)
    result = []
    for d in diagnostics:
        line, col = source.position(d.location)
        result.append(replace(d, path=source.path, line=line, col=col))
    return tuple(result)


_POSITIONED_PER_FLOW = 8
"""Positioned copies kept per loaded flow (one per tool set it was compiled against)."""


def _with_positions(result: CompiledFlow, flow: Flow) -> CompiledFlow:
    """The compilation of ``flow`` with its own file positions on every diagnostic.

    The cache holds one compilation per definition, whichever file it came from; a flow
    read from a file gets a copy with its positions (and itself as ``flow``), made once
    per flow object and cached compilation (for the last few of them).
    """
    slot = slot_of(flow)
    if slot is None:
        return result
    known = slot.positioned.get(id(result))
    if known is not None:
        copy: CompiledFlow = known[1]
        return copy
    source = slot.source
    copy = replace(
        result, flow=flow, diagnostics=positioned(result.diagnostics, source), source=source
    )
    if len(slot.positioned) >= _POSITIONED_PER_FLOW:
        slot.positioned.clear()  # a flow compiled against many tool sets: start afresh
    slot.positioned[id(result)] = (result, copy)
    return copy


def _compile(
    flow: Flow,
    tools: Mapping[str, ToolEntry],
    registry: FlowRegistry | None,
    stack: tuple[str, ...],
) -> CompiledFlow | Sequence[Diagnostic]:
    key = cache_key(flow, tools, registry)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    inner_stack = (*stack, flow.name)
    # The passes load with the first compile, not with `import dagwright`: a process
    # that only runs flows it compiled elsewhere, or reads stored runs, never needs them.
    from dagwright.compiler._context import check_context
    from dagwright.compiler._graph import build_edges, build_steps
    from dagwright.compiler._hygiene import check_hygiene
    from dagwright.compiler._reads import resolve_reads
    from dagwright.compiler._state import Analysis
    from dagwright.compiler._targets import resolve_targets
    from dagwright.compiler._typecheck import check_types
    from dagwright.compiler._writes import resolve_writes

    def compile_sub(sub: Flow) -> CompiledFlow | Sequence[Diagnostic]:
        return _compile(sub, tools, registry, inner_stack)

    analysis = Analysis(flow, tools)
    build_steps(analysis)
    build_edges(analysis)
    resolve_targets(analysis, registry, inner_stack, compile_sub)
    resolve_writes(analysis)
    resolve_reads(analysis)
    check_types(analysis)
    check_context(analysis)
    check_hygiene(analysis)
    if analysis.has_errors():
        return tuple(analysis.diagnostics)
    return _CACHE.put(key, _finish(analysis))


def _finish(analysis: Analysis) -> CompiledFlow:
    from dagwright.compiler._context import written_keys
    from dagwright.compiler._flow_schemas import derived_input_schema, derived_output_schema
    from dagwright.compiler._plan_builder import build_plan, output_keys

    flow = analysis.flow
    used = referenced_tools(flow)
    digest = canonical_digest(
        {
            "flow": flow.definition(),
            "tools": {name: analysis.tools[name].schema_hash for name in used},
            "subflows": {name: sub.digest for name, sub in analysis.subflows.items()},
        }
    )
    plan = build_plan(analysis, digest)
    last_writer = {key: writers[-1] for key, writers in written_keys(analysis).items()}
    interface = flow_interface(
        input_fields=analysis.input_fields,
        required_inputs=analysis.required_inputs,
        optional_inputs=analysis.optional_inputs,
        output_fields=analysis.output_fields,
        output_keys=output_keys(analysis),
        key_schemas={key: analysis.steps[w].produces[key] for key, w in last_writer.items()},
    )
    return CompiledFlow(
        flow=flow,
        plan=plan,
        diagnostics=tuple(analysis.diagnostics),
        required_inputs=analysis.required_inputs,
        optional_inputs=analysis.optional_inputs,
        canonical_order=tuple(s.id for s in plan.steps),
        digest=digest,
        subflows=MappingProxyType(dict(analysis.subflows)),
        interface=interface,
        schemas=(
            MappingProxyType(derived_input_schema(analysis)),
            MappingProxyType(derived_output_schema(analysis, interface)),
        ),
    )

"""Build the immutable :class:`~dagwright._execution.plan.Plan` of a checked flow.

Only called when no error was found (in particular the graph is acyclic). This is where
declaration indices become canonical indices.
"""

from __future__ import annotations

from dagwright._execution.plan import LITERAL, MAP, TOOL, FieldBinding, Plan, Source, StepPlan
from dagwright.compiler._reads import flow_inputs
from dagwright.compiler._state import Analysis, SourceDraft, StepState
from dagwright.flows import MapStep


def output_keys(analysis: Analysis) -> tuple[str, ...]:
    """The ``output_schema`` fields, else every written key in canonical order."""
    if analysis.output_fields is not None:
        return tuple(analysis.output_fields)
    seen: dict[str, None] = {}
    for state in analysis.in_order():
        for key in state.produces:
            seen.setdefault(key, None)
    return tuple(seen)


class _Builder:
    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.position = analysis.position
        self.inputs = flow_inputs(analysis)
        successors: list[set[int]] = [set() for _ in analysis.steps]
        for index, preds in enumerate(analysis.preds):
            for p in preds:
                successors[p].add(index)
        self.successors = successors

    def indices(self, declared: set[int] | frozenset[int]) -> tuple[int, ...]:
        return tuple(sorted(self.position[i] for i in declared))

    def source(self, draft: SourceDraft) -> Source:
        if draft.kind == LITERAL:
            return Source(LITERAL, value=draft.value)
        return Source(
            draft.kind,
            key=draft.key,
            path=draft.path,
            producers=tuple(map(self.position.__getitem__, draft.producers)),
            from_input=draft.key in self.inputs,
        )

    def step(self, state: StepState) -> StepPlan:
        step = state.step
        order = list(state.interface.inputs) if state.interface else []
        drafts = sorted(
            state.bindings,
            key=lambda b: order.index(b.field) if b.field in order else len(order),
        )
        timeout = step.timeout_s
        if timeout is None and state.tool is not None:
            timeout = state.tool.timeout_s
        if isinstance(step, MapStep):
            assert state.kind == MAP and state.over is not None
            on_error, fallback = "fail", ""
            writes: tuple[tuple[str, str], ...] = ()
            over: Source | None = self.source(state.over)
            map_step: MapStep | None = step
        else:
            on_error, _, fallback = step.on_error.partition(":")
            writes, over, map_step = tuple(state.writes), None, None
        return StepPlan(
            index=self.position[state.index],
            id=state.id,
            kind=state.kind,
            target=state.target or "",
            bindings=tuple(
                FieldBinding(b.field, self.source(b.source), b.required) for b in drafts
            ),
            writes=writes,
            predecessors=self.indices(self.analysis.preds[state.index]),
            successors=self.indices(self.successors[state.index]),
            skip_sources=self.indices(self.analysis.explicit[state.index]),
            when=state.predicate,
            when_sources=tuple((n, self.source(s)) for n, s in state.when_sources),
            retry=step.retry,
            timeout_s=timeout,
            on_error=on_error,
            fallback=fallback or None,
            subplan=state.subflow.plan if state.subflow is not None else None,
            over=over,
            item=map_step.item if map_step else None,
            results_key=map_step.results if map_step else None,
            errors_key=map_step.errors if map_step else None,
            max_concurrency=map_step.max_concurrency if map_step else 1,
            error_policy=map_step.error_policy if map_step else "fail_fast",
            writes_all=self.writes_all(state, writes, on_error),
            intent_tools=frozenset(
                entry.name
                for entry in (state.tool, state.fallback)
                if entry is not None and not entry.spec.idempotent
            ),
            on_interrupted=step.on_interrupted,
        )

    @staticmethod
    def writes_all(state: StepState, writes: tuple[tuple[str, str], ...], on_error: str) -> bool:
        """Whether the tool's output dict can be written as is (see StepPlan.writes_all).

        Not for sub-flows (a skipped inner producer leaves a key out) nor with a fallback
        (its outputs may have more fields than the step writes).
        """
        if state.kind != TOOL or on_error == "fallback" or state.interface is None:
            return False
        fields = tuple(state.interface.outputs)
        return len(writes) == len(fields) and all(k == f for k, f in writes)


def build_plan(analysis: Analysis, digest: str) -> Plan:
    """The plan of a flow that compiled without errors."""
    builder = _Builder(analysis)
    steps = tuple(builder.step(s) for s in analysis.in_order())
    flow = analysis.flow
    return Plan(
        flow_name=flow.name,
        flow_version=flow.version,
        steps=steps,
        required_inputs=analysis.required_inputs,
        optional_inputs=analysis.optional_inputs,
        output_keys=output_keys(analysis),
        written_keys=frozenset(k for s in analysis.steps for k in s.produces),
        collision_policy=flow.on_context_collision,
        digest=digest,
        input_schema=flow.input_schema,
        output_schema=flow.output_schema,
        roots=tuple(s.index for s in steps if not s.predecessors),
        indegrees=tuple(len(s.predecessors) for s in steps),
        intents=any(s.intent_tools or (s.subplan is not None and s.subplan.intents) for s in steps),
    )

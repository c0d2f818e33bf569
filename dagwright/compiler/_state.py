"""The working state one compilation builds up, pass after pass.

Steps are addressed by their *declaration* index everywhere inside the compiler (ids may
be missing or duplicated while checking); only the plan builder renumbers them in
canonical order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dagwright.compiler._interfaces import FieldSpec, TargetInterface, ToolEntry
from dagwright.compiler._schemas import Schema
from dagwright.compiler.diagnostics import Diagnostic, Severity, diagnostic
from dagwright.flows import Flow, MapStep, Step

if TYPE_CHECKING:
    from dagwright._execution.predicates import Predicate
    from dagwright.compiler._compile import CompiledFlow


@dataclass(slots=True)
class SourceDraft:
    """A :class:`~dagwright._execution.plan.Source` before flow inputs are known.

    ``producers`` are declaration indices, latest in canonical order first.
    """

    kind: int
    key: str = ""
    path: tuple[str, ...] = ()
    value: Any = None
    producers: tuple[int, ...] = ()


@dataclass(slots=True)
class BindingDraft:
    """A bound input field, with the consumer's schema kept for type checks."""

    field: str
    source: SourceDraft
    required: bool
    schema: Schema


@dataclass(slots=True)
class StepState:
    """Everything the passes learn about one step."""

    index: int
    step: Step | MapStep
    id: str
    kind: str
    target: str | None = None
    tool: ToolEntry | None = None
    subflow: CompiledFlow | None = None
    interface: TargetInterface | None = None
    fallback: ToolEntry | None = None
    predicate: Predicate | None = None
    writes: list[tuple[str, str]] = field(default_factory=list)
    """(context key, output field) for tool and sub-flow steps."""
    produces: dict[str, Schema] = field(default_factory=dict)
    """Every key the step writes (map results and errors included) and its schema."""
    opaque: bool = False
    """The step's writes are unknown (unresolved target, no ``outputs`` mapping)."""
    bindings: list[BindingDraft] = field(default_factory=list)
    when_sources: list[tuple[str, SourceDraft]] = field(default_factory=list)
    over: SourceDraft | None = None

    @property
    def is_map(self) -> bool:
        """True for a :class:`~dagwright.flows.MapStep`."""
        return isinstance(self.step, MapStep)


@dataclass(slots=True)
class Analysis:
    """One compilation in progress: the flow, its steps and the findings so far."""

    flow: Flow
    tools: Mapping[str, ToolEntry]
    steps: list[StepState] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Filled by the graph pass.
    order: tuple[int, ...] = ()
    position: tuple[int, ...] = ()
    ancestors: tuple[int, ...] = ()
    """Per declaration index, a bit set of its transitive predecessors."""
    earlier: tuple[int, ...] = ()
    """The same sets by canonical position: the highest bit is the latest ancestor."""
    preds: tuple[frozenset[int], ...] = ()
    explicit: tuple[frozenset[int], ...] = ()
    acyclic: bool = True
    # Filled by the data-flow passes.
    input_fields: dict[str, FieldSpec] | None = None
    """The ``input_schema`` fields, or ``None`` when the flow has no input schema."""
    output_fields: dict[str, FieldSpec] | None = None
    required_inputs: tuple[str, ...] = ()
    optional_inputs: tuple[str, ...] = ()
    reads: set[str] = field(default_factory=set)
    subflows: dict[str, CompiledFlow] = field(default_factory=dict)

    def report(
        self,
        code: str,
        message: str,
        *,
        step: StepState | None = None,
        hint: str | None = None,
        severity: Severity | None = None,
        at: tuple[str | int, ...] = (),
    ) -> None:
        """Record a finding (default severity from the code registry).

        ``at`` is where in the step (or, without a step, in the flow) the finding points:
        ``("depends_on", 1)``, ``("inputs", "query")``; the diagnostic's ``location``.
        """
        location = ("steps", step.index, *at) if step is not None else at
        self.diagnostics.append(
            diagnostic(
                code,
                message,
                step_id=step.id if step is not None else None,
                hint=hint,
                severity=severity,
                location=location,
            )
        )

    def is_ancestor(self, a: int, b: int) -> bool:
        """True when step ``a`` is a transitive predecessor of step ``b``."""
        return bool(self.ancestors[b] >> a & 1)

    def ordered(self, a: int, b: int) -> bool:
        """True when one of the two steps is an ancestor of the other."""
        return self.is_ancestor(a, b) or self.is_ancestor(b, a)

    def always_writes(self, index: int) -> bool:
        """Whether step ``index`` writes all its keys whenever a descendant of it runs.

        A tool step with no ``when``, no ``depends_on`` (whose skips would skip it) and
        no ``on_error="skip"`` either completes, writing every key it maps (a fallback
        outputs them all, or DW204 is reported), or fails and halts its frame, so that
        no descendant starts. Sub-flow and map steps may finish without a key.
        """
        state = self.steps[index]
        step = state.step
        return (
            state.tool is not None
            and not state.is_map
            and not state.opaque
            and step.when is None
            and not self.explicit[index]
            and isinstance(step, Step)
            and step.on_error != "skip"
        )

    def in_order(self) -> list[StepState]:
        """The steps in canonical order."""
        return [self.steps[i] for i in self.order]

    def has_errors(self) -> bool:
        """True once any error-severity finding was recorded."""
        return any(d.severity == "error" for d in self.diagnostics)

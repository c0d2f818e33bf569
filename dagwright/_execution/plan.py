"""The immutable compiled plan: what the scheduler needs, and nothing more.

The compiler turns a checked flow into a :class:`Plan`: steps in canonical order (their
index is their position), integer predecessor and successor lists, and for every value a
step reads a :class:`Source` that already names the steps that may have written it. The
run path therefore never touches networkx, never re-checks the graph and never searches
the context: a lookup walks a handful of producer indices.

Everything here is a frozen, slotted dataclass built once per compiled flow and shared
by every run of it, on any lane and any thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from dagwright._execution.predicates import Predicate
    from dagwright.flows import RetryPolicy

# Source kinds.
KEY = 0
"""The value of a context key."""
POINTER = 1
"""A value inside a context key, reached by a JSON pointer (RFC 6901)."""
LITERAL = 2
"""A constant."""

# Step kinds.
TOOL = "tool"
FLOW = "flow"
MAP = "map"


@dataclass(frozen=True, slots=True)
class Source:
    """Where one value comes from at run time.

    For ``KEY`` and ``POINTER`` the value is found under ``key`` in the outputs of the
    first step of ``producers`` (ancestor step indices writing ``key``, latest in
    canonical order first) that wrote it; when none did and ``from_input`` is true, in the
    flow inputs. ``path`` holds the decoded pointer tokens after ``key``. A value found
    nowhere is missing (a skipped producer, an optional input not given).
    """

    kind: int
    key: str = ""
    path: tuple[str, ...] = ()
    producers: tuple[int, ...] = ()
    from_input: bool = False
    value: Any = None


@dataclass(frozen=True, slots=True)
class FieldBinding:
    """How one input field of a step's target is filled; ``required`` when it has no default."""

    field: str
    source: Source
    required: bool


@dataclass(frozen=True, slots=True)
class StepPlan:
    """One step, compiled.

    ``kind`` is ``TOOL``, ``FLOW`` (a sub-flow call) or ``MAP``. ``target`` is the tool or
    sub-flow name called (per item, for a map). ``bindings`` fill the target's input
    fields (for a map: every field but ``item``). ``writes`` maps context keys to output
    fields of the target (tool and sub-flow steps). ``predecessors`` are every ordering
    edge (explicit ``depends_on`` and, in a linear flow, the previous step);
    ``skip_sources`` only the explicit ``depends_on``: a step whose skip sources were all
    skipped is skipped. ``when`` is evaluated with values from ``when_sources``.
    """

    index: int
    id: str
    kind: str
    target: str
    bindings: tuple[FieldBinding, ...]
    writes: tuple[tuple[str, str], ...]
    predecessors: tuple[int, ...]
    successors: tuple[int, ...]
    skip_sources: tuple[int, ...] = ()
    when: Predicate | None = None
    when_sources: tuple[tuple[str, Source], ...] = ()
    retry: RetryPolicy | None = None
    timeout_s: float | None = None
    on_error: str = "fail"
    """``"fail"``, ``"skip"`` or ``"fallback"``."""
    fallback: str | None = None
    """The fallback tool name when ``on_error == "fallback"``."""
    subplan: Plan | None = None
    """The compiled sub-flow, when ``target`` is a flow (step or map)."""
    # Map steps only.
    over: Source | None = None
    item: str | None = None
    results_key: str | None = None
    errors_key: str | None = None
    max_concurrency: int = 1
    error_policy: str = "fail_fast"
    writes_all: bool = False
    """True when ``writes`` maps every output field of a tool to a key of the same name:
    the call's output dict is then written as is, with no copy."""
    intent_tools: frozenset[str] = frozenset()
    """The tools this step may call (its target, its fallback) that are marked
    ``idempotent=False``: a checkpointed run journals an intent before each of their calls."""
    on_interrupted: str = "fail"
    """``"fail"`` or ``"retry"``: what a resume does with a call of one of
    ``intent_tools`` that an earlier session made without recording its result."""

    @property
    def calls_flow(self) -> bool:
        """True when each call of this step runs a sub-flow rather than a tool."""
        return self.subplan is not None


@dataclass(frozen=True, slots=True)
class Plan:
    """A compiled flow, ready to run.

    ``steps`` are in canonical order (topological, declaration order breaking ties) and
    ``steps[i].index == i``. ``required_inputs`` must be given by the caller;
    ``optional_inputs`` are read when given. ``output_keys`` is what the flow returns when
    called as a sub-flow: its ``output_schema`` fields, else every key its steps write, in
    canonical order. ``written_keys`` is every context key some step writes.
    """

    flow_name: str
    flow_version: str
    steps: tuple[StepPlan, ...]
    required_inputs: tuple[str, ...]
    optional_inputs: tuple[str, ...]
    output_keys: tuple[str, ...]
    written_keys: frozenset[str]
    collision_policy: str
    digest: str
    """sha256 over the flow definition, the schema hashes of the tools it uses and the
    digests of its sub-flows."""
    input_schema: type[BaseModel] | Mapping[str, Any] | None = None
    """The flow's input schema: a pydantic model, or a JSON Schema document (a mapping)."""
    output_schema: type[BaseModel] | Mapping[str, Any] | None = None
    roots: tuple[int, ...] = field(default=())
    """Indices of steps with no predecessors, in canonical order."""
    indegrees: tuple[int, ...] = field(default=())
    """``len(steps[i].predecessors)`` for each step: a run's starting wait counts."""
    intents: bool = False
    """True when a step of this plan or of a sub-plan has ``intent_tools``: only then does
    a checkpointed run look at intents at all."""

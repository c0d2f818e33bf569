"""Diagnostics: what the compiler found, with stable codes.

:data:`CODES` is the single source of truth for every code the compiler emits: its
default severity, a short title and a description. ``docs/reference/diagnostics.md``
lists the same table and a test keeps the two in step. Codes never change meaning once
published; a retired code is never reused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, TypeAlias

Severity: TypeAlias = Literal["error", "warning", "info"]
"""``error`` fails compilation; ``warning`` and ``info`` are reported and compilation succeeds."""


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding of the compiler.

    ``code`` is a key of :data:`CODES`. ``step_id`` names the step concerned (``None``
    for findings about the flow as a whole); ``hint`` says how to fix it.

    ``location`` says where in the flow's definition the finding points, as a path of
    keys and indices into the flow-file form (``("steps", 2, "depends_on", 0)``;
    ``()`` for the flow as a whole). For a flow loaded from a file, ``path``, ``line``
    and ``col`` (both 1-based) give that place in the file; they are ``None`` for flows
    built in Python.
    """

    code: str
    severity: Severity
    message: str
    step_id: str | None = None
    hint: str | None = None
    path: str | None = None
    line: int | None = None
    col: int | None = None
    location: tuple[str | int, ...] = ()

    def format(self) -> str:
        """One line: ``"DW102 error [step 'b']: <message> (hint: <hint>)"``.

        A diagnostic with a file position starts with it: ``"flow.yaml:3:5: DW102 ..."``.
        """
        where = f" [step {self.step_id!r}]" if self.step_id is not None else ""
        text = f"{self.code} {self.severity}{where}: {self.message}"
        if self.path is not None:
            text = f"{self.path}:{self.line or 1}:{self.col or 1}: {text}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


@dataclass(frozen=True, slots=True)
class DiagnosticCode:
    """A registered diagnostic code: its default severity, title and description."""

    code: str
    severity: Severity
    title: str
    description: str


_TABLE: tuple[DiagnosticCode, ...] = (
    # ---- DW1xx: structure ----
    DiagnosticCode(
        "DW101",
        "error",
        "duplicate step id",
        "Two steps have the same id (explicit, or defaulted from the same name). Give "
        "each step a unique `id`.",
    ),
    DiagnosticCode(
        "DW102",
        "error",
        "unknown dependency",
        "`depends_on` names a step id that does not exist in the flow. Fix the id or add "
        "the missing step.",
    ),
    DiagnosticCode(
        "DW103",
        "error",
        "dependency cycle",
        "Steps depend on each other in a cycle; the message gives the cycle path. Remove "
        "one `depends_on` edge of the cycle (in a linear `Flow`, a `depends_on` on a later "
        "step closes a cycle with the implicit previous-step edges).",
    ),
    DiagnosticCode(
        "DW104",
        "error",
        "unknown tool",
        'A step, or its `on_error="fallback:<tool>"`, names a tool that was not given '
        "to the compiler. Pass the tool (or its ToolSpec) in `tools`, or fix the name.",
    ),
    DiagnosticCode(
        "DW105",
        "error",
        "unknown flow",
        "A sub-flow step names a flow that the registry does not hold, a pinned version "
        "(`enrich@3`) it does not hold (the hint lists the registered versions), a bare "
        "name with only draft versions, or no registry was given. Register the sub-flow "
        "and pass `registry=`, or pin a registered version.",
    ),
    DiagnosticCode(
        "DW106",
        "error",
        "step needs exactly one of tool/flow",
        "Every step calls exactly one target: set `tool=` or `flow=`, not both and not neither.",
    ),
    DiagnosticCode(
        "DW107",
        "error",
        "invalid max_concurrency",
        "A map step's `max_concurrency` must be an integer >= 1 (booleans are refused).",
    ),
    DiagnosticCode(
        "DW108",
        "error",
        "sub-flow recursion",
        "A flow calls itself, directly or through other sub-flows; the message gives the "
        "call path. Flows must form a tree of calls.",
    ),
    DiagnosticCode(
        "DW109",
        "error",
        "missing step id",
        "Every step of a `DAGFlow` needs an explicit `id` (only a linear `Flow` defaults "
        "ids from the tool or sub-flow name).",
    ),
    DiagnosticCode(
        "DW110",
        "error",
        "invalid `when` predicate",
        "The `when` expression does not parse or uses a construct that is not allowed "
        "(calls, attributes, arithmetic...). The message gives the offset of the problem.",
    ),
    DiagnosticCode(
        "DW111",
        "error",
        "fallback on a non-tool step",
        '`on_error="fallback:<tool>"` only applies to tool steps: a sub-flow step has '
        'no single call to replace. Use `on_error="skip"` or handle the failure inside '
        "the sub-flow.",
    ),
    DiagnosticCode(
        "DW112",
        "error",
        "map results and errors share a key",
        "A map step's `results` and `errors` name the same context key, so the errors "
        "would overwrite the results. Give `errors` its own key, or leave it unset. A "
        "`results` or `errors` key equal to the `over` key is allowed (the list is read "
        "before it is overwritten) and judged by the collision rules like any other write "
        "(`DW301`, `DW302`).",
    ),
    DiagnosticCode(
        "DW113",
        "error",
        "retired sub-flow",
        "A sub-flow step names a flow version whose registry status is `retired` (pinned, "
        'as `flow="enrich@1"`, or a bare name whose every released version is retired). '
        "Pin an active version, or set one active with `FlowRegistry.set_status`. Resuming "
        "a run that started before the version was retired still compiles it.",
    ),
    # ---- DW2xx: data flow ----
    DiagnosticCode(
        "DW201",
        "error",
        "input written only by non-ancestors",
        "A step reads a context key that only steps it does not depend on write, so it "
        "could never see the value. Add the writer to the reader's `depends_on`.",
    ),
    DiagnosticCode(
        "DW202",
        "error",
        "type mismatch",
        "The JSON Schema type of a producer (a step's output field, a flow input, a "
        "literal, or a map's list items) is not accepted by the consuming input field. "
        "Types are compared structurally (array items, object properties and their "
        "`required` lists, unions, literals); for a nested misfit the message names the "
        "path inside the type, such as `items.text`. Map a compatible source or change one "
        "of the schemas.",
    ),
    DiagnosticCode(
        "DW203",
        "error",
        "required input never provided",
        "The flow declares an `input_schema` and a step reads a key that no ancestor "
        "writes and that the schema lacks. Add the field to the input schema, or make a "
        "step that writes it an ancestor of the reader.",
    ),
    DiagnosticCode(
        "DW204",
        "error",
        "unknown output field",
        "`outputs` maps a context key to a field that the target does not output, or a "
        "fallback tool lacks an output field that the step writes.",
    ),
    DiagnosticCode(
        "DW205",
        "error",
        "unknown input field",
        "`inputs` maps a field that is not an input field of the target tool or sub-flow, "
        "or a fallback tool requires an input field that the step does not bind (the "
        "fallback is called with the step's inputs).",
    ),
    DiagnosticCode(
        "DW206",
        "error",
        "`over` is not a list",
        "A map step's `over` source is known to hold something other than an array.",
    ),
    DiagnosticCode(
        "DW207",
        "error",
        "invalid map item field",
        "A map step's `item` is not an input field of its target, or is also mapped in "
        "`inputs` (the item fills it).",
    ),
    DiagnosticCode(
        "DW208",
        "error",
        "invalid JSON pointer",
        "A source starting with '/' is a JSON pointer (RFC 6901): its first token (the "
        "context key) must not be empty, '~' must be followed by '0' or '1', and a token "
        "of digits (an array index) must use the ASCII digits 0-9.",
    ),
    DiagnosticCode(
        "DW209",
        "error",
        "output field never produced",
        "A field of the flow's `output_schema` is neither written by a step nor a flow "
        "input, so the flow could never return it.",
    ),
    # ---- DW3xx: context ----
    DiagnosticCode(
        "DW301",
        "warning",
        "ordered collision",
        "Two writers of one key are ordered (one is an ancestor of the other, or a flow "
        "input declared in `input_schema` is overwritten): the later wins. The severity "
        "follows `on_context_collision`: 'warn' gives a warning, 'error' an error, "
        "'overwrite' reports nothing.",
    ),
    DiagnosticCode(
        "DW302",
        "error",
        "unordered collision",
        "Two steps with no ancestor relation write the same key, so the final value "
        "would depend on timing. Always an error: rename one output with `outputs`, or "
        "order the steps with `depends_on`.",
    ),
    DiagnosticCode(
        "DW303",
        "warning",
        "dead output",
        "With an `output_schema`, a key that a step writes, no step reads and the "
        "output schema lacks. Drop it with `outputs`, or add it to the output schema. "
        "Flows without an output schema have no dead outputs.",
    ),
    # ---- DW4xx: hygiene ----
    DiagnosticCode(
        "DW401",
        "warning",
        "unreachable step",
        "The step can never run: its `when` is constantly false, or every step in its "
        "`depends_on` is itself unreachable.",
    ),
    DiagnosticCode(
        "DW402",
        "warning",
        "retry on a non-idempotent tool",
        "A retry policy with more than one attempt is set on a tool marked "
        "`idempotent=False`: a retried call may repeat side effects. A crash is "
        "handled apart: a resume never repeats such a call unless the step sets "
        "`on_interrupted: retry` (see docs/concepts/durability.md).",
    ),
    DiagnosticCode(
        "DW403",
        "warning",
        "tool without description",
        "A tool used by the flow has no description; reported once per tool. Give it a "
        "docstring or `description=`.",
    ),
    DiagnosticCode(
        "DW404",
        "info",
        "flow without description",
        "The flow has no `description`. Informational only, so that quick scripts stay "
        "quiet; `dagwright lint` shows it.",
    ),
    DiagnosticCode(
        "DW405",
        "warning",
        "flow input named like a written key",
        "A required flow input's name is close to a key some step writes (`result` while "
        'a step writes `results`): the message asks "did you mean `results`?". Read the '
        "written key (and depend on its writer), or rename the input if it is meant.",
    ),
    DiagnosticCode(
        "DW406",
        "warning",
        "deprecated sub-flow",
        "A sub-flow step resolves to a flow version whose registry status is `deprecated` "
        "(pinned, or the latest when no version of it is active). It still runs; move the "
        "step to an active version before this one is retired.",
    ),
    DiagnosticCode(
        "DW407",
        "warning",
        "on_interrupted without a non-idempotent call",
        "A step sets `on_interrupted: retry`, but none of its own calls is of an "
        "`idempotent=False` tool: an idempotent call in flight at a crash is always made "
        "again, and a sub-flow's steps each say for themselves. Drop it, or set it on the "
        "sub-flow step that calls the non-idempotent tool.",
    ),
)

CODES: Mapping[str, DiagnosticCode] = MappingProxyType({c.code: c for c in _TABLE})
"""Every diagnostic code the compiler can emit, in code order."""


def diagnostic(
    code: str,
    message: str,
    *,
    step_id: str | None = None,
    hint: str | None = None,
    severity: Severity | None = None,
    location: tuple[str | int, ...] = (),
) -> Diagnostic:
    """Build a :class:`Diagnostic` with the code's default severity unless one is given."""
    return Diagnostic(
        code=code,
        severity=severity if severity is not None else CODES[code].severity,
        message=message,
        step_id=step_id,
        hint=hint,
        location=location,
    )

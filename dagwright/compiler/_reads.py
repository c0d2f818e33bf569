"""Read pass: bind every value a step reads to its producers or to the flow inputs.

For each step in canonical order this resolves its input fields (mapped or read
implicitly by name), its ``when`` names and a map's ``over``, and decides which keys are
flow inputs. Emits DW110 (bad predicate), DW201 (key written only by non-ancestors),
DW203 (key never provided under an ``input_schema``), DW205 (unknown input field), DW207
(bad map item field) and DW208 (bad JSON pointer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dagwright._execution.plan import KEY, LITERAL, POINTER
from dagwright._execution.predicates import PredicateSyntaxError, compile_predicate
from dagwright._json_schema import schema_label, schema_name
from dagwright.compiler._interfaces import FieldSpec, flow_schema_fields, tool_interface
from dagwright.compiler._schemas import ANY
from dagwright.compiler._state import Analysis, BindingDraft, SourceDraft, StepState
from dagwright.flows import Literal, MapStep

_BAD_ESCAPE = re.compile(r"~(?![01])")


def decode_pointer(text: str) -> tuple[str, tuple[str, ...]] | None:
    """Split a JSON pointer (RFC 6901) into its context key and remaining path tokens.

    ``~1`` decodes to ``/`` and ``~0`` to ``~``. ``None`` when the pointer is malformed:
    no leading ``/``, an empty first token (there is no empty context key to start
    from), a ``~`` not followed by ``0`` or ``1``, or a token of digits that are not
    all ASCII (``"²"``, Arabic-Indic digits): it reads as an array index, and only the
    ASCII digits ``0``-``9`` index an array.
    """
    if not text.startswith("/"):
        return None
    tokens = text[1:].split("/")
    if any(_BAD_ESCAPE.search(t) for t in tokens) or not tokens[0]:
        return None
    if any(t.isdigit() and not t.isascii() for t in tokens[1:]):
        return None
    decoded = tuple(t.replace("~1", "/").replace("~0", "~") for t in tokens)
    return decoded[0], decoded[1:]


def _ids(analysis: Analysis, indices: list[int], more: bool = False) -> str:
    shown = ", ".join(repr(analysis.steps[i].id) for i in indices)
    return shown + " and others" if more else shown


_SHOWN = 5
"""Steps named in one message; a flow with thousands of writers gets a short one."""


@dataclass(slots=True)
class _Reader:
    analysis: Analysis
    writers: dict[str, list[int]]
    """Each key's writers (declaration indices) in canonical order."""
    opaque: list[int]
    input_reads: dict[str, bool] = field(default_factory=dict)
    """Without an input schema: keys that fall back to the flow inputs -> required."""
    masks: dict[str, int] = field(default_factory=dict)
    """Each key's writers as a bit set of canonical positions."""

    def __post_init__(self) -> None:
        position = self.analysis.position
        for key, indices in self.writers.items():
            mask = 0
            for w in indices:
                mask |= 1 << position[w]
            self.masks[key] = mask

    def ancestor_writers(self, s: int, key: str) -> tuple[int, ...]:
        """Ancestor writers of ``key`` for step ``s``, latest first, up to a sure one.

        Writers listed after one that always writes (see ``Analysis.always_writes``)
        could never be read, so they are left out: a chain of n writers of one key then
        gives n producers in all, not n^2 / 2.
        """
        analysis = self.analysis
        mask = analysis.earlier[s] & self.masks.get(key, 0)
        found: list[int] = []
        while mask:
            top = mask.bit_length() - 1
            w = analysis.order[top]
            found.append(w)
            if analysis.always_writes(w):
                break
            mask ^= 1 << top
        return tuple(found)

    def others(self, key: str, s: int, *, later: bool) -> tuple[list[int], bool]:
        """Up to ``_SHOWN`` writers of ``key`` other than ``s`` that are unordered with it
        (or, with ``later``, its descendants), in canonical order, and whether there are
        more."""
        analysis = self.analysis
        found: list[int] = []
        for w in self.writers.get(key, ()):
            if w != s and analysis.is_ancestor(s, w) == later:
                if len(found) == _SHOWN:
                    return found, True
                found.append(w)
        return found, False

    def producers(
        self,
        state: StepState,
        key: str,
        *,
        required: bool,
        explicit: bool,
        what: str,
        at: tuple[str | int, ...] = (),
    ) -> tuple[int, ...] | None:
        """Ancestor writers of ``key`` (latest first), ``()`` for a flow input, or ``None``.

        ``None`` means the read is not bound: an error was reported, or an optional
        implicit read has nothing to read (the target's default applies).
        """
        analysis = self.analysis
        s = state.index
        ancestors = self.ancestor_writers(s, key)
        if ancestors:
            analysis.reads.add(key)
            return ancestors
        unordered, more = self.others(key, s, later=False)
        if unordered:
            if required or explicit:
                plural = len(unordered) > 1
                analysis.report(
                    "DW201",
                    f"{what} reads key {key!r}, which only step{'s' if plural else ''} "
                    f"{_ids(analysis, unordered, more)} write{'' if plural else 's'}, and "
                    f"{'none is an ancestor' if plural else 'it is not an ancestor'} of this step",
                    step=state,
                    hint=f"add depends_on=[{_ids(analysis, unordered)}] to step "
                    f"{state.id!r} so it runs after the writer",
                    at=at,
                )
            return None
        # Nothing before this step writes the key: only the flow inputs can hold it.
        if analysis.input_fields is not None:
            if key in analysis.input_fields:
                analysis.reads.add(key)
                return ()
            opaque_before = any(analysis.is_ancestor(o, s) for o in self.opaque)
            if (required or explicit) and not opaque_before:
                later, more = self.others(key, s, later=True)
                also = (
                    f"; only later step(s) {_ids(analysis, later, more)} write it" if later else ""
                )
                schema = analysis.flow.input_schema
                assert schema is not None  # input_fields come from it
                analysis.report(
                    "DW203",
                    f"{what} reads key {key!r}, which no ancestor writes and "
                    f"{schema_label(schema, 'input_schema')} lacks{also}",
                    step=state,
                    hint=f"add {key!r} to {schema_name(schema, 'input_schema')}, or make a "
                    f"step that writes it a dependency of {state.id!r}",
                    at=at,
                )
            return None
        analysis.reads.add(key)
        self.input_reads[key] = self.input_reads.get(key, False) or required
        return ()

    def source(
        self,
        state: StepState,
        raw: str | Literal,
        *,
        required: bool,
        explicit: bool,
        what: str,
        at: tuple[str | int, ...] = (),
    ) -> SourceDraft | None:
        """Resolve one source (literal, JSON pointer or context key)."""
        if isinstance(raw, Literal):
            return SourceDraft(LITERAL, value=raw.value)
        if raw.startswith("/"):
            decoded = decode_pointer(raw)
            if decoded is None:
                self.analysis.report(
                    "DW208",
                    f"{what} uses the invalid JSON pointer {raw!r}",
                    step=state,
                    hint="a pointer is '/<key>/<token>...': the key must not be empty, "
                    "'~' is only valid as '~0' (for '~') or '~1' (for '/'), "
                    "and an array index is written with the ASCII digits 0-9",
                    at=at,
                )
                return None
            key, path = decoded
            found = self.producers(
                state, key, required=required, explicit=explicit, what=what, at=at
            )
            return None if found is None else SourceDraft(POINTER, key, path, producers=found)
        found = self.producers(state, raw, required=required, explicit=explicit, what=what, at=at)
        return None if found is None else SourceDraft(KEY, raw, producers=found)

    def fields(self, state: StepState) -> None:
        """Bind the target's input fields: mapped ones, then the rest by name."""
        step = state.step
        interface = state.interface
        item = step.item if isinstance(step, MapStep) else None
        where = f"tool {state.target!r}" if state.tool is not None else f"flow {state.target!r}"
        for name, raw in step.inputs.items():
            # An unresolved target has unknown fields: check the sources, not the types.
            spec: FieldSpec | None = (
                FieldSpec(name, ANY, False) if interface is None else interface.inputs.get(name)
            )
            if spec is None:
                known = ", ".join(interface.inputs) if interface else ""
                self.analysis.report(
                    "DW205",
                    f"inputs maps {name!r}, which is not an input field of {where} "
                    f"(its inputs: {known or 'none'})",
                    step=state,
                    hint="`inputs` maps target input fields to sources: {field: source}",
                    at=("inputs", name),
                )
                continue
            if name == item:
                self.analysis.report(
                    "DW207",
                    f"field {name!r} is the map item and is also mapped in inputs",
                    step=state,
                    hint=f"remove {name!r} from inputs: each item of `over` fills it",
                    at=("inputs", name),
                )
                continue
            what = f"field {name!r}"
            found = self.source(
                state, raw, required=spec.required, explicit=True, what=what, at=("inputs", name)
            )
            if found is not None:
                state.bindings.append(BindingDraft(name, found, spec.required, spec.schema))
        if interface is None:
            return
        if item is not None and item not in interface.inputs:
            self.analysis.report(
                "DW207",
                f"item {item!r} is not an input field of {where} "
                f"(its inputs: {', '.join(interface.inputs) or 'none'})",
                step=state,
                hint="`item` names the input field that receives each element of `over`",
                at=("item",),
            )
        for name, spec in interface.inputs.items():
            if name in step.inputs or name == item:
                continue
            found_at = self.producers(
                state, name, required=spec.required, explicit=False, what=f"field {name!r}"
            )
            if found_at is not None:
                source = SourceDraft(KEY, name, producers=found_at)
                state.bindings.append(BindingDraft(name, source, spec.required, spec.schema))
        self.fallback_inputs(state)

    def fallback_inputs(self, state: StepState) -> None:
        """The fallback is called with the step's bound inputs: it must need no other."""
        if state.fallback is None:
            return
        bound = {b.field for b in state.bindings}
        needed = tool_interface(state.fallback.spec).inputs
        missing = [name for name, spec in needed.items() if spec.required and name not in bound]
        if missing:
            self.analysis.report(
                "DW205",
                f"fallback tool {state.fallback.name!r} requires input field(s) "
                f"{', '.join(map(repr, missing))}, which the step does not bind",
                step=state,
                hint="the fallback receives the step's inputs: choose a fallback whose "
                "required fields the step's target also takes",
                at=("on_error",),
            )

    def when(self, state: StepState) -> None:
        """Compile ``when`` (DW110) and bind the names it reads."""
        text = state.step.when
        if text is None:
            return
        try:
            predicate = compile_predicate(text)
        except PredicateSyntaxError as exc:
            self.analysis.report(
                "DW110",
                f"`when` {text!r} is not a valid predicate: "
                f"{exc.message.removeprefix('invalid `when` predicate: ')} "
                f"(at offset {exc.offset})",
                step=state,
                hint=exc.hint or 'write a comparison such as "score > 0.5"',
                at=("when",),
            )
            return
        state.predicate = predicate
        for name in predicate.names:
            found = self.producers(
                state,
                name,
                required=True,
                explicit=True,
                what=f"`when` name {name!r}",
                at=("when",),
            )
            if found is not None:
                state.when_sources.append((name, SourceDraft(KEY, name, producers=found)))

    def over(self, state: StepState, step: MapStep) -> None:
        """Bind a map step's ``over`` (always required)."""
        state.over = self.source(
            state, step.over, required=True, explicit=True, what="`over`", at=("over",)
        )


def resolve_reads(analysis: Analysis) -> None:
    """Bind every read of every step and settle the flow's required and optional inputs."""
    flow = analysis.flow
    if flow.input_schema is not None:
        analysis.input_fields = flow_schema_fields(flow.input_schema)
    if flow.output_schema is not None:
        analysis.output_fields = flow_schema_fields(flow.output_schema)
    writers: dict[str, list[int]] = {}
    for state in analysis.in_order():
        for key in state.produces:
            writers.setdefault(key, []).append(state.index)
    reader = _Reader(analysis, writers, [s.index for s in analysis.steps if s.opaque])
    for state in analysis.in_order():
        reader.when(state)
        if isinstance(state.step, MapStep):
            reader.over(state, state.step)
        reader.fields(state)
    if analysis.input_fields is not None:
        fields = analysis.input_fields
        analysis.required_inputs = tuple(sorted(k for k, f in fields.items() if f.required))
        analysis.optional_inputs = tuple(sorted(k for k, f in fields.items() if not f.required))
    else:
        reads = reader.input_reads
        analysis.required_inputs = tuple(sorted(k for k, req in reads.items() if req))
        analysis.optional_inputs = tuple(sorted(k for k, req in reads.items() if not req))


def flow_inputs(analysis: Analysis) -> frozenset[str]:
    """Every key the flow inputs may hold (required and optional)."""
    return frozenset(analysis.required_inputs) | frozenset(analysis.optional_inputs)

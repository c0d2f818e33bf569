"""Turn a parsed flow file into a ``Flow`` or ``DAGFlow``, or a positioned ``FlowFileError``.

Every refusal names the offending key (or value) and points at it: a pydantic
validation error's ``loc`` and a ``FlowDefinitionError`` from the models are both
mapped back to a location in the file, then to its line and column.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from dagwright._source import Location, Position, SourceMap, attach_source
from dagwright.errors import FlowDefinitionError, FlowFileError
from dagwright.flows import AnyStep, DAGFlow, Flow, MapStep, RetryPolicy, Step
from dagwright.io._yaml_source import Parsed, clip

FORMAT_VERSION = 1
"""The flow-file format this dagwright reads and writes."""

KINDS: Mapping[str, type[Flow]] = {"dag": DAGFlow, "flow": Flow}
"""``kind:`` values and the flow class each one builds."""

TOP_KEYS = (
    "format_version",
    "kind",
    "name",
    "version",
    "description",
    "on_context_collision",
    "input_schema",
    "output_schema",
    "tools",
    "steps",
)
"""The keys of a flow file, in the order ``dump_flow`` writes them."""

SCHEMA_KEY = "$schema"
"""An optional top-level key naming the file's JSON Schema, for editors; never written."""

STEP_KEYS = tuple(Step.model_fields)
MAP_KEYS = tuple(MapStep.model_fields)
RETRY_KEYS = tuple(RetryPolicy.model_fields)
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
TOOL_PATH = f"^{_DOTTED}:{_DOTTED}$"
"""What a ``tools:`` entry is: ``package.module:attribute``."""

_STEP_NUMBERS = frozenset({"timeout_s", "max_concurrency"})
_RETRY_NUMBERS = frozenset({"max_attempts", "backoff_s", "multiplier", "max_backoff_s"})
_STEPS: TypeAdapter[Step | MapStep] = TypeAdapter(AnyStep)


class Builder:
    """Builds one flow from a parsed file, reporting problems at their position."""

    def __init__(self, parsed: Parsed, path: str | None) -> None:
        self.parsed = parsed
        self.path = path

    # ---- positions and messages ------------------------------------------------------

    def at(self, location: Location, *, value: bool = False) -> Position:
        """Position of ``location`` (its value's start with ``value=True``), or of the
        nearest enclosing part of the file."""
        table = self.parsed.values if value else self.parsed.positions
        for end in range(len(location), -1, -1):
            found = table.get(location[:end]) or self.parsed.positions.get(location[:end])
            if found is not None:
                return found
        return (1, 1)

    def error(
        self, message: str, location: Location, hint: str | None = None, *, value: bool = False
    ) -> FlowFileError:
        line, col = self.at(location, value=value)
        return FlowFileError(message, path=self.path, line=line, col=col, hint=hint)

    def where(self, location: Location) -> str:
        """Words for a location: ``"step 2 ('search')"``, ``"retry.max_attempts of step 2"``."""
        data = self.parsed.value
        if len(location) >= 2 and location[0] == "steps" and isinstance(location[1], int):
            index = location[1]
            step = data["steps"][index] if _has_step(data, index) else None
            name = step.get("id") if isinstance(step, dict) else None
            label = f"step {index + 1}" + (f" ({name!r})" if isinstance(name, str) else "")
            rest = location[2:]
            return f"{_dotted(rest)} of {label}" if rest else label
        return _dotted(location) if location else "the flow"

    # ---- the flow ----------------------------------------------------------------------

    def build(self) -> Flow:
        data = self.parsed.value
        if not isinstance(data, dict):
            raise self.error(
                f"a flow file holds a mapping of keys, not {_kind_of(data)}",
                (),
                "start the file with 'format_version: 1', 'kind: ...', 'name: ...'",
                value=True,
            )
        for key in data:
            if key not in TOP_KEYS and key != SCHEMA_KEY:
                raise self.unknown_key(key, (key,), TOP_KEYS, "the flow")
        if not isinstance(data.get(SCHEMA_KEY, ""), str):
            raise self.error(
                f"'{SCHEMA_KEY}' must be the URI of the flow-file schema, not "
                f"{_kind_of(data[SCHEMA_KEY])}",
                (SCHEMA_KEY,),
                "write it as text, or leave it out",
                value=True,
            )
        self.check_format(data)
        cls = self.check_kind(data)
        tools = self.check_tools(data["tools"]) if "tools" in data else {}
        if "name" not in data:
            raise self.error(
                "the flow has no 'name'", (), "add 'name: <flow name>' at the top level"
            )
        steps = data.get("steps")
        if "steps" not in data:
            raise self.error("the flow has no 'steps'", (), "add 'steps:' with a list of steps")
        if not isinstance(steps, list):
            raise self.error(
                f"'steps' must be a list of steps, not {_kind_of(steps)}",
                ("steps",),
                "write each step as a '- ' item under 'steps:'",
                value=True,
            )
        built = [self.step(index, raw) for index, raw in enumerate(steps)]
        fields = {k: v for k, v in data.items() if k in TOP_KEYS}
        for key in ("format_version", "kind", "tools"):
            fields.pop(key, None)
        fields["steps"] = built
        try:
            flow = cls.model_validate(fields)
        except ValidationError as exc:
            raise self.validation(exc, ()) from None
        except FlowDefinitionError as exc:
            raise self.definition(exc, cls, built) from None
        attach_source(flow, SourceMap(self.path, self.parsed.positions, tools))
        return flow

    def check_format(self, data: dict[str, Any]) -> None:
        if "format_version" not in data:
            raise self.error(
                "the file has no 'format_version'",
                (),
                f"add 'format_version: {FORMAT_VERSION}' as the first line",
            )
        version = data["format_version"]
        # 1.0 is 1 in JSON (and to JSON Schema); true is not.
        if isinstance(version, bool) or not isinstance(version, int | float) or version != 1:
            raise self.error(
                f"format_version {version!r} is not supported: this dagwright reads "
                f"format_version {FORMAT_VERSION}",
                ("format_version",),
                f"write 'format_version: {FORMAT_VERSION}', or upgrade dagwright for newer files",
                value=True,
            )

    def check_kind(self, data: dict[str, Any]) -> type[Flow]:
        if "kind" not in data:
            raise self.error(
                "the file has no 'kind'",
                (),
                "add 'kind: flow' (a linear flow) or 'kind: dag' (edges from depends_on)",
            )
        kind = data["kind"]
        if not isinstance(kind, str) or kind not in KINDS:
            raise self.error(
                f"kind {kind!r} is not a flow kind",
                ("kind",),
                f"{_suggest(kind, KINDS)}'kind' is 'flow' (linear) or 'dag'",
                value=True,
            )
        return KINDS[kind]

    def check_tools(self, tools: Any) -> dict[str, str]:
        import re

        if not isinstance(tools, dict):
            raise self.error(
                f"'tools' must map tool names to import paths, not {_kind_of(tools)}",
                ("tools",),
                "write 'tools:' then lines such as 'search: myapp.tools:search'",
                value=True,
            )
        for name, target in tools.items():
            if not isinstance(target, str) or not re.match(TOOL_PATH, target):
                raise self.error(
                    f"tools entry {name!r} must be an import path 'module:attribute', "
                    f"not {target!r}",
                    ("tools", name),
                    "write it as 'package.module:attribute', such as 'myapp.tools:search'",
                    value=True,
                )
        return dict(tools)

    # ---- steps -------------------------------------------------------------------------

    def step(self, index: int, raw: Any) -> Step | MapStep:
        location: Location = ("steps", index)
        if not isinstance(raw, dict):
            raise self.error(
                f"step {index + 1} must be a mapping of keys, not {_kind_of(raw)}",
                location,
                "write a step as keys such as 'id: ...' and 'tool: ...'",
            )
        self.numbers(location, raw, _STEP_NUMBERS)
        inputs = raw.get("inputs")
        for name, source in inputs.items() if isinstance(inputs, dict) else ():
            if isinstance(source, dict) and source.keys() != {"literal"}:
                # The model would read {} or {value: v} as a literal too; files spell it one way.
                raise self.error(
                    f"{self.where((*location, 'inputs', name))} must be a context key (text) "
                    "or {literal: value}",
                    (*location, "inputs", name),
                    "a constant is written with the one key 'literal', as {literal: 5}",
                    value=True,
                )
        retry = raw.get("retry")
        if isinstance(retry, dict):
            self.numbers((*location, "retry"), retry, _RETRY_NUMBERS)
        try:
            return _STEPS.validate_python(raw)
        except ValidationError as exc:
            raise self.validation(exc, location, tagged=True) from None
        except FlowDefinitionError as exc:
            raise self.step_definition(exc, index, raw) from None

    def numbers(self, location: Location, raw: dict[str, Any], names: frozenset[str]) -> None:
        """Refuse text and booleans where a number belongs (pydantic would convert them)."""
        for name in names & raw.keys():
            value = raw[name]
            if isinstance(value, str | bool):
                raise self.error(
                    f"{self.where((*location, name))} must be a number, not {_kind_of(value)}",
                    (*location, name),
                    "write the number without quotes",
                    value=True,
                )

    def step_definition(
        self, exc: FlowDefinitionError, index: int, raw: dict[str, Any]
    ) -> FlowFileError:
        """Find which key of a step raised ``exc``, by validating each key on its own."""
        location: Location = ("steps", index)
        base: dict[str, Any] = {"over": "x", "item": "x", "results": "x"} if "over" in raw else {}
        for key, value in raw.items():
            parts: list[tuple[Location, Any]] = [((key,), value)]
            if isinstance(value, dict) and key in ("inputs", "retry"):
                parts = [((key, sub), {sub: item}) for sub, item in value.items()]
            for part, piece in parts:
                try:
                    _STEPS.validate_python({**base, key: piece})
                except FlowDefinitionError as found:
                    where = (*part, "literal") if len(part) > 1 and key == "inputs" else part
                    return self.error(
                        f"{self.where((*location, *where))}: {found.message}",
                        (*location, *where),
                        found.hint,
                        value=True,
                    )
                except ValidationError:
                    pass
        return self.error(f"{self.where(location)}: {exc.message}", location, exc.hint)

    def definition(
        self, exc: FlowDefinitionError, cls: type[Flow], steps: list[Step | MapStep]
    ) -> FlowFileError:
        """A flow-level ``FlowDefinitionError``: find the schema or step that causes it."""
        data = self.parsed.value
        for key in ("input_schema", "output_schema"):
            if key in data:
                try:
                    cls(name="probe", steps=[], **{key: data[key]})
                except FlowDefinitionError as found:
                    where = self.schema_location(key, found.message)
                    return self.error(found.message, where, found.hint, value=True)
        for index, step in enumerate(steps):
            try:
                cls(name="probe", steps=[step])
            except FlowDefinitionError as found:
                key = "tool" if step.tool is not None else "flow"
                return self.error(
                    found.message,
                    ("steps", index, key),
                    found.hint,
                    value=True,
                )
        return self.error(exc.message, (), exc.hint)

    def schema_location(self, key: str, message: str) -> Location:
        """The place inside a schema that a schema check's message names (``at 'a/b'``)."""
        import re

        match = re.search(r" at '([^']*)'", message)
        location: Location = (key,)
        current = self.parsed.value[key]
        for token in match.group(1).split("/") if match else ():
            part: str | int = int(token) if isinstance(current, list) and token.isdigit() else token
            try:
                current = current[part]
            except (KeyError, IndexError, TypeError):
                break
            location = (*location, part)
        return location

    # ---- pydantic errors ---------------------------------------------------------------

    def validation(
        self, exc: ValidationError, base: Location, *, tagged: bool = False
    ) -> FlowFileError:
        """The earliest (in the file) of a validation error's problems, as a FlowFileError."""
        found = []
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            if tagged and loc:
                loc = loc[1:]  # the step-kind tag of the discriminated union
            location = (*base, *self.data_path(base, loc))
            found.append((self.at(location), location, loc, error))
        found.sort(key=lambda item: item[0])
        _, location, loc, error = found[0]
        return self.describe(location, loc, error)

    def data_path(self, base: Location, loc: tuple[Any, ...]) -> Location:
        """The part of a pydantic ``loc`` that names keys and items of the file's data.

        Union member and tag labels pydantic adds are dropped; a missing key's name is
        kept last so that the message can name it (its position is its parent's).
        """
        current: Any = self.parsed.value
        for part in base:
            current = current[part]
        path: list[str | int] = []
        for part in loc:
            in_list = isinstance(current, list) and isinstance(part, int) and part < len(current)
            if in_list or (isinstance(current, dict) and part in current):
                path.append(part)
                current = current[part]
        return tuple(path)

    def describe(
        self, location: Location, loc: tuple[Any, ...], error: Mapping[str, Any]
    ) -> FlowFileError:
        kind = error["type"]
        owner = location[:-1] if location else ()
        last = loc[-1] if loc else None
        if len(location) == 4 and location[0] == "steps" and location[2] == "inputs":
            return self.error(
                f"{self.where(location)} must be a context key (text) or {{literal: value}}",
                location,
                "write a key or JSON pointer such as 'question' or '/doc/title', or a "
                "constant as {literal: 5}",
                value=True,
            )
        if kind == "extra_forbidden" and location and location[-1] == last:
            allowed = _allowed(location)
            if allowed is STEP_KEYS and _is_map(self.value(owner)):
                allowed = MAP_KEYS
            return self.unknown_key(str(last), location, allowed, self.where(owner))
        if kind == "missing":
            what = self.where(location)
            step_kind = "map step" if _is_map(self.value(location)) else "step"
            if what.startswith("step"):
                what = step_kind + what[4:]
            return self.error(
                f"{what} is missing the required key {last!r}",
                location,
                f"add '{last}: ...' to it",
            )
        value = self.value(location)
        return self.error(
            f"{self.where(location)} is invalid: {error['msg'][0].lower()}{error['msg'][1:]}"
            f" (got {_kind_of(value)})",
            location,
            _type_hint(location),
            value=True,
        )

    def value(self, location: Location) -> Any:
        current: Any = self.parsed.value
        for part in location:
            try:
                current = current[part]
            except (KeyError, IndexError, TypeError):
                return None
        return current

    def unknown_key(
        self, key: str, location: Location, allowed: tuple[str, ...], owner: str
    ) -> FlowFileError:
        hint = _suggest(key, allowed)
        if not hint and len(location) == 3 and location[0] == "steps":
            if key in MAP_KEYS:
                hint = f"'{key}' belongs to map steps: a step with 'over' is a map step; "
            elif key in STEP_KEYS:
                hint = f"'{key}' belongs to plain steps, not map steps (a step with 'over'); "
        return self.error(
            f"{owner} has an unknown key {clip(key)}",
            location,
            f"{hint}the keys here are: {', '.join(allowed)}",
        )


def _allowed(location: Location) -> tuple[str, ...]:
    if len(location) == 3 and location[0] == "steps":
        return STEP_KEYS  # the step's own keys are decided by the caller's message
    if len(location) == 4 and location[0] == "steps" and location[2] == "retry":
        return RETRY_KEYS
    if len(location) >= 4 and location[0] == "steps" and location[2] == "inputs":
        return ("literal",)
    return TOP_KEYS


def _is_map(step: Any) -> bool:
    return isinstance(step, dict) and "over" in step


def _has_step(data: Any, index: int) -> bool:
    steps = data.get("steps") if isinstance(data, dict) else None
    return isinstance(steps, list) and 0 <= index < len(steps)


def _dotted(location: Location) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return f"'{text}'"


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {clip(value, 40)}"
    if isinstance(value, int | float):
        return (
            f"the number {value!r}" if isinstance(value, float) else f"the number {_digits(value)}"
        )
    return type(value).__name__


def _digits(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # more digits than Python writes
        return "(too long to show)"


def _suggest(word: Any, choices: Any) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


_SCHEMA_HINT = "a schema is a JSON Schema object, such as {type: object, properties: ...}"


def _type_hint(location: Location) -> str:
    name = location[-1] if location else ""
    hints = {
        "version": 'versions are text: quote numbers, as in version: "2"',
        "name": "a name is text",
        "depends_on": "depends_on is a list of step ids, such as [search, fetch]",
        "max_concurrency": "max_concurrency is an integer >= 1",
        "timeout_s": "timeout_s is a number of seconds > 0",
        "on_error": "on_error is 'fail', 'skip' or 'fallback:<tool>'",
        "error_policy": "error_policy is 'fail_fast' or 'collect'",
        "on_interrupted": "on_interrupted is 'fail' or 'retry'",
        "on_context_collision": "on_context_collision is 'overwrite', 'warn' or 'error'",
        "outputs": "outputs maps context keys to output fields: {key: field}",
        "inputs": "inputs maps input fields to sources: {field: key} or {field: {literal: v}}",
        "input_schema": _SCHEMA_HINT,
        "output_schema": _SCHEMA_HINT,
    }
    return (
        hints.get(name, "see docs/flow-files.md for the keys and their types")
        if isinstance(name, str)
        else "see docs/flow-files.md for the keys and their types"
    )

"""Flow definitions: steps, map steps, linear flows and DAG flows.

These are frozen pydantic models: plain descriptions with no behaviour. Whether a flow
makes sense (ids unique, dependencies known, data available to every step...) is the
compiler's job, so that every problem is reported at once with a stable code rather
than one at a time as a construction error. Construction only rejects what is not
even the right shape (a wrong type, an unknown field, a malformed ``on_error``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Annotated, Any, ClassVar, Union
from typing import Literal as TypingLiteral

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from dagwright._execution.canonical import NotJSONError, check_json, digest
from dagwright._json_schema import FlowSchema, JSONSchema, as_flow_schema, schema_json
from dagwright._models import FrozenModel
from dagwright._versions import REFERENCE_HINT, reference_name, reference_problem
from dagwright.errors import FlowDefinitionError

__all__ = [
    "STEP_ID",
    "AnyStep",
    "CollisionPolicy",
    "DAGFlow",
    "ErrorPolicy",
    "Flow",
    "FlowSchema",
    "InputSource",
    "JSONSchema",
    "Literal",
    "MapStep",
    "OnError",
    "RetryPolicy",
    "Step",
    "Timeout",
]

STEP_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
"""What a step id is: it names the step in records, journals, events and paths."""

_ID_HINT = "a step id is letters, digits, '_', '.' and '-', not starting with '.' or '-'"


def _check_id(value: str, what: str, hint: str = _ID_HINT) -> str:
    if not STEP_ID.fullmatch(value):
        raise FlowDefinitionError(f"{what} {value!r} is not a valid step id", hint=hint)
    return value


OnError = Annotated[str, Field(pattern=r"^(fail|skip|fallback:[A-Za-z_][A-Za-z0-9_.\-]*)$")]
CollisionPolicy = TypingLiteral["overwrite", "warn", "error"]
ErrorPolicy = TypingLiteral["fail_fast", "collect"]
OnInterrupted = TypingLiteral["fail", "retry"]


class Literal(BaseModel):
    """A constant input value, as opposed to a context key: ``Literal(3)``.

    Written ``{literal: value}`` in flow files (and serialised that way). The value is a
    JSON value, fixed at definition: tuples become lists (``Literal((1, 2))`` equals
    ``Literal([1, 2])``), and anything with no exact JSON form (NaN, infinity, a set, a
    non-string key...) is a ``FlowDefinitionError``, so two flows have equal definition
    digests exactly when their literals mean the same.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    value: Any

    def __init__(self, value: Any = None, /, **data: Any) -> None:
        if "value" not in data:
            data["value"] = value
        super().__init__(**data)

    @model_validator(mode="before")
    @classmethod
    def _from_file_form(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and set(data) == {"literal"}:
            return {"value": data["literal"]}
        return data

    @field_validator("value")
    @classmethod
    def _json_value(cls, value: Any) -> Any:
        try:
            value = _lists(value)
            check_json(value)
        except (NotJSONError, RecursionError) as exc:
            raise FlowDefinitionError(
                f"a Literal's value is not a JSON value: {exc or 'it contains itself'}",
                hint="a literal holds null, true/false, finite numbers, text, lists and "
                "str-keyed dicts; NaN and infinity have no JSON form",
            ) from None
        return value

    @model_serializer
    def _to_file_form(self) -> dict[str, Any]:
        return {"literal": self.value}


def _lists(value: Any) -> Any:
    """``value`` with every tuple made a list, at any depth (nothing else changes)."""
    if isinstance(value, tuple | list):
        return [_lists(item) for item in value]
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    return value


def _inputs_from_file_form(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            field: Literal(source["literal"])
            if isinstance(source, Mapping) and set(source) == {"literal"}
            else source
            for field, source in value.items()
        }
    return value


InputSource = str | Literal
"""A context key (``"n"``), a JSON pointer into the context (``"/doc/title"``) or a literal."""


class RetryPolicy(BaseModel):
    """How a failing tool call is retried.

    ``max_attempts`` counts every call, the first included. The delay before attempt
    ``k`` (numbered from 0) is ``min(backoff_s * multiplier ** (k - 1), max_backoff_s)``,
    ``max_backoff_s`` when the power is too large for a float. Settings are finite,
    ``max_backoff_s`` at most ``MAX_DELAY_S`` (``FlowDefinitionError`` otherwise).
    Only exceptions whose class, or a base class, is named in ``retry_on`` are retried
    (by ``__name__`` or fully qualified name). There is no jitter: runs stay reproducible.
    """

    MAX_DELAY_S: ClassVar[float] = 1e9
    """The longest retry delay a policy may ask for, in seconds (about 31 years)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    max_attempts: int = Field(default=3, ge=1)
    backoff_s: float = Field(default=0.0, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    max_backoff_s: float = Field(default=30.0, ge=0)
    retry_on: tuple[str, ...] = ("Exception",)

    @model_validator(mode="before")
    @classmethod
    def _coded_limits(cls, data: Any) -> Any:
        # Before pydantic's own bounds, which would raise an uncoded ValidationError;
        # FlowDefinitionError is no ValueError, so pydantic lets it through as it is.
        if not isinstance(data, Mapping):
            return data
        lowest = {"max_attempts": 1, "backoff_s": 0, "multiplier": 1, "max_backoff_s": 0}
        for name, low in lowest.items():
            value = data.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue  # absent, or the wrong type: pydantic reports that
            if not math.isfinite(value) or value < low:
                raise FlowDefinitionError(
                    f"RetryPolicy {name}={value!r} is invalid: it must be a finite number >= {low}",
                    hint="give every retry setting a finite value; cap delays with max_backoff_s",
                )
        # time.sleep and thread waits overflow well before a float does (~9.2e9 s).
        cap = data.get("max_backoff_s")
        if isinstance(cap, int | float) and cap > cls.MAX_DELAY_S:
            raise FlowDefinitionError(
                f"RetryPolicy max_backoff_s={cap!r} is invalid: it must be at most "
                f"{cls.MAX_DELAY_S:g} seconds",
                hint="a retry delay longer than that cannot be slept; lower max_backoff_s",
            )
        return data

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (0 for the first)."""
        if attempt <= 0 or self.backoff_s == 0:
            return 0.0
        try:
            delay = self.backoff_s * self.multiplier ** (attempt - 1)
        except OverflowError:  # float ** raises where float * would give inf
            return float(self.max_backoff_s)
        return float(min(delay, self.max_backoff_s))


def _coded_timeout(value: Any) -> Any:
    # Runs before pydantic's bound (an uncoded ValidationError); an infinite timeout
    # would otherwise pass it and fail later, uncoded, where the definition is digested.
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and (not math.isfinite(value) or value <= 0):
        raise FlowDefinitionError(
            f"timeout_s={value!r} is invalid: it must be a finite number of seconds > 0",
            hint="leave timeout_s out (None) for no timeout",
        )
    return value


Timeout = Annotated[float | None, BeforeValidator(_coded_timeout)]


class _StepBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: str | None = None
    tool: str | None = None
    flow: str | None = None
    inputs: dict[str, InputSource] = Field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    when: str | None = None
    retry: RetryPolicy | None = None
    timeout_s: Timeout = Field(default=None, gt=0)
    on_interrupted: OnInterrupted = "fail"
    """What a resume does with a call of an ``idempotent=False`` tool that an earlier
    session made without recording its result: ``"fail"`` (the step fails with
    ``StepInterruptedError``; ``on_error`` applies) or ``"retry"`` (the call is made
    again, with the same ``current_call().idempotency_key``)."""

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs_file_form(cls, value: Any) -> Any:
        return _inputs_from_file_form(value)

    @field_validator("depends_on", mode="before")
    @classmethod
    def _one_dependency(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str | None) -> str | None:
        return value if value is None else _check_id(value, "step id")

    @field_validator("flow")
    @classmethod
    def _valid_reference(cls, value: str | None) -> str | None:
        # "enrich" or "enrich@2": a malformed reference could never resolve, whatever
        # the registry holds, so it is refused here rather than at compile time.
        problem = None if value is None else reference_problem(value)
        if problem is not None:
            raise FlowDefinitionError(problem, hint=REFERENCE_HINT)
        return value

    @property
    def target(self) -> str | None:
        """The tool name, or the sub-flow's name without its ``@version`` pin, that this
        step calls (``None`` when neither is set): what a linear flow's default step id
        is made from."""
        if self.tool is not None:
            return self.tool
        return None if self.flow is None else reference_name(self.flow)


class Step(_StepBase):
    """One call of a tool (``tool=``) or of a registered sub-flow (``flow=``).

    ``flow`` is a flow reference: ``"enrich"`` calls the latest active version of
    ``enrich`` registered when the flow is compiled, ``"enrich@2"`` pins version 2
    (a PEP 440 version; anything else is a ``FlowDefinitionError``).

    ``inputs`` maps tool input fields to sources; a field not mapped is read from the
    context key of the same name. ``outputs`` maps context keys to output fields (to
    rename or keep only some); by default every output field is written under its name.
    ``on_error`` is ``"fail"``, ``"skip"`` or ``"fallback:<tool>"``.
    """

    kind: ClassVar[str] = "step"

    outputs: dict[str, str] | None = None
    on_error: OnError = "fail"


class MapStep(_StepBase):
    """Fan-out: run a tool or sub-flow once per item of the list ``over``.

    ``flow`` is a flow reference, as for :class:`Step`. ``item`` names the input field
    receiving the item; ``results`` is the context key of the list of per-item outputs
    (item order); under ``error_policy="collect"``, ``errors`` receives the error records
    of failed items in index order.
    """

    kind: ClassVar[str] = "map"

    over: str
    item: str
    results: str
    errors: str | None = None
    max_concurrency: int = 8
    error_policy: ErrorPolicy = "fail_fast"


def _step_kind(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "map" if isinstance(value, MapStep) else "step"
    return "map" if isinstance(value, Mapping) and "over" in value else "step"


AnyStep = Annotated[
    Union[Annotated[Step, Tag("step")], Annotated[MapStep, Tag("map")]],  # noqa: UP007
    Discriminator(_step_kind),
]


class Flow(FrozenModel):
    """A linear flow: each step depends on the one before it.

    Step ids default to the tool (or sub-flow) name, without a sub-flow's ``@version``
    pin, suffixed ``-2``, ``-3``... when a name repeats. With ``input_schema``, run
    inputs are validated against it; without one, every key read and never written is a
    required input. ``output_schema`` names what the flow returns when used as a
    sub-flow. ``version`` is text; to be registered it must be a PEP 440 version.

    Either schema is a pydantic model class or a JSON Schema object (a mapping, as flow
    files give it): a mapping is copied and checked at construction (JSON values, a
    valid draft 2020-12 schema, ``type: object``; else ``FlowDefinitionError``) and held
    as an immutable :class:`JSONSchema`. Both forms behave alike everywhere; a model and
    its ``model_json_schema()`` give the same definition digest.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", arbitrary_types_allowed=True, defer_build=True
    )

    linear: ClassVar[bool] = True

    # Where the flow was read from (``dagwright._source.SourceSlot``), outside the fields:
    # it compares equal to any other, so equality, hash and digest ignore it.
    _source: Any = PrivateAttr(default=None)

    name: str = Field(min_length=1)
    steps: tuple[AnyStep, ...]
    version: str = "1"
    description: str = ""
    on_context_collision: CollisionPolicy = "warn"
    input_schema: FlowSchema | None = None
    output_schema: FlowSchema | None = None

    def __init__(
        self, name: str | None = None, steps: Sequence[Any] | None = None, /, **data: Any
    ) -> None:
        if name is not None:
            data["name"] = name
        if steps is not None:
            data["steps"] = steps
        super().__init__(**data)

    @field_validator("input_schema", "output_schema", mode="before")
    @classmethod
    def _schema_form(cls, value: Any, info: ValidationInfo) -> Any:
        return as_flow_schema(value, str(info.field_name))

    @property
    def input_json_schema(self) -> dict[str, Any] | None:
        """The ``input_schema`` as JSON Schema (a fresh dict), whichever form it has."""
        return schema_json(self.input_schema)

    @property
    def output_json_schema(self) -> dict[str, Any] | None:
        """The ``output_schema`` as JSON Schema (a fresh dict), whichever form it has."""
        return schema_json(self.output_schema)

    @model_validator(mode="after")
    def _default_ids_are_ids(self) -> Flow:
        # A default id is the target's name (plus "-2", "-3"... which keep it valid);
        # tool names always are ids, but a sub-flow's name need not be.
        if self.linear:
            for number, step in enumerate(self.steps, 1):
                if step.id is None and step.target is not None:
                    _check_id(
                        step.target,
                        f"step {number} has no id, and its default, the name",
                        f"give the step an explicit id; {_ID_HINT}",
                    )
        return self

    def definition(self) -> dict[str, Any]:
        """The flow as plain JSON data (schemas as JSON Schema), the input of its digest."""
        return {
            "kind": "linear" if self.linear else "dag",
            "name": self.name,
            "version": self.version,
            "on_context_collision": self.on_context_collision,
            "steps": [
                {"kind": s.kind, **s.model_dump(mode="json", exclude_defaults=True)}
                for s in self.steps
            ],
            "input_schema": self.input_json_schema,
            "output_schema": self.output_json_schema,
        }

    @cached_property
    def definition_digest(self) -> str:
        """sha256 of the canonical JSON of :meth:`definition` (descriptions excluded)."""
        return digest(self.definition())

    def __hash__(self) -> int:
        return hash(self.definition_digest)


class DAGFlow(Flow):
    """A flow whose edges come only from ``depends_on``; every step needs a unique ``id``."""

    linear: ClassVar[bool] = False

    def __init__(
        self, name: str | None = None, steps: Sequence[Any] | None = None, /, **data: Any
    ) -> None:
        super().__init__(name, steps, **data)

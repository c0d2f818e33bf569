"""Run inputs: validated against the flow, converted to JSON-mode values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from dagwright._execution.merge import input_collisions
from dagwright._logging import get_logger
from dagwright.compiler import CompiledFlow
from dagwright.errors import FlowInputError

_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})

RunInputs = Mapping[str, Any] | BaseModel | None
"""What a run accepts as inputs: a mapping, a pydantic model, or nothing."""


def prepare_inputs(compiled: CompiledFlow, inputs: RunInputs) -> dict[str, Any]:
    """A run's validated, JSON-mode inputs (``FlowInputError`` when they do not fit)."""
    plan = compiled.plan
    given: Mapping[str, Any]
    if type(inputs) is dict:  # the common case, before the slower ABC checks
        given = inputs
    elif inputs is None:
        given = {}
    elif isinstance(inputs, BaseModel):
        given = inputs.model_dump(mode="json")
    elif isinstance(inputs, Mapping):
        given = inputs
    else:
        raise FlowInputError(
            f"inputs of flow {plan.flow_name!r} must be a mapping or a pydantic model, "
            f"got {type(inputs).__name__}"
        )
    if plan.input_schema is not None:
        try:
            data = plan.input_schema.model_validate(given).model_dump(mode="json")
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            missing = [".".join(map(str, e["loc"])) for e in errors if e["type"] == "missing"]
            raise FlowInputError(
                f"inputs of flow {plan.flow_name!r} do not match "
                f"{plan.input_schema.__name__}: {exc.error_count()} error(s): "
                + "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in errors
                ),
                missing=missing,
                errors=errors,
            ) from exc
    else:
        absent = [key for key in plan.required_inputs if key not in given]
        if absent:
            raise FlowInputError(
                f"flow {plan.flow_name!r} is missing required input(s): "
                + ", ".join(map(repr, absent)),
                missing=absent,
                hint="pass them in `inputs`; CompiledFlow.required_inputs lists them all",
            )
        try:
            data = (
                dict(given)
                if all(type(v) in _JSON_SCALARS for v in given.values())
                else to_jsonable_python(dict(given))
            )
        except PydanticSerializationError as exc:
            raise FlowInputError(
                f"inputs of flow {plan.flow_name!r} are not JSON-serialisable: {exc}",
                hint="runs hold JSON data; convert objects to dicts, lists and scalars",
            ) from exc
    # Declared inputs that steps overwrite were ordered (and judged) by the compiler;
    # only extra keys the caller passed can collide unseen.
    clashes = input_collisions(
        data, plan.written_keys, plan.collision_policy, declared=compiled.declared_inputs
    )
    if clashes and plan.collision_policy == "warn":
        get_logger().warning("input_overwritten", flow=plan.flow_name, keys=list(clashes))
    return data

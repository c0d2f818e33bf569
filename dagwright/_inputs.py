"""Run inputs: validated against the flow, converted to JSON-mode values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from dagwright._execution.canonical import (
    NotJSONError,
    check_json,
    flat_json,
    json_form,
    model_json,
)
from dagwright._execution.merge import input_collisions
from dagwright._json_schema import JSONSchema
from dagwright._logging import get_logger
from dagwright._schema_inputs import check_inputs
from dagwright.compiler import CompiledFlow
from dagwright.errors import FlowInputError

_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def _json(flow: str, given: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    """The JSON value of ``given``, or ``FlowInputError`` when it has no exact one."""
    try:
        if type(given) is not dict and isinstance(given, BaseModel):
            return model_json(given)
        data = dict(given)
        if flat_json(data):
            return data
        if not all(type(v) in _JSON_SCALARS for v in data.values()):
            try:
                converted = to_jsonable_python(data)
            except (ValueError, TypeError, RecursionError) as exc:
                raise NotJSONError(f"pydantic could not write it as JSON: {exc}") from exc
            data = json_form(data, converted)
        check_json(data)
    except NotJSONError as exc:
        raise FlowInputError(
            f"inputs of flow {flow!r} have no exact JSON form: {exc}",
            hint="runs hold JSON values: finite numbers, str-keyed dicts, valid text",
        ) from exc
    return data


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
        given = _json(plan.flow_name, inputs)
    elif isinstance(inputs, Mapping):
        given = inputs
    else:
        raise FlowInputError(
            f"inputs of flow {plan.flow_name!r} must be a mapping or a pydantic model, "
            f"got {type(inputs).__name__}"
        )
    schema = plan.input_schema
    if schema is not None and not isinstance(schema, type):
        document = schema if isinstance(schema, JSONSchema) else JSONSchema(schema)
        data = check_inputs(plan.flow_name, document, _json(plan.flow_name, given))
    elif schema is not None:
        try:
            model = schema.model_validate(given)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            missing = [".".join(map(str, e["loc"])) for e in errors if e["type"] == "missing"]
            raise FlowInputError(
                f"inputs of flow {plan.flow_name!r} do not match "
                f"{schema.__name__}: {exc.error_count()} error(s): "
                + "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in errors
                ),
                missing=missing,
                errors=errors,
            ) from exc
        data = _json(plan.flow_name, model)
    else:
        absent = [key for key in plan.required_inputs if key not in given]
        if absent:
            raise FlowInputError(
                f"flow {plan.flow_name!r} is missing required input(s): "
                + ", ".join(map(repr, absent)),
                missing=absent,
                hint="pass them in `inputs`; CompiledFlow.required_inputs lists them all",
            )
        data = _json(plan.flow_name, given)
    # Declared inputs that steps overwrite were ordered (and judged) by the compiler;
    # only extra keys the caller passed can collide unseen.
    clashes = input_collisions(
        data, plan.written_keys, plan.collision_policy, declared=compiled.declared_inputs
    )
    if clashes and plan.collision_policy == "warn":
        get_logger().warning("input_overwritten", flow=plan.flow_name, keys=list(clashes))
    return data

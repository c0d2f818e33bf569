"""A flow as an OpenAI Agents SDK tool (extra ``openai-agents``).

``flow_tool(executor, flow)`` returns an ``agents.FunctionTool``: the flow's name, its
description, ``params_json_schema`` = the flow's input JSON Schema, and an async
``on_invoke_tool(ctx, args_json)`` that runs the flow on the async lane
(``executor.arun``) with a fresh run id, journaled when the executor has a checkpointer.
It returns the flow's outputs as JSON text (the SDK would send any other value through
``str()``, or read a dict with a ``type`` key as rich content).

Strict schemas: the SDK's strict mode (the default of its own tools) demands that every
object closes its properties (``additionalProperties: false``) and lists them all in
``required``; converting a schema that does not changes what it accepts (optional inputs
become required). So by default (``strict=None``) the tool is strict only when the flow's
schema already is a strict schema (the SDK's ``ensure_strict_json_schema`` leaves it
unchanged), as a flow file with a closed ``input_schema`` whose inputs are all required
gives; ``strict=True`` converts it anyway (the SDK raises ``UserError`` when it cannot),
``strict=False`` never does.

A call that does not succeed returns, as the SDK's own tools do, a text the model reads
(raising would fail the whole agent run): for arguments that are not a JSON object, that
break the schema or that the flow rejects, ``invalid arguments ...`` with the error's
code; for a failed run, the failing step, the error's code, type and message and the run
id.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from dagwright import Flow, FlowExecutor
from dagwright.integrations._extras import unavailable
from dagwright.integrations._flow_call import FlowCall

try:
    from agents import FunctionTool, RunContextWrapper
    from agents.strict_schema import ensure_strict_json_schema
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise unavailable(__name__, "the OpenAI Agents SDK", "openai-agents") from exc

__all__ = ["flow_tool", "is_strict_schema"]


def flow_tool(
    executor: FlowExecutor,
    flow_or_name: Flow | str,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool | None = None,
) -> FunctionTool:
    """An ``agents.FunctionTool`` that runs ``flow_or_name`` on ``executor``.

    The tool is named after the flow (``name`` overrides), described by its description
    (``description`` overrides), and takes the flow's input JSON Schema; ``strict`` as
    the module docstring says. A name is resolved, and the flow compiled, now:
    ``FlowNotFoundError`` or ``FlowCompileError`` raise here.
    """
    call = FlowCall(executor, flow_or_name, name=name, description=description)
    schema = call.parameters()

    async def invoke(ctx: RunContextWrapper[Any], args_json: str) -> str:
        try:
            arguments = json.loads(args_json) if args_json.strip() else {}
        except json.JSONDecodeError as exc:
            return f"invalid arguments for {call.name!r}: not JSON ({exc})"
        if not isinstance(arguments, dict):
            return f"invalid arguments for {call.name!r}: expected a JSON object"
        outcome = await call.arun(arguments)
        if outcome.outputs is None:
            assert outcome.message is not None
            return outcome.message
        return outcome.outputs_json()

    return FunctionTool(
        name=call.name,
        description=call.description,
        params_json_schema=schema,
        on_invoke_tool=invoke,
        strict_json_schema=is_strict_schema(schema) if strict is None else strict,
    )


def is_strict_schema(schema: dict[str, Any]) -> bool:
    """Whether ``schema`` already is a strict JSON schema for the SDK: its strict
    conversion leaves it unchanged (so strict mode accepts exactly what it accepts)."""
    try:
        converted = ensure_strict_json_schema(copy.deepcopy(schema))
    except Exception:  # the SDK raises UserError, TypeError...: not convertible as is
        return False
    return converted == schema

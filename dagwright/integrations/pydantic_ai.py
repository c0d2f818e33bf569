"""A flow as a pydantic-ai tool (extra ``pydantic-ai``).

``flow_tool(executor, flow)`` returns a ``pydantic_ai.Tool`` built with
``Tool.from_schema``: the flow's name, its description and its input JSON Schema. An
agent's call runs the flow on the async lane (``executor.arun``, also under
``agent.run_sync``) with a fresh run id, journaled when the executor has a checkpointer,
and returns the flow's outputs (a dict, which pydantic-ai sends to the model as JSON).

What the model sees when a call does not succeed:

* arguments that break the tool's schema or that the flow rejects (nothing ran):
  ``ModelRetry``, a retry prompt with the error, counted against the tool's retries;
* a run that failed: ``ToolFailed``, a failed tool result (``outcome='failed'``) with the
  failing step, the error's code, type and message and the run id. A flow is
  deterministic over its inputs, so calling it again with the same arguments would fail
  again: it is a terminal failure for the model to adapt to, not a retry prompt.
"""

from __future__ import annotations

from typing import Any

from dagwright import Flow, FlowExecutor
from dagwright.integrations._extras import unavailable
from dagwright.integrations._flow_call import FlowCall

try:
    from pydantic_ai import ModelRetry, Tool, ToolFailed
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise unavailable(__name__, "pydantic-ai", "pydantic-ai") from exc

__all__ = ["flow_tool"]


def flow_tool(
    executor: FlowExecutor,
    flow_or_name: Flow | str,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Tool[Any]:
    """A ``pydantic_ai.Tool`` that runs ``flow_or_name`` on ``executor``.

    The tool is named after the flow (``name`` overrides), described by its description
    (``description`` overrides) and takes the flow's input JSON Schema. A name is
    resolved, and the flow compiled, now: ``FlowNotFoundError`` or ``FlowCompileError``
    raise here. Calling it returns the flow's outputs; see the module docstring for
    failures.
    """
    call = FlowCall(executor, flow_or_name, name=name, description=description)

    async def run_flow(**arguments: Any) -> dict[str, Any]:
        outcome = await call.arun(arguments)
        if outcome.outputs is not None:
            return outcome.outputs
        assert outcome.message is not None
        if outcome.retry:
            raise ModelRetry(outcome.message)
        raise ToolFailed(outcome.message)

    run_flow.__name__ = call.name
    run_flow.__doc__ = call.description
    return Tool.from_schema(
        run_flow,
        name=call.name,
        description=call.description,
        json_schema=call.parameters(),
    )

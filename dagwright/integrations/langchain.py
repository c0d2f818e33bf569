"""A flow as a LangChain tool (extra ``langchain``).

``flow_tool(executor, flow)`` returns a ``langchain_core.tools.StructuredTool`` whose
``args_schema`` is the flow's input JSON Schema (a dict, which langchain-core takes as is
and does not validate: dagwright checks the arguments against it before running).
``tool.invoke(args)`` runs the flow on the sync lane (``executor.run``),
``await tool.ainvoke(args)`` on the async lane (``executor.arun``), each call a run of its
own with a fresh run id, journaled when the executor has a checkpointer. The result is
the flow's outputs, a dict; invoked with a tool call (``{"type": "tool_call", "args":
..., "id": ..., "name": ...}``) it is a ``ToolMessage`` whose content is that dict as
JSON text.

A call that does not succeed (arguments that break the schema or that the flow rejects,
or a failed run) raises ``ToolException`` with the error's code and message and the run
id. The tool is built with ``handle_tool_error=True``, so LangChain hands that text to
the agent instead of raising: a plain call returns it, a tool call returns a
``ToolMessage`` with ``status="error"``. Set ``tool.handle_tool_error = False`` to have
the exception raised.
"""

from __future__ import annotations

from typing import Any

from dagwright import Flow, FlowExecutor
from dagwright.integrations._extras import unavailable
from dagwright.integrations._flow_call import FlowCall, Outcome

try:
    from langchain_core.tools import StructuredTool, ToolException
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise unavailable(__name__, "langchain-core", "langchain") from exc

__all__ = ["flow_tool"]


def flow_tool(
    executor: FlowExecutor,
    flow_or_name: Flow | str,
    *,
    name: str | None = None,
    description: str | None = None,
) -> StructuredTool:
    """A LangChain ``StructuredTool`` that runs ``flow_or_name`` on ``executor``.

    The tool is named after the flow (``name`` overrides), described by its description
    (``description`` overrides) and its ``args_schema`` is the flow's input JSON Schema.
    A name is resolved, and the flow compiled, now: ``FlowNotFoundError`` or
    ``FlowCompileError`` raise here. See the module docstring for results and failures.
    """
    call = FlowCall(executor, flow_or_name, name=name, description=description)

    def run_flow(**arguments: Any) -> dict[str, Any]:
        return _outputs(call.run(arguments))

    async def arun_flow(**arguments: Any) -> dict[str, Any]:
        return _outputs(await call.arun(arguments))

    return StructuredTool(
        name=call.name,
        description=call.description,
        args_schema=call.parameters(),
        func=run_flow,
        coroutine=arun_flow,
        handle_tool_error=True,
    )


def _outputs(outcome: Outcome) -> dict[str, Any]:
    if outcome.outputs is None:
        raise ToolException(outcome.message)
    return outcome.outputs

"""Flows served as MCP tools: :func:`flow_server`, built on the SDK's low-level server.

The low-level ``mcp.server.lowlevel.Server`` is used rather than ``MCPServer`` because a
flow's tool schema is a JSON Schema document the compiler derives, not a Python
signature: ``tools/list`` advertises ``CompiledFlow.input_json_schema()`` and
``output_json_schema()`` exactly as they are.

Every ``tools/call`` runs the flow on the executor's async lane with a fresh run id, so
an executor with a checkpointer journals every call (a crashed call is resumed with
``dagwright run --resume RUN_ID``). How results and errors look: :mod:`._results`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError as ProtocolError
from mcp.shared.tool_name_validation import TOOL_NAME_REGEX

from dagwright import CompiledFlow, Flow, FlowExecutor, FlowInputError, UsageError, __version__
from dagwright.mcp._results import failed_run_result, input_error_result, run_result

if TYPE_CHECKING:
    from jsonschema.protocols import Validator


class _Served:
    """One flow as one tool: the flow, its compiled form and the tool it advertises."""

    __slots__ = ("compiled", "flow", "tool", "validator")

    def __init__(self, flow: Flow, compiled: CompiledFlow) -> None:
        self.flow = flow
        self.compiled = compiled
        self.tool = types.Tool(
            name=flow.name,
            description=flow.description or None,
            input_schema=compiled.input_json_schema(),
            output_schema=compiled.output_json_schema(),
        )
        # A flow with its own input_schema has its inputs checked by the run itself; a
        # derived schema is only advertised, so the server holds callers to it here.
        self.validator: Validator | None = None
        if flow.input_schema is None:
            from jsonschema import Draft202012Validator

            self.validator = Draft202012Validator(self.tool.input_schema)

    def check(self, arguments: dict[str, Any]) -> None:
        """Raise ``FlowInputError`` for arguments that break the advertised schema."""
        if self.validator is None:
            return
        problems = sorted(
            self.validator.iter_errors(arguments), key=lambda error: list(error.absolute_path)
        )
        if problems:
            details = "; ".join(
                ".".join(str(part) for part in error.absolute_path) + ": " + error.message
                if error.absolute_path
                else error.message
                for error in problems
            )
            raise FlowInputError(
                f"arguments of tool {self.flow.name!r} do not match its input schema: "
                f"{len(problems)} error(s): {details}",
                hint="call the tool with arguments that follow its inputSchema",
            )


def _served(executor: FlowExecutor, flows: Iterable[Flow | str]) -> dict[str, _Served]:
    """Each flow resolved, compiled against the executor's tools and checked as a tool."""
    served: dict[str, _Served] = {}
    for ref in flows:
        flow = executor.resolve(ref)
        name = flow.name
        if not TOOL_NAME_REGEX.fullmatch(name):
            raise UsageError(
                f"flow name {name!r} is not a valid MCP tool name",
                hint="MCP tool names are 1 to 128 of A-Z, a-z, 0-9, '_', '-' and '.'; "
                "rename the flow",
            )
        if name in served:
            raise UsageError(
                f"two flows would be served as the MCP tool {name!r}",
                hint="serve each flow name once (one version of a flow per server)",
            )
        served[name] = _Served(flow, executor.compile(flow))
    if not served:
        raise UsageError("no flow to serve", hint="pass at least one flow or registered name")
    return served


def flow_server(
    executor: FlowExecutor,
    flows: Iterable[Flow | str],
    *,
    name: str = "dagwright",
    instructions: str | None = None,
) -> Server[Any]:
    """An MCP server (the SDK's ``mcp.server.lowlevel.Server``) with one tool per flow.

    The server is named ``name`` (its version is dagwright's) and hands ``instructions``
    to clients when they connect.

    ``flows`` are :class:`~dagwright.Flow` objects or names registered in the executor's
    registry. Each flow is compiled now (``FlowCompileError`` if it does not) and
    becomes the tool named after it: description ``flow.description``, input schema
    ``CompiledFlow.input_json_schema()``, output schema ``output_json_schema()``. A name
    that is not a valid MCP tool name, or two flows with one name, raise
    :class:`~dagwright.UsageError`.

    A call runs ``await executor.arun(flow, arguments, run_id=executor.new_run_id())``:

    * success: structured content ``compiled.outputs_of(result)``, plus a text block
      holding the same JSON; the run id is under ``_meta`` as ``RUN_ID_META``
      (``"dagwright.dev/run_id"``), on failed runs too;
    * a failed run: a tool error result (``isError``) whose text is ``[DW-E101] step
      'fetch' failed: ConnectionError: ... (run RUN_ID)``, and whose structured content
      is ``{"run_id": ..., "error": ErrorInfo.to_dict(traceback=False)}``;
    * arguments the flow refuses (``FlowInputError``: missing, or not matching the
      advertised input schema): a tool error result with ``[DW-E004]`` and what is
      wrong; no run is started;
    * an unknown tool name: the protocol's ``Invalid params`` error (-32602).

    Run it with ``server.run(read, write, server.create_initialization_options())``
    over a transport (``mcp.server.stdio.stdio_server()``), or mount
    ``server.streamable_http_app()``; ``dagwright serve`` does either.
    """
    served = _served(executor, flows)

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[each.tool for each in served.values()])

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        entry = served.get(params.name)
        if entry is None:
            raise ProtocolError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        return await _call(executor, entry, params.arguments or {})

    def input_schema(tool_name: str) -> Mapping[str, Any] | None:
        entry = served.get(tool_name)
        return None if entry is None else entry.tool.input_schema

    return Server(
        name,
        version=__version__,
        instructions=instructions,
        get_tool_input_schema=input_schema,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def _call(
    executor: FlowExecutor, entry: _Served, arguments: dict[str, Any]
) -> types.CallToolResult:
    """One tool call: one journaled run, its outputs or its error as a tool result."""
    run_id = executor.new_run_id()
    try:
        entry.check(arguments)
        result = await executor.arun(entry.flow, arguments, run_id=run_id)
    except FlowInputError as error:
        return input_error_result(error)
    if not result.success:
        return failed_run_result(result)
    return run_result(entry.compiled.outputs_of(result), run_id)

"""How a served flow's outcome reads as an MCP ``CallToolResult``.

A success is structured content plus a text block holding the same JSON (what the SDK's
own servers send for structured output, so clients that read only text see it too). A
failure is a tool error result (``isError: true``), never a protocol error: the model
calling the tool reads what went wrong and can correct its arguments.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types

from dagwright import ExecutionResult, FlowInputError

RUN_ID_META = "dagwright.dev/run_id"
"""The ``_meta`` key of every result of a call that ran: the run's id in the store."""


def _text(value: Any) -> types.TextContent:
    return types.TextContent(type="text", text=json.dumps(value, ensure_ascii=False, indent=2))


def run_result(outputs: dict[str, Any], run_id: str) -> types.CallToolResult:
    """A successful run: ``outputs`` (the flow's returned keys) as structured content,
    the run id under ``_meta``."""
    return types.CallToolResult(
        content=[_text(outputs)], structured_content=outputs, _meta={RUN_ID_META: run_id}
    )


def failed_run_result(result: ExecutionResult) -> types.CallToolResult:
    """A failed run: ``[CODE] step 'ID' failed: Type: message (run RUN_ID)`` as text, and
    the run id and error (without its traceback) as structured content; the run id
    under ``_meta`` too."""
    error = result.error
    if error is None:
        text = f"[DW-E100] the run failed (run {result.run_id})"
        detail: dict[str, Any] | None = None
    else:
        where = f"step {error.step_id!r}" if error.step_id is not None else "the run"
        if error.index is not None:
            where += f" (map item {error.index})"
        text = f"[{error.code}] {where} failed: {error.type}: {error.message} (run {result.run_id})"
        detail = error.to_dict(traceback=False)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content={"run_id": result.run_id, "error": detail},
        is_error=True,
        _meta={RUN_ID_META: result.run_id},
    )


def input_error_result(error: FlowInputError) -> types.CallToolResult:
    """Arguments the flow refused: ``[DW-E004] message`` (and its hint); no run started."""
    text = f"[{error.code}] {error.message}"
    if error.hint:
        text += f" (hint: {error.hint})"
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content={"error": {"code": error.code, "message": error.message}},
        is_error=True,
    )

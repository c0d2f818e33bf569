"""The SDK's side of a connection in dagwright's terms: the transport for a target, the
tool listing, and every answer or failure of the SDK mapped to outputs or coded errors
naming the server."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
from mcp import ClientSession
from mcp.shared.exceptions import MCPError as SDKError
from mcp.types import CallToolResult, PaginatedRequestParams, TextContent
from mcp.types import Tool as MCPTool

from dagwright.errors import MCPError, MCPSchemaError, MCPToolError
from dagwright.mcp._schemas import check_output

_MAX_PAGES = 1000  # a pager that never ends cannot hang a connect


def transport(
    target: str | Sequence[str],
    *,
    server: str,
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> AbstractAsyncContextManager[Any]:
    """The SDK transport for ``target``: streamable HTTP for a URL, else stdio."""
    if isinstance(target, str) and target.startswith(("http://", "https://")):
        from mcp.client.streamable_http import streamable_http_client

        return streamable_http_client(target)
    from mcp.client.stdio import StdioServerParameters, stdio_client

    argv = shlex.split(target) if isinstance(target, str) else list(target)
    if not argv:
        raise MCPError(
            "connect() needs a command or a URL, got an empty one",
            server=server,
            hint="pass e.g. 'python my_server.py' or 'https://host/mcp'",
        )
    env_vars = dict(env) if env is not None else None
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=env_vars, cwd=cwd)
    return stdio_client(params)


async def list_all(session: ClientSession) -> list[MCPTool]:
    """Every tool the server lists, following its pages."""
    listing = await session.list_tools()
    tools = list(listing.tools)
    cursor, pages = listing.next_cursor, 1
    while cursor is not None and pages < _MAX_PAGES:
        listing = await session.list_tools(params=PaginatedRequestParams(cursor=cursor))
        tools.extend(listing.tools)
        cursor, pages = listing.next_cursor, pages + 1
    return tools


def first_cause(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)]
        exc = (inner or list(exc.exceptions))[0]
    return exc


def startup_error(server: str, exc: BaseException, timed_out: MCPError) -> BaseException:
    """What entering a connection raises when starting the session failed with ``exc``."""
    cause = first_cause(exc)
    if isinstance(cause, MCPError):
        return cause
    if isinstance(cause, TimeoutError):
        return timed_out
    if not isinstance(cause, Exception):
        return cause
    reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
    if isinstance(cause, SDKError):
        reason = f"{cause.message} (the server exited or is not an MCP server)"
    error = MCPError(
        f"cannot connect to MCP server {server!r}: {reason or type(cause).__name__}",
        server=server,
        hint="check the command (or URL) and run it by hand to see its errors",
    )
    error.__cause__ = cause
    return error


def closed_during(server: str, remote: str, reason: str) -> MCPError:
    """The error of a call the session could not finish."""
    return MCPError(
        f"MCP server {server!r}: call of tool {remote!r} failed: {reason}",
        server=server,
        hint="the server may have exited (see its stderr); reconnect to call it again",
    )


def _schema_broken(server: str, remote: str, problem: str) -> MCPSchemaError:
    return MCPSchemaError(
        f"MCP server {server!r}: tool {remote!r} broke its output schema: {problem}",
        server=server,
        hint="the server's result does not match the outputSchema it advertises",
    )


async def call(
    session: ClientSession, server: str, remote: str, arguments: dict[str, Any]
) -> CallToolResult:
    """One ``tools/call``; the SDK's failures as coded errors."""
    try:
        return await session.call_tool(remote, arguments)
    except SDKError as exc:  # an error response, or the connection closed
        raise closed_during(server, remote, exc.message) from exc
    except RuntimeError as exc:  # the SDK's own output-schema check, among others
        text = str(exc)
        if "structured content" in text or "Invalid schema" in text:
            reason = text.splitlines()[0].removeprefix(
                f"Invalid structured content returned by tool {remote}: "
            )
            raise _schema_broken(server, remote, reason) from exc
        raise closed_during(server, remote, text) from exc
    except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
        raise closed_during(server, remote, "the session closed") from exc


def outputs(
    server: str, remote: str, result: CallToolResult, model: type[Any], kind: str
) -> dict[str, Any]:
    """A call's result as the tool's outputs (see ``_schemas.output_model`` for ``kind``);
    an error result is ``MCPToolError``, content that breaks the schema ``MCPSchemaError``."""
    text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
    if result.is_error:
        raise MCPToolError(
            f"MCP server {server!r}: tool {remote!r} failed: {text or '(no text)'}",
            server=server,
        )
    if kind == "text":
        return {"text": text}
    value = result.structured_content
    if value is None:
        raise _schema_broken(server, remote, "it advertises one but returned no structured content")
    if kind == "wrapped":
        value = {"result": value}
    problem = check_output(model, value)
    if problem is not None:
        raise _schema_broken(server, remote, problem)
    return dict(value)

"""An MCP server's tools as dagwright tools: :func:`connect` and :class:`MCPConnection`.

One connection holds one client session of the official ``mcp`` SDK. The session lives
in one task from start to end (the SDK's transports are anyio task groups, which must be
entered and left by the same task): with ``async with`` that task runs on the caller's
event loop; with ``with`` it runs on a private event-loop thread, so the sync form works
from plain code and from inside a running loop alike.

Every tool's ``fn`` is ``async``. Called on the session's loop it talks to the session
directly; called on another loop (the sync lane's private loop of a run, or
``asyncio.run(executor.arun(...))`` beside a sync-form connection) it hands the call to
the session's loop and awaits the answer there, so tools work from ``run`` and ``arun``.

No wait is unbounded: starting the server, the handshake and the tool listing are
bounded by ``timeout_s``; a call ends when the server answers, dies (the transport sees
its stdout close) or the connection closes; closing cancels calls still in flight.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import shlex
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from types import TracebackType
from typing import Any

import anyio
from mcp import ClientSession
from mcp.shared.exceptions import MCPError as SDKError
from mcp.types import CallToolResult, TextContent
from mcp.types import Tool as MCPTool

from dagwright import Tool, ToolSpec
from dagwright.errors import MCPError, MCPSchemaError, MCPToolError
from dagwright.mcp._schemas import check_output, idempotent, input_model, output_model, tool_name

DEFAULT_TIMEOUT_S = 30.0
"""How long :func:`connect` waits for a server to start, shake hands and list its tools."""

_CLOSE_TIMEOUT_S = 10.0  # the SDK's own stdio shutdown is bounded by about 6 s


def connect(
    command_or_url: str | Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> MCPConnection:
    """A connection to one MCP server, to be entered with ``with`` or ``async with``.

    ``command_or_url``: an ``http://`` or ``https://`` URL (streamable HTTP), else the
    command that starts a stdio server: a command line (split like a shell would,
    ``shlex``) or a list of arguments. ``env`` adds environment variables to the SDK's
    safe default ones (``PATH``, ``HOME``...); ``cwd`` is the server's directory.
    Entering starts the server and lists its tools; a server that cannot be started or
    reached, or does not answer within ``timeout_s`` seconds, raises
    :class:`~dagwright.errors.MCPError`.
    """
    if not isinstance(timeout_s, int | float) or isinstance(timeout_s, bool) or timeout_s <= 0:
        raise MCPError(
            f"timeout_s must be a number of seconds > 0, got {timeout_s!r}",
            hint="leave it out for the default of 30 seconds",
        )
    return MCPConnection(command_or_url, env=env, cwd=cwd, timeout_s=float(timeout_s))


def server_specs(
    command_or_url: str | Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[ToolSpec]:
    """The ``ToolSpec``\\ s of an MCP server's tools: connect, list, disconnect (no tool
    is called). What ``dagwright tools export --mcp COMMAND`` writes to a manifest."""
    with connect(command_or_url, env=env, cwd=cwd, timeout_s=timeout_s) as connection:
        return connection.specs()


class MCPConnection:
    """One client session with an MCP server; its ``tools`` are dagwright ``Tool``\\ s.

    Use it as a context manager, ``with`` (a private event-loop thread holds the
    session) or ``async with`` (the caller's loop does). ``server`` names the server (the
    command line or URL) in every error. A connection is entered once; after it is left,
    ``tools``, ``specs()`` and calls of its tools raise :class:`~dagwright.errors.MCPError`.
    """

    def __init__(
        self,
        command_or_url: str | Sequence[str],
        *,
        env: Mapping[str, str] | None,
        cwd: str | None,
        timeout_s: float,
    ) -> None:
        self._target = command_or_url
        if isinstance(command_or_url, str):
            self.server = command_or_url
        else:
            self.server = shlex.join(list(command_or_url))
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._timeout_s = timeout_s
        self._state = "new"
        self._session: ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._owner: concurrent.futures.Future[None] | asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._tools: list[Tool] = []
        self._in_flight: set[concurrent.futures.Future[CallToolResult]] = set()

    def __repr__(self) -> str:
        return f"MCPConnection({self.server!r}, {self._state})"

    # ---- what the server offers ----

    @property
    def tools(self) -> list[Tool]:
        """One ``Tool`` per server tool, in the server's order (a fresh list)."""
        self._require_open("read its tools")
        return list(self._tools)

    def specs(self) -> list[ToolSpec]:
        """The ``ToolSpec`` of every tool, for linting flows without calling anything."""
        return [tool.spec for tool in self.tools]

    # ---- entering and leaving ----

    def __enter__(self) -> MCPConnection:
        self._claim()
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=self._run_loop, args=(loop,), name="dagwright-mcp", daemon=True
        )
        self._thread.start()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._owner = asyncio.run_coroutine_threadsafe(self._own(ready), loop)
        try:
            ready.result(timeout=self._timeout_s + _CLOSE_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            self._close_sync()
            raise self._startup_timeout() from None
        except BaseException:
            self._close_sync()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close_sync()

    async def __aenter__(self) -> MCPConnection:
        self._claim()
        self._loop = asyncio.get_running_loop()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        task = self._loop.create_task(self._own(ready))
        self._owner = task
        try:
            await asyncio.wait_for(asyncio.wrap_future(ready), self._timeout_s + _CLOSE_TIMEOUT_S)
        except TimeoutError:
            await self._close_async()
            raise self._startup_timeout() from None
        except BaseException:
            await self._close_async()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close_async()

    def _claim(self) -> None:
        if self._state != "new":
            raise MCPError(
                f"MCP connection to {self.server!r} was already entered",
                server=self.server,
                hint="call dagwright.mcp.connect(...) again for a new connection",
            )
        self._state = "opening"

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def _close_sync(self) -> None:
        self._state = "closed"
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(self._begin_close)
            owner = self._owner
            if isinstance(owner, concurrent.futures.Future):
                # The session's own end is not the caller's error.
                with contextlib.suppress(BaseException):
                    owner.result(timeout=_CLOSE_TIMEOUT_S)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=_CLOSE_TIMEOUT_S)

    async def _close_async(self) -> None:
        self._state = "closed"
        self._begin_close()
        owner = self._owner
        if isinstance(owner, asyncio.Task):
            try:
                await asyncio.wait_for(asyncio.shield(owner), _CLOSE_TIMEOUT_S)
            except BaseException:  # the session's own end is not the caller's error
                if not owner.done():
                    owner.cancel()

    def _begin_close(self) -> None:
        """On the session's loop: cancel calls in flight from other loops, end the session."""
        for future in list(self._in_flight):
            future.cancel()
        if self._stop is not None:
            self._stop.set()

    def _startup_timeout(self) -> MCPError:
        return MCPError(
            f"MCP server {self.server!r} did not start and list its tools within "
            f"{self._timeout_s:g} s",
            server=self.server,
            hint="check that the command starts an MCP server (its stderr shows why), "
            "or raise connect(..., timeout_s=...)",
        )

    # ---- the session's task ----

    def _transport(self) -> AbstractAsyncContextManager[Any]:
        target = self._target
        if isinstance(target, str) and target.startswith(("http://", "https://")):
            from mcp.client.streamable_http import streamable_http_client

            return streamable_http_client(target)
        from mcp.client.stdio import StdioServerParameters, stdio_client

        argv = shlex.split(target) if isinstance(target, str) else list(target)
        if not argv:
            raise MCPError(
                "connect() needs a command or a URL, got an empty one",
                server=self.server,
                hint="pass e.g. 'python my_server.py' or 'https://host/mcp'",
            )
        params = StdioServerParameters(command=argv[0], args=argv[1:], env=self._env, cwd=self._cwd)
        return stdio_client(params)

    async def _own(self, ready: concurrent.futures.Future[None]) -> None:
        """Start the session, list the tools, then hold the session until closed."""
        self._stop = asyncio.Event()
        try:
            async with AsyncExitStack() as stack:
                streams = await stack.enter_async_context(self._transport())
                session = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
                # Only around calls: a cancel scope must not straddle the entered contexts.
                with anyio.fail_after(self._timeout_s):
                    await session.initialize()
                    listed = await self._list(session)
                self._tools = self._build(listed)
                self._session = session
                if self._state == "opening":
                    self._state = "open"
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:  # the SDK's task groups wrap errors in groups
            self._session = None
            if not ready.done():
                ready.set_exception(self._startup_error(exc))
            elif not isinstance(exc, Exception):
                raise
        finally:
            self._session = None

    async def _list(self, session: ClientSession) -> list[MCPTool]:
        tools: list[MCPTool] = []
        listing = await session.list_tools()
        tools.extend(listing.tools)
        cursor, pages = listing.next_cursor, 1
        while cursor is not None and pages < 1000:  # a pager that never ends cannot hang us
            from mcp.types import PaginatedRequestParams

            listing = await session.list_tools(params=PaginatedRequestParams(cursor=cursor))
            tools.extend(listing.tools)
            cursor, pages = listing.next_cursor, pages + 1
        return tools

    def _startup_error(self, exc: BaseException) -> BaseException:
        cause = _first_cause(exc)
        if isinstance(cause, MCPError):
            return cause
        if isinstance(cause, TimeoutError):
            return self._startup_timeout()
        if not isinstance(cause, Exception):
            return cause
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
        if isinstance(cause, SDKError):
            reason = f"{cause.message} (the server exited or is not an MCP server)"
        error = MCPError(
            f"cannot connect to MCP server {self.server!r}: {reason or type(cause).__name__}",
            server=self.server,
            hint="check the command (or URL) and run it by hand to see its errors",
        )
        error.__cause__ = cause
        return error

    def _build(self, listed: list[MCPTool]) -> list[Tool]:
        tools: list[Tool] = []
        seen: dict[str, str] = {}
        for mcp_tool in listed:
            name = tool_name(mcp_tool.name)
            if name in seen:
                raise MCPError(
                    f"MCP server {self.server!r}: tools {seen[name]!r} and {mcp_tool.name!r} "
                    f"both map to the dagwright tool name {name!r}",
                    server=self.server,
                    hint="rename one of them on the server",
                )
            seen[name] = mcp_tool.name
            inputs = input_model(name, mcp_tool.input_schema, server=self.server)
            outputs, kind = output_model(name, mcp_tool.output_schema, server=self.server)
            tools.append(
                Tool(
                    name=name,
                    fn=self._tool_fn(mcp_tool.name, outputs, kind),
                    input_schema=inputs,
                    output_schema=outputs,
                    description=mcp_tool.description or "",
                    idempotent=idempotent(mcp_tool.annotations),
                )
            )
        return tools

    # ---- calls ----

    def _require_open(self, doing: str) -> ClientSession:
        session = self._session
        if self._state != "open" or session is None:
            when = "is not open yet" if self._state in ("new", "opening") else "is closed"
            raise MCPError(
                f"cannot {doing}: the connection to MCP server {self.server!r} {when}",
                server=self.server,
                hint="use the tools inside `with dagwright.mcp.connect(...) as server:` "
                "(or `async with`)",
            )
        return session

    def _tool_fn(self, remote: str, outputs: type[Any], kind: str) -> Callable[[Any], Any]:
        async def call(inp: Any) -> dict[str, Any]:
            arguments = inp.model_dump(mode="json", exclude_unset=True)
            result = await self._call(remote, arguments)
            return self._outputs(remote, result, outputs, kind)

        call.__name__ = call.__qualname__ = tool_name(remote)
        call.__doc__ = f"Call the tool {remote!r} of the MCP server {self.server!r}."
        return call

    async def _call(self, remote: str, arguments: dict[str, Any]) -> CallToolResult:
        self._require_open(f"call tool {remote!r}")
        loop = self._loop
        assert loop is not None
        if asyncio.get_running_loop() is loop:
            return await self._call_here(remote, arguments)
        # Another loop (the sync lane's, or asyncio.run beside a `with` connection): the
        # call runs on the session's loop. That loop may be blocked by the very thread
        # that waits for this call (`executor.run` inside `async with`): a call that has
        # not started within timeout_s is refused instead of waiting forever.
        started = threading.Event()

        async def on_session_loop() -> CallToolResult:
            started.set()
            return await self._call_here(remote, arguments)

        future = asyncio.run_coroutine_threadsafe(on_session_loop(), loop)
        self._in_flight.add(future)
        try:
            answer = asyncio.wrap_future(future)
            await asyncio.wait({answer}, timeout=self._timeout_s)
            if not started.is_set():
                future.cancel()
                raise MCPError(
                    f"tool {remote!r} of MCP server {self.server!r} could not start within "
                    f"{self._timeout_s:g} s: the event loop that holds the session is blocked",
                    server=self.server,
                    hint="inside `async with connect(...)` run flows with `await "
                    "executor.arun(...)`, or use `with connect(...)` for executor.run",
                )
            return await answer
        except (asyncio.CancelledError, concurrent.futures.CancelledError):
            if self._state == "closed":
                raise self._closed_during(remote, "the connection was closed") from None
            raise
        finally:
            self._in_flight.discard(future)

    async def _call_here(self, remote: str, arguments: dict[str, Any]) -> CallToolResult:
        session = self._require_open(f"call tool {remote!r}")
        try:
            return await session.call_tool(remote, arguments)
        except SDKError as exc:
            raise self._closed_during(remote, exc.message) from exc
        except RuntimeError as exc:
            text = str(exc)
            if "structured content" in text or "Invalid schema" in text:
                reason = text.splitlines()[0].removeprefix(
                    f"Invalid structured content returned by tool {remote}: "
                )
                raise MCPSchemaError(
                    f"MCP server {self.server!r}: tool {remote!r} broke its output schema: "
                    f"{reason}",
                    server=self.server,
                    hint="the server's result does not match the outputSchema it advertises",
                ) from exc
            raise self._closed_during(remote, text) from exc
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            raise self._closed_during(remote, "the session closed") from exc

    def _closed_during(self, remote: str, reason: str) -> MCPError:
        return MCPError(
            f"MCP server {self.server!r}: call of tool {remote!r} failed: {reason}",
            server=self.server,
            hint="the server may have exited (see its stderr); reconnect to call it again",
        )

    def _outputs(
        self, remote: str, result: CallToolResult, outputs: type[Any], kind: str
    ) -> dict[str, Any]:
        text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
        if result.is_error:
            raise MCPToolError(
                f"MCP server {self.server!r}: tool {remote!r} failed: {text or '(no text)'}",
                server=self.server,
            )
        if kind == "text":
            return {"text": text}
        value = result.structured_content
        if value is None:
            raise MCPSchemaError(
                f"MCP server {self.server!r}: tool {remote!r} advertises an output schema "
                "but returned no structured content",
                server=self.server,
            )
        if kind == "wrapped":
            value = {"result": value}
        problem = check_output(outputs, value)
        if problem is not None:
            raise MCPSchemaError(
                f"MCP server {self.server!r}: tool {remote!r} broke its output schema: {problem}",
                server=self.server,
                hint="the server's result does not match the outputSchema it advertises",
            )
        return dict(value)


def _first_cause(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)]
        exc = (inner or list(exc.exceptions))[0]
    return exc

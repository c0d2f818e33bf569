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
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

import anyio
from mcp import ClientSession
from mcp.types import CallToolResult
from mcp.types import Tool as MCPTool

from dagwright import Tool, ToolSpec
from dagwright.errors import MCPError
from dagwright.mcp._protocol import call, closed_during, list_all, outputs, startup_error, transport
from dagwright.mcp._schemas import idempotent, input_model, output_model, tool_name

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
        # Calls handed over from other loops; added and removed on their threads.
        self._in_flight: set[concurrent.futures.Future[CallToolResult]] = set()
        self._in_flight_lock = threading.Lock()

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
        with self._in_flight_lock:
            in_flight = list(self._in_flight)
        for future in in_flight:
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

    async def _own(self, ready: concurrent.futures.Future[None]) -> None:
        """Start the session, list the tools, then hold the session until closed."""
        self._stop = asyncio.Event()
        try:
            async with AsyncExitStack() as stack:
                target = transport(self._target, server=self.server, env=self._env, cwd=self._cwd)
                streams = await stack.enter_async_context(target)
                session = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
                # Only around calls: a cancel scope must not straddle the entered contexts.
                with anyio.fail_after(self._timeout_s):
                    await session.initialize()
                    listed = await list_all(session)
                self._tools = self._build(listed)
                self._session = session
                if self._state == "opening":
                    self._state = "open"
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:  # the SDK's task groups wrap errors in groups
            self._session = None
            if not ready.done():
                ready.set_exception(startup_error(self.server, exc, self._startup_timeout()))
            elif not isinstance(exc, Exception):
                raise
        finally:
            self._session = None

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
            results, kind = output_model(name, mcp_tool.output_schema, server=self.server)
            tools.append(
                Tool(
                    name=name,
                    fn=self._tool_fn(mcp_tool.name, results, kind),
                    input_schema=inputs,
                    output_schema=results,
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

    def _tool_fn(self, remote: str, model: type[Any], kind: str) -> Callable[[Any], Any]:
        async def call_tool(inp: Any) -> dict[str, Any]:
            arguments = inp.model_dump(mode="json", exclude_unset=True)
            result = await self._call(remote, arguments)
            return outputs(self.server, remote, result, model, kind)

        call_tool.__name__ = call_tool.__qualname__ = tool_name(remote)
        call_tool.__doc__ = f"Call the tool {remote!r} of the MCP server {self.server!r}."
        return call_tool

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
        with self._in_flight_lock:
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
            task = asyncio.current_task()
            ours = task is not None and task.cancelling() > 0  # this call itself is cancelled
            if self._state == "closed" and future.cancelled() and not ours:
                raise closed_during(self.server, remote, "the connection was closed") from None
            raise
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(future)

    async def _call_here(self, remote: str, arguments: dict[str, Any]) -> CallToolResult:
        session = self._require_open(f"call tool {remote!r}")
        return await call(session, self.server, remote, arguments)

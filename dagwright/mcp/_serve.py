"""Running a :func:`~dagwright.mcp.flow_server` over a transport until it is stopped."""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Callable
from typing import Any, Literal

import anyio
from mcp.server.lowlevel import Server

Transport = Literal["stdio", "streamable-http"]


def serve(
    server: Server[Any],
    *,
    transport: Transport = "stdio",
    host: str = "127.0.0.1",
    port: int = 8000,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``server`` until the client goes away (stdio) or the process is stopped.

    ``stdio``: the protocol runs over this process's stdin and stdout. While it does,
    ``sys.stdout`` is pointed at stderr (and the SDK points file descriptor 1 at stderr
    too), so a tool that prints cannot corrupt the protocol: its output goes to stderr.
    ``on_ready`` receives ``"stdio"``.

    ``streamable-http``: an HTTP server (uvicorn) on ``host:port`` with the MCP endpoint
    at ``/mcp``; ``on_ready`` receives its URL, ``http://HOST:PORT/mcp``, once the
    socket is bound. Returns when uvicorn stops (Ctrl-C / SIGTERM).
    """
    if transport == "stdio":
        anyio.run(_stdio, server, on_ready)
    elif transport == "streamable-http":
        listening = _listen(host, port)
        try:
            anyio.run(_http, server, host, listening, on_ready)
        finally:
            listening.close()
    else:
        from dagwright import UsageError

        raise UsageError(
            f"unknown MCP transport {transport!r}", hint="use 'stdio' or 'streamable-http'"
        )


async def _stdio(server: Server[Any], on_ready: Callable[[str], None] | None) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        # After the transport has claimed the real stdout: it checks that sys.stdout is
        # backed by descriptor 1 to find the wire.
        with contextlib.redirect_stdout(sys.stderr):
            if on_ready is not None:
                on_ready("stdio")
            await server.run(read, write, server.create_initialization_options())


def _listen(host: str, port: int) -> socket.socket:
    """The bound socket, made here so that an address in use or not allowed is an
    ``OSError`` naming it (uvicorn would log it and exit the process instead)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(
            error.errno, f"cannot listen on {host}:{port}: {error.strerror or error}"
        ) from None
    return sock


async def _http(
    server: Server[Any],
    host: str,
    listening: socket.socket,
    on_ready: Callable[[str], None] | None,
) -> None:
    import uvicorn

    app = server.streamable_http_app(host=host)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    http = uvicorn.Server(config)

    async def announce() -> None:
        while not http.started:
            if http.should_exit:
                return
            await anyio.sleep(0.02)
        if on_ready is not None:
            port = listening.getsockname()[1]
            shown = f"[{host}]" if ":" in host else host
            on_ready(f"http://{shown}:{port}/mcp")

    async with anyio.create_task_group() as group:
        group.start_soon(announce)
        await http.serve(sockets=[listening])
        group.cancel_scope.cancel()

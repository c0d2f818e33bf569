"""``dagwright serve FILES``: every flow in the files served as one MCP tool.

The files are loaded and registered together (sub-flows resolve among them) and their
tools imported as ``dagwright run`` does; the executor journals every call in the store
(default ``.dagwright/runs.sqlite``). :func:`dagwright.mcp.flow_server` builds the
server and :func:`dagwright.mcp.serve` runs it. Everything this command prints goes to
stderr: under stdio, stdout is the protocol's. The flows' compile warnings are printed
as ``dagwright run`` prints them, one ``dagwright: warning: path:line:col: ...`` line each.
"""

from __future__ import annotations

import argparse
import sys

from dagwright.cli._app import DEFAULT_STORE
from dagwright.cli._common import load_flow_files, log_lines, open_store
from dagwright.cli._errors import OK


def command(args: argparse.Namespace) -> int:
    """Serve until the client disconnects (stdio) or the server is stopped; 0."""
    parser: argparse.ArgumentParser = args.parser
    if args.max_concurrency < 1:
        parser.error(f"--max-concurrency must be at least 1, got {args.max_concurrency}")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")

    from dagwright import FlowExecutor
    from dagwright.mcp import flow_server, serve

    flows, registry, tools = load_flow_files(args.files, args.tools)
    store_path = args.store if args.store is not None else DEFAULT_STORE
    store = open_store(store_path, create=True, default=args.store is None)
    names = ", ".join(flow.name for flow in flows)

    def ready(where: str) -> None:
        how = "over stdio" if where == "stdio" else f"at {where}"
        print(
            f"dagwright: serving {len(flows)} flow(s) as MCP tools {how}: {names} "
            f"(runs journaled in {store_path})",
            file=sys.stderr,
            flush=True,
        )

    try:
        with (
            log_lines(),
            FlowExecutor(
                tools, registry=registry, checkpointer=store, max_concurrency=args.max_concurrency
            ) as executor,
        ):
            server = flow_server(executor, flows, name=args.name)
            serve(server, transport=args.transport, host=args.host, port=args.port, on_ready=ready)
    finally:
        store.close()
    return OK

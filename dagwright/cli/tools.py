"""``dagwright tools export [MODULE...] [--mcp COMMAND...] [-o FILE]``: a tool manifest.

Every ``Tool`` object of each module (a dotted name, or ``path/to/file.py``) is imported
(with the current directory first on ``sys.path``), and every tool of each MCP server
given with ``--mcp`` (a command line starting a stdio server, or an ``http(s)://`` URL)
is listed, without calling any. Each is described: name, version, description, input
and output JSON Schemas, ``schema_hash``, ``cacheable``, ``idempotent``. ``-o FILE``
writes the manifest atomically; else it goes to stdout.
"""

from __future__ import annotations

import argparse

from dagwright.cli._common import use_cwd_imports
from dagwright.cli._errors import OK


def command(args: argparse.Namespace) -> int:
    """Export the manifest; exit 0 (2 when a module cannot be imported or a server
    cannot be reached)."""
    from dagwright import Tool, ToolSpec
    from dagwright.io import import_tools, write_tool_manifest
    from dagwright.io.manifest import manifest_text

    if not args.modules and not args.mcp:
        args.parser.error("give at least one MODULE or --mcp COMMAND")
    use_cwd_imports()
    tools: list[Tool | ToolSpec] = list(import_tools(args.modules)) if args.modules else []
    if args.mcp:
        from dagwright.mcp import server_specs

        for server in args.mcp:
            tools.extend(server_specs(server))
    if args.output is not None:
        write_tool_manifest(tools, args.output)
        print(f"wrote the manifest of {len(tools)} tool(s) to {args.output}")
    else:
        print(manifest_text(tools), end="")  # the bytes -o would write
    return OK

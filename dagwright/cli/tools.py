"""``dagwright tools export MODULE... [-o FILE]``: the manifest of the tools in modules.

Every ``Tool`` object of each module (a dotted name, or ``path/to/file.py``) is imported
(with the current directory first on ``sys.path``) and described: name, version,
description, input and output JSON Schemas, ``schema_hash``, ``cacheable``,
``idempotent``. ``-o FILE`` writes it atomically; else it goes to stdout.
"""

from __future__ import annotations

import argparse

from dagwright.cli._common import use_cwd_imports
from dagwright.cli._errors import OK


def command(args: argparse.Namespace) -> int:
    """Export the manifest; exit 0 (2 when a module cannot be imported)."""
    from dagwright.io import import_tools, write_tool_manifest
    from dagwright.io.manifest import manifest_text

    use_cwd_imports()
    tools = import_tools(args.modules)
    if args.output is not None:
        write_tool_manifest(tools, args.output)
        print(f"wrote the manifest of {len(tools)} tool(s) to {args.output}")
    else:
        print(manifest_text(tools), end="")  # the bytes -o would write
    return OK

"""``dagwright lint FILES...``: every compile check, in ruff's formats and exit codes.

Tools come from ``--tools MODULE`` (imported) or ``--tools-manifest FILE`` (read, never
imported); without either only the checks that need no tools run, and the report says
which it skipped. A file's own ``tools:`` section is never imported by ``lint``.
Exit 0 clean or warnings only (1 with ``--strict``), 1 errors, 2 when a file cannot be
read (it is reported in the output, and the other files are still linted).
``--output FILE`` writes the report there atomically instead of printing it (CI writes the
SARIF log so, and prints annotations in a second run).
"""

from __future__ import annotations

import argparse
from typing import Any

from dagwright.cli._common import use_cwd_imports


def command(args: argparse.Namespace) -> int:
    """Lint the files and print the report in ``--format``; the report's exit code."""
    from dagwright import load_tool_manifest
    from dagwright.io import import_tools, lint_files

    tools: list[Any] | None = None
    if args.tools:
        use_cwd_imports()
        tools = list(import_tools(args.tools))
    elif args.tools_manifest is not None:
        tools = list(load_tool_manifest(args.tools_manifest))
    select = tuple(code for group in args.select for code in group)
    ignore = tuple(code for group in args.ignore for code in group)
    report = lint_files(args.files, tools=tools, select=select, ignore=ignore, strict=args.strict)
    if args.output is not None:
        report.write(args.output, format=args.format)
    else:
        text = report.render(args.format)
        print(text, end="" if text.endswith("\n") else "\n")
    code: int = report.exit_code
    return code

"""Flow files the CLI tests run (tools from ``tests.cli.cli_tools``)."""

from __future__ import annotations

from pathlib import Path

SUMS = """\
format_version: 1
kind: dag
name: sums
version: "1"
steps:
  - id: double
    tool: double
  - id: square
    tool: square
  - id: add
    tool: add
    depends_on: [double, square]
"""

# The same flow, naming its tools in the file instead of on the command line.
SUMS_WITH_TOOLS = SUMS.replace(
    "steps:",
    "tools:\n  double: tests.cli.cli_tools:double\n  square: tests.cli.cli_tools:square\n"
    "  add: tests.cli.cli_tools:add\nsteps:",
)

FAILING = (
    SUMS
    + """\
  - id: publish
    tool: fail
    depends_on: [add]
"""
)

# The two branches as a sub-flow in a file of its own.
BRANCHES = """\
format_version: 1
kind: dag
name: branches
version: "1"
steps:
  - id: double
    tool: double
  - id: square
    tool: square
"""

OUTER = """\
format_version: 1
kind: dag
name: outer
version: "1"
steps:
  - id: branches
    flow: branches
  - id: add
    tool: add
    depends_on: [branches]
"""


def write(directory: Path, name: str, text: str) -> str:
    """Write ``text`` to ``directory/name``; its path as a string."""
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# A map step: square each item of the input list.
SQUARES = """\
format_version: 1
kind: dag
name: squares
version: "1"
steps:
  - id: each
    over: items
    item: n
    tool: square
    results: squares
"""

"""``dagwright graph FILE [--format mermaid|dot] [--run RUN_ID --store PATH]``.

Draws the flow file's DAG without importing any tool: maps and sub-flows visible, `when`
on edges. With ``--run``, each step is coloured by the status that run recorded (the
store is only read).
"""

from __future__ import annotations

import argparse

from dagwright.cli._common import open_store
from dagwright.cli._errors import OK


def command(args: argparse.Namespace) -> int:
    """Print the diagram; exit 0."""
    from dagwright import load_flow
    from dagwright.compiler import render_graph

    flow = load_flow(args.file)
    statuses: dict[str, str] | None = None
    if args.run is not None:
        from dagwright.checkpoint import read_run

        store = open_store(args.store, create=False)
        try:
            statuses = read_run(store, args.run, flow=flow).statuses
        finally:
            store.close()
    text = render_graph(flow, format=args.format, statuses=statuses)
    print(text, end="" if text.endswith("\n") else "\n")
    return OK

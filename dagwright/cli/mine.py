"""``dagwright mine TRACES...``: the tool chains agents repeat, offered as flow files.

TRACES are JSON Lines trace files (:func:`dagwright.traces.read_traces`) or, with
``--otel``, OpenTelemetry OTLP JSON exports (:func:`dagwright.traces.read_otel`), or
directories of them, as those readers take them. Tools come from ``--tools MODULE``
(imported: the mined flows are replayed on their sessions) or ``--tools-manifest FILE``
(read, never imported: replay is skipped). :func:`dagwright.mine_report` does the work.

The report is a table (rich on a terminal, aligned plain text otherwise): each mined flow
with its support, sessions, the tool calls it saves over them and its replay result,
then the candidates that were dropped and why. ``--json`` prints the same as one JSON
object (its shape is :func:`report_data`'s). ``-o DIR`` writes each mined flow to
``DIR/<flow name>.flow.yaml`` with :func:`dagwright.dump_flow` (atomic, deterministic:
the same traces give byte-identical files). The files carry no ``tools:`` section: pass
the same ``--tools`` to ``dagwright lint``, ``run`` and ``serve``.

Exit 0, also when nothing is mined (the report says so); 2 for input that cannot be used
(a bad trace line is one line, ``path:line: [DW-E025] ...``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagwright.cli._common import use_cwd_imports
from dagwright.cli._errors import OK
from dagwright.cli._table import table

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dagwright.mining import DroppedFlow, MinedFlow, MiningReport

_HEADER = ("flow", "support", "sessions", "calls saved", "replay")


def command(args: argparse.Namespace) -> int:
    """Mine the traces, write the flows with ``-o``, print the report; 0."""
    parser: argparse.ArgumentParser = args.parser
    if args.min_support < 1:
        parser.error(f"--min-support must be at least 1, got {args.min_support}")

    from dagwright import dump_flow, load_tool_manifest, mine_report
    from dagwright.io import import_tools
    from dagwright.traces import read_otel, read_traces

    calls = read_otel(args.traces) if args.otel else read_traces(args.traces)
    specs: list[Any]
    if args.tools:
        use_cwd_imports()
        specs = list(import_tools(args.tools))
    else:
        specs = list(load_tool_manifest(args.tools_manifest))
    report = mine_report(calls, specs, min_support=args.min_support)
    mined, dropped = report.offered, report.dropped

    written: dict[str, str] = {}
    if args.output is not None:
        Path(args.output).mkdir(parents=True, exist_ok=True)
        for each in mined:
            target = os.path.join(args.output, f"{each.flow.name}.flow.yaml")
            dump_flow(each.flow, target)
            written[each.flow.name] = target

    if args.json:
        data = report_data(report, written)
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return OK
    _print_report(mined, dropped, written, sessions=report.sessions, min_support=args.min_support)
    return OK


def replay_text(flow: MinedFlow) -> str:
    """The replay result in words: ``matches``, ``differs`` or ``skipped``, and why."""
    word = {True: "matches", False: "differs", None: "skipped"}[flow.replay_matches]
    note = " ".join(flow.replay_note.split())
    return f"{word}: {note}" if note and flow.replay_matches is not True else word


def report_data(report: MiningReport, written: dict[str, str]) -> dict[str, Any]:
    """The ``--json`` report: :meth:`MiningReport.to_dict` (``sessions``, ``calls``,
    ``offered``, ``dropped``), each offered flow with two more keys: ``file`` (the path
    written with ``-o``, else ``null``) and ``definition`` (the flow file's JSON form)."""
    from dagwright import dump_flow

    data = report.to_dict()
    for entry, each in zip(data["offered"], report.offered, strict=True):
        entry["file"] = written.get(each.flow.name)
        entry["definition"] = json.loads(dump_flow(each.flow, format="json"))
    return data


def _sessions_text(sessions: Sequence[str], shown: int = 3) -> str:
    names = list(sessions)
    text = ", ".join(names[:shown])
    return text + (f" +{len(names) - shown} more" if len(names) > shown else "")


def _print_report(
    mined: Sequence[MinedFlow],
    dropped: Sequence[DroppedFlow],
    written: dict[str, str],
    *,
    sessions: int,
    min_support: int,
) -> None:
    out = sys.stdout
    if not mined:
        print(
            f"no flows mined from {sessions} session(s) (a chain must repeat in at least "
            f"{min_support})"
        )
    else:
        rows = [
            [
                each.flow.name,
                str(each.support),
                _sessions_text(each.sessions),
                str(each.calls_saved),
                replay_text(each),
            ]
            for each in mined
        ]
        if out.isatty():
            _rich_table(rows, out)
        else:
            print(table(_HEADER, rows))
        print(f"\nmined {len(mined)} flow(s) from {sessions} session(s)")
    if dropped:
        print(f"\ndropped {len(dropped)} candidate(s):")
        for item in dropped:
            print(f"  {item.name} (support {item.support}): {' '.join(item.reason.split())}")
            for diagnostic in item.diagnostics:
                print(f"    {diagnostic.format()}")
    if written:
        print()
        for target in written.values():
            print(f"wrote {target}")


def _rich_table(rows: list[list[str]], out: Any) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    grid = Table(box=None, pad_edge=False, header_style="bold")
    for name in _HEADER:  # on a narrow terminal the sessions and the replay note wrap
        grid.add_column(name, no_wrap=name not in ("sessions", "replay"), overflow="fold")
    colours = {"matches": "green", "differs": "red", "skipped": "yellow"}
    for row in rows:
        style = colours.get(row[-1].split(":")[0], "")
        grid.add_row(*(Text(cell) for cell in row[:-1]), Text(row[-1], style=style))
    Console(file=out, highlight=False).print(grid)

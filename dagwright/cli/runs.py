"""``dagwright runs list | show RUN_ID | delete RUN_ID``: read (and prune) the run store
(``runs recover`` is :mod:`dagwright.cli.runs_recover`).

Never creates a store: a ``--store`` path with no file is an error (exit 2), and so is a
file that is not a dagwright store (``DW-E015``) and an unknown run (``DW-E009``).
``list`` shows the newest run first (``--status``: only the runs with that status), then
the runs whose rows cannot be read; ``show``
prints a run's header (for a failed run also its first failed step, the error and where
it was raised) and its step records, failed and cancelled ones included (map instances
with their index, sub-flow steps indented; an error with its code, type, message and
the last frame of its traceback); ``delete`` refuses a run whose lease a live owner
holds. ``runs verify``, the replay check, is :mod:`dagwright.cli.runs_verify`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dagwright.cli._common import open_store
from dagwright.cli._errors import OK, command_line_error
from dagwright.cli._progress import error_text, record_duration, record_tool, seconds
from dagwright.cli._table import table, when
from dagwright.errors import CheckpointNotFoundError

if TYPE_CHECKING:
    from dagwright.checkpoint import Lease, RunHeader, SQLiteCheckpointer
    from dagwright.results import ErrorInfo, StepRecord

_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')


def command(args: argparse.Namespace) -> int:
    """Dispatch to the action; 0 on success (errors raise and exit 2)."""
    store = open_store(args.store, create=False)
    try:
        if args.action == "list":
            return _list(store, args)
        try:
            if args.action == "show":
                return _show(store, args)
            return _delete(store, args)
        except CheckpointNotFoundError as error:
            raise command_line_error(error, store=args.store) from None
    finally:
        store.close()


def _ended(header: RunHeader) -> float | None:
    return None if header.status == "running" else header.updated_at


def _list(store: SQLiteCheckpointer, args: argparse.Namespace) -> int:
    listing = store.runs()
    runs = [h for h in reversed(listing) if args.status is None or h.status == args.status]
    unreadable = listing.unreadable
    if args.json:
        data = {
            "runs": [header.to_dict() for header in runs],
            "unreadable": [
                {"run_id": error.run_id, "code": error.code, "message": error.message}
                for error in unreadable
            ],
        }
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return OK
    if not runs and not unreadable:
        print(f"no {args.status + ' ' if args.status else ''}runs in {args.store}")
        return OK
    rows = [
        [
            header.run_id,
            header.flow_name,
            header.flow_version,
            header.status,
            when(header.started_at),
            when(_ended(header)),
        ]
        for header in runs
    ]
    print(table(("run id", "flow", "version", "status", "started", "ended"), rows))
    if unreadable:
        print(f"\n{len(unreadable)} unreadable run(s):")
        for error in unreadable:
            print(f"  {error.run_id}: [{error.code}] {' '.join(error.message.split())}")
    return OK


def _last_frame(error: ErrorInfo | None) -> re.Match[str] | None:
    if error is None or not error.traceback:
        return None
    frames = list(_FRAME.finditer(error.traceback))
    return frames[-1] if frames else None


def _frame(error: ErrorInfo | None) -> str:
    """Where the error was raised: the last frame of its traceback (``file:line in f``)."""
    last = _last_frame(error)
    if last is None:
        return ""
    where = last["file"]
    with contextlib.suppress(ValueError):  # another drive
        relative = os.path.relpath(where)
        if not relative.startswith(os.pardir):
            where = relative
    return f"{where}:{last['line']} in {last['func']}"


def _raised(error: ErrorInfo | None) -> str:
    """:func:`_frame` and the source line the traceback shows under it, if any."""
    last, frame = _last_frame(error), _frame(error)
    if last is None or error is None or error.traceback is None:
        return frame
    rest, _, after = error.traceback[last.end() :].partition("\n")
    line = after.split("\n", 1)[0].strip()
    if rest.strip() or not line or line.startswith(("File ", "^", "~", "Traceback")):
        return frame  # the frame shows no source line
    return f"{frame}: {line}"


def _first_failure(steps: tuple[StepRecord, ...]) -> StepRecord | None:
    """The first failed top-level record, in the order given (recorded order: the
    failure that stopped the run comes first)."""
    return next((record for record in steps if record.status == "failed"), None)


def _why(record: StepRecord) -> list[list[str]]:
    """The header rows that say why the run failed: the step and its error, and where
    the error was raised."""
    error = record.error
    step = record.step_id
    if error is not None and error.step_id is not None and error.step_id != step:
        step += f" ({error.step_id})"
    if error is not None and error.index is not None:
        step += f"[{error.index}]"
    rows = [["error", f"{step}: {error_text(error)}"]]
    raised = _raised(error)
    if raised:
        rows.append(["raised", raised])
    return rows


def _rows(records: tuple[StepRecord, ...], depth: int, rows: list[list[str]]) -> None:
    for record in records:
        label = "  " * depth + record.step_id
        if record.index is not None:
            label += f"[{record.index}]"
        error = error_text(record.error)
        frame = _frame(record.error)
        if frame:
            error += f" (at {frame})"
        rows.append(
            [
                label,
                record.status + (" (cached)" if record.cached else ""),
                record_tool(record),
                str(len(record.attempts)),
                seconds(record_duration(record)),
                error,
            ]
        )
        _rows(record.children, depth + 1, rows)


def _lease_text(lease: Lease | None, live: bool) -> str:
    if lease is None:
        return "none"
    state = "live" if live else "gone (a resume takes it over)"
    return f"{state}: {lease.owner.describe()}, expires {when(lease.expires_at)}"


def _show(store: SQLiteCheckpointer, args: argparse.Namespace) -> int:
    from dagwright.checkpoint import read_run

    stored = read_run(store, args.run_id)
    header = stored.header
    if args.json:
        data = stored.to_dict()
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return OK
    fields = [
        ["run", header.run_id],
        ["flow", f"{header.flow_name} v{header.flow_version}"],
        ["status", header.status],
        ["started", when(header.started_at)],
        ["ended", when(_ended(header))],
        ["inputs", json.dumps(dict(header.inputs), ensure_ascii=False)],
        ["lease", _lease_text(stored.lease, stored.live)],
    ]
    if stored.recoveries:
        fields.append(["recovered", f"{stored.recoveries} time(s) by `runs recover`"])
    for call in stored.in_doubt:
        fields.append(["in doubt", _doubt_text(call)])
    failed = _first_failure(stored.steps) if header.status == "failed" else None
    if failed is not None:
        fields[3:3] = _why(failed)
    print(table(("", ""), fields).split("\n", 1)[1])
    rows: list[list[str]] = []
    _rows(stored.steps, 0, rows)
    partial = "running" if stored.live else "incomplete"
    for step_id, records in stored.in_progress.items():
        count = stored.item_counts.get(step_id)
        done = f"{len(records)}/{count} recorded" if count is not None else "partly recorded"
        rows.append([step_id, partial, "-", "-", "-", done])
        _rows(records, 1, rows)
    print()
    if rows:
        print(table(("step", "status", "tool", "attempts", "duration", "error"), rows))
    else:
        print("no step recorded yet")
    return OK


def _doubt_text(call: Mapping[str, Any]) -> str:
    """A call of a non-idempotent tool made with no outcome recorded, in one line."""
    place = "/".join(str(part) for part in (*call["path"], call["step"]))
    if call["index"] is not None:
        place += f"[{call['index']}]"
    return (
        f"{place}: tool {call['tool']} (attempt {call['attempt']}) may have run; "
        "a resume does not call it again unless the step sets on_interrupted: retry"
    )


def _delete(store: SQLiteCheckpointer, args: argparse.Namespace) -> int:
    store.delete(args.run_id)  # refuses an unknown run and one a live owner holds
    print(f"deleted run {args.run_id} from {args.store}")
    return OK

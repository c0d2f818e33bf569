"""``dagwright runs verify RUN_ID [FILES...]``: the replay check of a stored run.

The files and ``--tools`` modules are loaded into a registry as ``dagwright run FILE
--resume ID`` loads them, and :meth:`FlowExecutor.verify` finds the run's flow there by
the name and version its header holds. The store is opened read-only in spirit: never
created (``create=False``), never written (the replay runs against a scratch store).

Prints ``run ID reproduces its N recorded steps (M reused)`` and exits 0, or the
divergence (where, the field, the recorded and new values) and exits 1. Calls the replay
withheld and recorded steps it did not reach are listed: they were not checked.
``--json`` prints :meth:`VerifyReport.to_dict` with the replay's result cut to a
summary (``success``, ``digest``, ``error``). Bad input exits 2.
"""

from __future__ import annotations

import argparse
import json
import shlex
from typing import TYPE_CHECKING, Any

from dagwright.cli._common import load_flow_files, log_lines, open_store
from dagwright.cli._errors import FAILED, OK, command_line_error
from dagwright.cli._progress import error_text
from dagwright.errors import CheckpointNotFoundError, FlowNotFoundError

if TYPE_CHECKING:
    from dagwright import VerifyReport


def command(args: argparse.Namespace) -> int:
    """Replay the run and compare; 0 it reproduces, 1 it diverges."""
    from dagwright import FlowExecutor

    _, registry, tools = load_flow_files(args.files, args.tools)
    store = open_store(args.store, create=False)
    try:
        with log_lines(), FlowExecutor(tools, registry=registry, checkpointer=store) as executor:
            try:
                report = executor.verify(args.run_id, allow_side_effects=args.allow_side_effects)
            except CheckpointNotFoundError as error:
                raise command_line_error(error, store=args.store) from None
            except FlowNotFoundError as error:
                usage = f"dagwright runs verify {shlex.quote(args.run_id)} FLOW_FILE..."
                raise FlowNotFoundError(
                    error.message,
                    hint=f"pass the run's flow file and its sub-flow files: `{usage}`",
                ) from None
    finally:
        store.close()
    if args.json:
        print(json.dumps(_json(report), indent=2, ensure_ascii=False))
    else:
        _print(report)
    return OK if report.ok else FAILED


def _json(report: VerifyReport) -> dict[str, Any]:
    data = report.to_dict()
    result = report.result
    data["result"] = {
        "success": result.success,
        "digest": result.digest,
        "error": None if result.error is None else result.error.to_dict(),
    }
    return data


def _where(path: tuple[str | int, ...]) -> str:
    """A step path as ``Divergence.where`` writes it: ``enrich[2]/fetch``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f"/{part}" if text else part)
    return text


def _print(report: VerifyReport) -> None:
    divergence = report.divergence
    if divergence is None:
        print(
            f"run {report.run_id} reproduces its {report.compared} recorded steps "
            f"({len(report.reused)} reused)"
        )
    else:
        print(f"run {report.run_id} diverges at {divergence.where}")
        print(f"  step      {divergence.step}")
        if divergence.index:
            print(f"  index     {list(divergence.index)}")
        what = "status" if divergence.kind == "status" else divergence.field
        print(f"  field     {what}")
        print(f"  recorded  {_value(divergence.recorded, divergence.missing == 'recorded')}")
        print(f"  new       {_value(divergence.new, divergence.missing == 'new')}")
        error = divergence.error
        if divergence.kind == "status" and error is not None:
            print(f"  error     {error_text(error)}")
    if report.withheld:
        places = ", ".join(_where(path) for path in report.withheld)
        print(f"not checked: calls of idempotent=False tools with no recorded result: {places}")
    if report.unreached:
        places = ", ".join(_where(path) for path in report.unreached)
        print(f"not checked: recorded steps the replay did not reach: {places}")


def _value(value: Any, missing: bool) -> str:
    if missing:
        return "(no such field)"
    return json.dumps(value, ensure_ascii=False)

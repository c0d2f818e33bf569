"""``dagwright runs recover [FILES...]``: resume every stored run whose owner is gone.

A thin client of :meth:`FlowExecutor.recover`: the flow files (and ``--tools`` modules)
are loaded into the executor's registry as ``dagwright run ... --resume`` loads them, so
each run's flow is found by its name and version; the store is opened as the reading
commands open it (never created: a missing ``--store`` is exit 2). It prints one line
per run it found (run id, flow, version, outcome: ``succeeded``, ``failed``, ``dead``,
``skipped`` or the error's code, and a detail), then a summary; ``--json`` prints
``RecoveryReport.to_dict()`` instead.

Exit codes: 0 when every resumed run succeeded and none became dead or errored (runs
another owner took are not counted against it, nor is finding nothing to recover), 1
otherwise, 2 for unusable input, 130 when interrupted. A first Ctrl-C stops the runs in
flight at their next event (recorded ``interrupted``); a second one does not wait for
them (a tool that never returns): the process ends and leaves them ``running`` with a
gone owner. The next ``recover`` takes them again either way.
"""

from __future__ import annotations

import argparse
import json
import shlex
from typing import TYPE_CHECKING

from dagwright.cli._common import load_flow_files, log_lines, open_store
from dagwright.cli._errors import FAILED, OK
from dagwright.cli._table import table
from dagwright.errors import FlowNotFoundError

if TYPE_CHECKING:
    from dagwright import RecoveryReport


def command(args: argparse.Namespace) -> int:
    """Recover the store's runs; 0 all went well, 1 a run failed, died or errored."""
    parser: argparse.ArgumentParser = args.parser
    if args.max_attempts < 1:
        parser.error(f"--max-attempts must be at least 1, got {args.max_attempts}")
    if args.max_workers < 1:
        parser.error(f"--max-workers must be at least 1, got {args.max_workers}")

    from dagwright import FlowExecutor

    store = open_store(args.store, create=False)
    try:
        _, registry, tools = load_flow_files(args.files, args.tools)
        with log_lines():
            executor = FlowExecutor(tools, registry=registry, checkpointer=store)
            interrupted = False
            try:
                report = executor.recover(args.max_attempts, max_workers=args.max_workers)
            except KeyboardInterrupt:
                # Not closed: close() would wait for the runs a second Ctrl-C left
                # running, and the process is ending (their owner goes with it).
                interrupted = True
                raise
            finally:
                if not interrupted:
                    executor.close()
    finally:
        store.close()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print(report, args)
    return OK if report.ok else FAILED


def _print(report: RecoveryReport, args: argparse.Namespace) -> None:
    if not report.runs:
        print(f"no runs to recover in {args.store}")
        return
    results = {result.run_id: result for result in report.results}
    failures = {failure.run_id: failure for failure in report.errors}
    dead, skipped = set(report.dead), set(report.skipped)
    rows = []
    for header in report.runs:
        result = results.get(header.run_id)
        if result is not None and result.success:
            outcome, detail = "succeeded", f"digest {result.digest}"
        elif result is not None:
            error = result.error
            where = f" at step {error.step_id!r}" if error and error.step_id else ""
            detail = f"[{error.code}] {_line(error.message)}{where}" if error else ""
            outcome = "failed"
        elif header.run_id in dead:
            outcome = "dead"
            detail = f"no recovery left (--max-attempts {args.max_attempts}): left alone"
        elif header.run_id in skipped:
            outcome, detail = "skipped", "another owner took it meanwhile"
        else:
            failure = failures[header.run_id]
            outcome, detail = failure.code, _line(failure.message)
        rows.append([header.run_id, header.flow_name, header.flow_version, outcome, detail])
    print(table(("run id", "flow", "version", "outcome", "detail"), rows))
    failed = len(report.results) - len(report.recovered)
    print(
        f"{len(report.runs)} run(s) to recover in {args.store}: "
        f"{len(report.recovered)} succeeded, {failed} failed, {len(report.dead)} dead, "
        f"{len(report.skipped)} skipped, {len(report.errors)} error(s)"
    )
    if any(failure.code == FlowNotFoundError.code for failure in report.errors):
        store = shlex.quote(args.store)
        print(
            "  hint: give the flow files of those runs (and of their sub-flows): "
            f"`dagwright runs recover FILE... --store {store}`"
        )


def _line(text: str) -> str:
    return " ".join(text.split())

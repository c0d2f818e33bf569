"""A subprocess for tests/test_recover_processes.py: starts runs that die, and recovers.

Usage::

    python recover_worker.py DB MODE LOG [options]

* ``MODE`` ``run``: start run ``--run-id`` with ``--seed`` in the flow of
  ``tests/crash_worker.py`` (a root, a map of six and a sibling, a join), SIGKILLing
  this process at its ``--kill-at``-th journal entry (right after it is durable, or with
  ``--kill-when before`` right before it is written).
  ``recover``: once ``--start-file`` exists (when given), one ``FlowExecutor.recover``
  on the store; prints ``{"report": RecoveryReport.to_dict(), "summaries": {run id:
  crash_worker.summary(result)}}``.
* ``LOG``: every tool call appends ``<run_id>:<step_id>:<index>`` (``-`` for a plain
  step) with one ``O_APPEND`` write and an ``fsync`` before it returns, so the test
  counts the calls of every process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from dagwright import FlowExecutor, FlowRegistry, Tool, current_call, tool
from tests import crash_worker as cw


def _note(log: Path, step: str) -> None:
    call = current_call()
    assert call is not None
    index = ",".join(map(str, call.index)) or "-"
    cw._note(log, f"{call.run_id}:{step}:{index}")


def make_tools(log: str | Path) -> list[Tool]:
    """The tools of ``crash_worker.make_flow()``, each call noted with its run id."""
    path = Path(log)

    @tool
    def prepare(n: int, seed: int) -> cw.Prepared:
        """Builds the items of the map from the run's inputs."""
        _note(path, "root")
        items = [cw.Item(i=i, v=seed * 100 + 3 * i + 1) for i in range(n)]
        return cw.Prepared(items=items, base=seed + 7)

    @tool
    def square(item: cw.Item, base: int) -> cw.Squared:
        """One map instance: the square of the item's value plus the base."""
        _note(path, cw.MAP_STEP)
        time.sleep(0.001)  # lets instances overlap
        return cw.Squared(i=item.i, value=item.v * item.v + base)

    @tool
    async def shift(base: int) -> cw.Offset:
        """A sibling branch of the map, on an async tool."""
        _note(path, "side")
        await asyncio.sleep(0.001)
        return cw.Offset(offset=base * 3)

    @tool
    def combine(squares: list[cw.Squared], offset: int) -> cw.Total:
        """The join: needs the map's results and the sibling's output."""
        _note(path, "join")
        return cw.Total(total=sum(s.value for s in squares) + offset, count=len(squares))

    return [prepare, square, shift, combine]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("mode", choices=("run", "recover"))
    parser.add_argument("log")
    parser.add_argument("--run-id", default="r1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kill-at", type=int, default=0)
    parser.add_argument("--kill-when", choices=("after", "before"), default="after")
    parser.add_argument("--max-attempts", type=int, default=3)
    parser.add_argument("--max-workers", type=int, default=4)
    parser.add_argument("--start-file", default=None)
    args = parser.parse_args(argv)

    checkpointer = cw.KillingCheckpointer(
        args.db, kill_at=args.kill_at, before=args.kill_when == "before"
    )
    registry = FlowRegistry()
    registry.register(cw.make_flow())
    with FlowExecutor(
        make_tools(args.log), registry=registry, checkpointer=checkpointer, max_concurrency=4
    ) as executor:
        if args.mode == "run":
            result = executor.run("crashflow", cw.run_inputs(args.seed), run_id=args.run_id)
            printed: dict[str, object] = {"summary": cw.summary(result)}
        else:
            if args.start_file is not None:
                cw._wait_for(Path(args.start_file))
            report = executor.recover(args.max_attempts, max_workers=args.max_workers)
            printed = {
                "report": report.to_dict(),
                "summaries": {r.run_id: cw.summary(r) for r in report.results},
            }
    checkpointer.close()
    json.dump(printed, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

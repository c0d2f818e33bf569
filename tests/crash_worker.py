"""A subprocess for tests/test_crash_resume.py: runs, crashes and resumes checkpointed runs.

Usage::

    python crash_worker.py DB MODE LANE MAX_CONCURRENCY KILL_AT LOG [options]

* ``MODE`` ``run``: start run ``--run-id`` (default ``r1``); with ``KILL_AT`` N > 0 the
  process SIGKILLs itself right after the Nth journal entry is durably appended
  (``--kill-when before``: right before the Nth entry is written).
  ``resume``: resume every run of ``--run-id`` (comma separated) in a fresh executor.
  ``many``: start ``--runs`` runs (ids ``<prefix>-<k>``, seed k) at once in this process,
  after ``--start-file`` exists, so that several processes write one file together.
* ``LANE`` ``sync`` (``run``/``resume``) or ``async`` (``arun``/``aresume``).
* ``LOG``: every tool call appends ``<step_id>:<index>`` (``-`` for a plain step) to it,
  with one ``write`` and an ``fsync``, before it returns, so the test counts executions.

Modes ``run`` (when not killed), ``resume`` and ``many`` print one JSON object to stdout,
by run id: digest, success, output and the map's per-instance ``[index, outputs]``; a
resume refused because another live process holds the run prints ``{"locked": true}``.

The flow is a DAG that mixes a map with plain steps::

    root ──> fan (map over items) ──> join
        └──> side (async tool) ─────┘
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dagwright import DAGFlow, ExecutionResult, FlowExecutor, MapStep, Step, Tool, tool
from dagwright.checkpoint import Owner, SQLiteCheckpointer
from dagwright.errors import RunLockedError

N_ITEMS = 6
MAP_STEP = "fan"
PLAIN_STEPS = ("root", "side", "join")


class Item(BaseModel):
    i: int
    v: int


class Prepared(BaseModel):
    items: list[Item]
    base: int


class Squared(BaseModel):
    i: int
    value: int


class Offset(BaseModel):
    offset: int


class Total(BaseModel):
    total: int
    count: int


def _note(log: Path, line: str) -> None:
    """Append one line durably: a single O_APPEND write, then fsync."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def make_tools(log: str | Path) -> list[Tool]:
    """The flow's tools; each call appends ``<step_id>:<index>`` to ``log``."""
    path = Path(log)

    @tool
    def prepare(n: int, seed: int) -> Prepared:
        """Builds the items of the map from the run's inputs."""
        _note(path, "root:-")
        items = [Item(i=i, v=seed * 100 + 3 * i + 1) for i in range(n)]
        return Prepared(items=items, base=seed + 7)

    @tool
    def square(item: Item, base: int) -> Squared:
        """One map instance: the square of the item's value plus the base."""
        _note(path, f"{MAP_STEP}:{item.i}")
        time.sleep(0.001)  # lets instances overlap when the lane runs several at once
        return Squared(i=item.i, value=item.v * item.v + base)

    @tool
    async def shift(base: int) -> Offset:
        """A sibling branch of the map, on an async tool."""
        _note(path, "side:-")
        await asyncio.sleep(0.001)
        return Offset(offset=base * 3)

    @tool
    def combine(squares: list[Squared], offset: int) -> Total:
        """The join: needs the map's results and the sibling's output."""
        _note(path, "join:-")
        return Total(total=sum(s.value for s in squares) + offset, count=len(squares))

    return [prepare, square, shift, combine]


def make_flow() -> DAGFlow:
    """The DAG: root, then a map and a sibling step at once, then a join of both."""
    return DAGFlow(
        "crashflow",
        [
            Step(id="root", tool="prepare"),
            MapStep(
                id=MAP_STEP,
                over="items",
                tool="square",
                item="item",
                results="squares",
                max_concurrency=4,
                depends_on=("root",),
            ),
            Step(id="side", tool="shift", depends_on=("root",)),
            Step(id="join", tool="combine", depends_on=(MAP_STEP, "side")),
        ],
    )


def run_inputs(seed: int) -> dict[str, int]:
    """The inputs of a run with this seed."""
    return {"n": N_ITEMS, "seed": seed}


def summary(result: ExecutionResult) -> dict[str, Any]:
    """What the tests compare: digest, output and the map's per-instance results."""
    try:
        fan = result.step(MAP_STEP)
        instances = [[child.index, dict(child.outputs)] for child in fan.children]
    except KeyError:
        instances = None
    return {
        "digest": result.digest,
        "success": result.success,
        "error": None if result.error is None else str(result.error),
        "output": result.output,
        "instances": instances,
        "statuses": {record.step_id: record.status for record in result.steps},
    }


class KillingCheckpointer(SQLiteCheckpointer):
    """An SQLiteCheckpointer that SIGKILLs its own process at the ``kill_at``-th entry.

    ``before=False``: right after that entry was durably appended (a batch is split
    so the entries after it are not written); ``before=True``: right before it is
    written (the entries before it in its batch are written first).
    """

    def __init__(self, path: str | Path, *, kill_at: int, before: bool, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.kill_at = kill_at
        self.before = before
        self.count = 0
        self._count_lock = threading.Lock()

    def append(self, run_id: str, entries: Sequence[Mapping[str, Any]], owner: Owner) -> None:
        entries = list(entries)
        with self._count_lock:
            first = self.count + 1
            self.count += len(entries)
            last = self.count
        if self.kill_at and first <= self.kill_at <= last:
            keep = self.kill_at - first + (0 if self.before else 1)
            if keep:
                super().append(run_id, entries[:keep], owner)
            os.kill(os.getpid(), signal.SIGKILL)
        super().append(run_id, entries, owner)


def _wait_for(path: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"start file {path} never appeared")
        time.sleep(0.005)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("mode", choices=("run", "resume", "many"))
    parser.add_argument("lane", choices=("sync", "async"))
    parser.add_argument("max_concurrency", type=int)
    parser.add_argument("kill_at", type=int)
    parser.add_argument("log")
    parser.add_argument("--kill-when", choices=("after", "before"), default="after")
    parser.add_argument("--run-id", default="r1", help="comma separated for resume")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    parser.add_argument("--runs", type=int, default=1, help="mode many: runs at once")
    parser.add_argument("--prefix", default="p", help="mode many: run id prefix")
    parser.add_argument("--start-file", default=None, help="modes many, resume: wait for it")
    parser.add_argument("--lease-s", type=float, default=30.0)
    args = parser.parse_args(argv)

    checkpointer = KillingCheckpointer(
        args.db,
        kill_at=args.kill_at,
        before=args.kill_when == "before",
        synchronous=args.synchronous,
        flush_every=1,
        lease_s=args.lease_s,
    )
    flow = make_flow()
    tools = make_tools(args.log)
    results: dict[str, ExecutionResult] = {}
    locked: list[str] = []
    with FlowExecutor(
        tools, checkpointer=checkpointer, max_concurrency=args.max_concurrency
    ) as executor:
        if args.mode == "run":
            inputs = run_inputs(args.seed)
            if args.lane == "sync":
                results[args.run_id] = executor.run(flow, inputs, run_id=args.run_id)
            else:
                results[args.run_id] = asyncio.run(executor.arun(flow, inputs, run_id=args.run_id))
        elif args.mode == "resume":
            if args.start_file is not None:
                _wait_for(Path(args.start_file))
            for run_id in args.run_id.split(","):
                try:
                    if args.lane == "sync":
                        results[run_id] = executor.resume(run_id, flow)
                    else:
                        results[run_id] = asyncio.run(executor.aresume(run_id, flow))
                except RunLockedError:
                    locked.append(run_id)
        else:
            if args.start_file is not None:
                _wait_for(Path(args.start_file))
            ids = [f"{args.prefix}-{k}" for k in range(args.runs)]
            if args.lane == "sync":
                threads = [
                    threading.Thread(
                        target=lambda k=k, rid=rid: results.__setitem__(
                            rid, executor.run(flow, run_inputs(k), run_id=rid)
                        )
                    )
                    for k, rid in enumerate(ids)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            else:

                async def all_runs() -> list[ExecutionResult]:
                    return await asyncio.gather(
                        *(
                            executor.arun(flow, run_inputs(k), run_id=rid)
                            for k, rid in enumerate(ids)
                        )
                    )

                results.update(zip(ids, asyncio.run(all_runs()), strict=True))
    checkpointer.close()
    printed: dict[str, Any] = {rid: summary(result) for rid, result in results.items()}
    printed.update({rid: {"locked": True} for rid in locked})
    json.dump(printed, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

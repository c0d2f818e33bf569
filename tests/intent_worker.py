"""A subprocess for tests/test_at_most_once_processes.py: a run that dies inside a
non-idempotent call, and its resume.

Usage::

    python intent_worker.py DB MODE KEYS [--lane sync|async] [--flow single|map]
        [--retry] [--kill-at INDEX]

* ``MODE`` ``run`` starts run ``pay``; ``resume`` resumes it in a fresh executor. Both
  print one JSON object: ``success``, ``output``, and the error's ``code``, ``step``
  and ``index``.
* ``KEYS``: the non-idempotent tool ``charge`` appends ``<index> <idempotency key>`` to
  it (one ``write`` and an ``fsync``) when it is called: the side effect the tests count.
* ``--kill-at INDEX`` (mode ``run``): the call of ``charge`` for map item ``INDEX``
  (``-1``: the plain step) first checks, through a connection of its own, that its
  intent is durable in the store, writes its key, then SIGKILLs its own process: the
  process dies inside the call, after the side effect, before the result is recorded.
* ``--flow single``: ``prepare -> charge -> note``. ``--flow map``: ``prepare`` then a
  map of ``charge`` over five amounts (one at a time, ``error_policy="collect"``).
* ``--retry``: the charging step says ``on_interrupted="retry"``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dagwright import DAGFlow, ExecutionResult, FlowExecutor, MapStep, Step, current_call, tool
from dagwright.checkpoint import SQLiteCheckpointer, read_run

RUN_ID = "pay"
CONFIG: dict[str, Any] = {"kill_at": None}
"""Set by :func:`main`: the store, the keys file and where to die."""


class Amounts(BaseModel):
    amount: int
    amounts: list[int]


class Receipt(BaseModel):
    receipt: str


class Noted(BaseModel):
    noted: str


@tool
def prepare(base: int) -> Amounts:
    """The amounts to charge."""
    return Amounts(amount=base, amounts=[base + i for i in range(5)])


@tool(idempotent=False)
def charge(amount: int) -> Receipt:
    """Charge ``amount``: records the call's idempotency key, as a payment service would."""
    context = current_call()
    assert context is not None
    index = context.index[0] if context.index else -1
    dying = CONFIG["kill_at"] == index
    if dying:
        with SQLiteCheckpointer(CONFIG["db"]) as other:
            doubt = read_run(other, RUN_ID).in_doubt
        if not any(call["step"] == context.step_id for call in doubt):
            raise AssertionError(f"the call's intent is not durable: {doubt}")
    with open(CONFIG["keys"], "a", encoding="utf-8") as keys:
        keys.write(f"{index} {context.idempotency_key}\n")
        keys.flush()
        os.fsync(keys.fileno())
    if dying:
        os.kill(os.getpid(), signal.SIGKILL)
    return Receipt(receipt=f"paid-{amount}")


@tool
def note(receipt: str) -> Noted:
    """Write the receipt down."""
    return Noted(noted=receipt)


def build_flow(kind: str, retry: bool) -> DAGFlow:
    on_interrupted = "retry" if retry else "fail"
    if kind == "single":
        steps: list[Any] = [
            Step(id="prepare", tool="prepare"),
            Step(id="charge", tool="charge", depends_on="prepare", on_interrupted=on_interrupted),
            Step(id="note", tool="note", depends_on="charge"),
        ]
    else:
        steps = [
            Step(id="prepare", tool="prepare"),
            MapStep(
                id="charge",
                over="amounts",
                tool="charge",
                item="amount",
                results="receipts",
                errors="failed",
                max_concurrency=1,
                error_policy="collect",
                depends_on="prepare",
                on_interrupted=on_interrupted,
            ),
        ]
    return DAGFlow("pay", steps)


def describe(result: ExecutionResult) -> dict[str, Any]:
    error = result.error
    return {
        "success": result.success,
        "output": result.output,
        "code": None if error is None else error.code,
        "step": None if error is None else error.step_id,
        "index": None if error is None else error.index,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path)
    parser.add_argument("mode", choices=["run", "resume"])
    parser.add_argument("keys", type=Path)
    parser.add_argument("--lane", choices=["sync", "async"], default="sync")
    parser.add_argument("--flow", choices=["single", "map"], default="single")
    parser.add_argument("--retry", action="store_true")
    parser.add_argument("--kill-at", type=int, default=None)
    args = parser.parse_args()
    CONFIG.update(db=args.db, keys=args.keys)
    ex = FlowExecutor(
        [prepare, charge, note], checkpointer=SQLiteCheckpointer(args.db), max_concurrency=1
    )
    flow = build_flow(args.flow, args.retry)
    if args.mode == "run":
        CONFIG["kill_at"] = args.kill_at
        if args.lane == "sync":
            result = ex.run(flow, {"base": 100}, run_id=RUN_ID)
        else:
            result = asyncio.run(ex.arun(flow, {"base": 100}, run_id=RUN_ID))
    elif args.lane == "sync":
        result = ex.resume(RUN_ID, flow)
    else:
        result = asyncio.run(ex.aresume(RUN_ID, flow))
    ex.close()
    print(json.dumps(describe(result), sort_keys=True))


if __name__ == "__main__":
    main()
    sys.exit(0)

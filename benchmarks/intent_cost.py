"""What at-most-once costs: ``python benchmarks/intent_cost.py``.

Times ``_workloads.linear(100)`` (100 trivial validated steps, executor
``max_concurrency=1``) journaled to SQLite, once with the idempotent tool ``inc`` and once
with the same function registered ``idempotent=False`` (``send``), whose every call first
makes an intent entry durable: one extra journal write per call. It prints, per store
(``sqlite-normal``, ``sqlite-full``), the median time per run of each variant, the ratio
non-idempotent / idempotent, the extra time per call, and the journal writes per run
counted on the store (100 for ``inc``, 200 for ``send``); and, with no store, the same
two variants (idempotent tools must pay nothing new, and without a store nothing is
journaled at all: ratio ~1).

Sampling as in ``checkpoint_cost.py``: every sample builds a fresh executor over a fresh
store, untimed, then times ``--number`` runs with fresh run ids; ``os.sync()`` before each
sample; the samples of the variants are interleaved, ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(1, str(_ROOT))

import _workloads as w  # noqa: E402

from dagwright import Flow, FlowExecutor, Step, tool  # noqa: E402
from dagwright.checkpoint import Owner, SQLiteCheckpointer  # noqa: E402

send = tool(name="send", idempotent=False)(w.add_one)
"""``inc``'s function as a non-idempotent tool."""

STEPS = 100
STORES = ("plain", "sqlite-normal", "sqlite-full")
VARIANTS = ("inc", "send")


class CountingSQLite(SQLiteCheckpointer):
    """An SQLite store that counts its ``append`` calls (journal writes)."""

    appends = 0

    def append(self, run_id: str, entries: Sequence[Mapping[str, Any]], owner: Owner) -> None:
        CountingSQLite.appends += 1
        super().append(run_id, entries, owner)


def sample(store: str, variant: str, number: int, directory: Path, seq: int) -> float:
    """Seconds per run over ``number`` runs of a fresh executor and store."""
    flow = Flow(
        f"{variant}-linear{STEPS}",
        [Step(tool=variant) for _ in range(STEPS)],
        on_context_collision="overwrite",
    )
    with ExitStack() as stack:
        checkpointer = None
        if store != "plain":
            synchronous = "NORMAL" if store == "sqlite-normal" else "FULL"
            checkpointer = CountingSQLite(directory / f"{seq}.sqlite", synchronous=synchronous)
            stack.callback(checkpointer.close)
        executor = FlowExecutor([w.inc, send], max_concurrency=1, checkpointer=checkpointer)
        stack.callback(executor.close)
        executor.compile(flow)
        os.sync()
        gc.collect()
        start = time.perf_counter()
        for _ in range(number):
            result = executor.run(flow, {"n": 0})
            if not result.success:
                raise AssertionError(f"{flow.name} failed: {result.error}")
            w.check_linear(result.output, STEPS)
        return (time.perf_counter() - start) / number


def writes_per_run(store: str, variant: str, directory: Path) -> float:
    """Journal writes of one run, counted on the store."""
    CountingSQLite.appends = 0
    sample(store, variant, 1, directory, -1)
    return float(CountingSQLite.appends)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--number", type=int, default=5, help="runs per sample (default 5)")
    args = parser.parse_args(argv)
    times: dict[tuple[str, str], list[float]] = {(s, v): [] for s in STORES for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        seq = 0
        for _ in range(args.repeat):
            for store in STORES:
                for variant in VARIANTS:
                    seq += 1
                    times[store, variant].append(
                        sample(store, variant, args.number, directory, seq)
                    )
        writes = {
            (store, variant): writes_per_run(store, variant, directory)
            for store in STORES[1:]
            for variant in VARIANTS
        }
    print(f"linear{STEPS}: idempotent `inc` vs non-idempotent `send` (one intent per call)")
    print(f"{'store':<14} {'inc ms':>9} {'send ms':>9} {'ratio':>7} {'extra/call':>11} writes")
    for store in STORES:
        inc = statistics.median(times[store, "inc"])
        sent = statistics.median(times[store, "send"])
        extra_us = (sent - inc) / STEPS * 1e6
        counted = "-"
        if store != "plain":
            counted = f"{writes[store, 'inc']:.0f} -> {writes[store, 'send']:.0f}"
        print(
            f"{store:<14} {inc * 1e3:>9.2f} {sent * 1e3:>9.2f} {sent / inc:>6.2f}x "
            f"{extra_us:>8.0f} us {counted}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

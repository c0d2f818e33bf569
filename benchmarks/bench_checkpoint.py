"""Checkpointing overhead benchmarks (pytest-benchmark): ``make bench``.

The workload is ``_workloads.linear(n)`` (``n`` trivial validated ``inc`` steps, inline:
executor ``max_concurrency=1``) for ``n`` in ``STEPS`` = (100, 1000), run with each of
the ``STORES``:

* ``plain``: no checkpointer (the baseline every ratio divides by);
* ``memory``: ``InMemoryCheckpointer()``;
* ``sqlite-normal``: ``SQLiteCheckpointer(path, synchronous="NORMAL")``;
* ``sqlite-full``: ``SQLiteCheckpointer(path, synchronous="FULL")``, the CLI's default:
  one fsync per step, so it measures the disk more than dagwright; reference only.

Targets (DESIGN.md section 7; checked and printed by ``python
benchmarks/checkpoint_cost.py``, which also times ChainWeaver 0.14.1): the run with a
checkpointer takes at most ``TARGET_RATIO[store]`` times the plain run (memory x1.3,
SQLite NORMAL x3) at both sizes, and ``t(1000) / t(100)`` stays within
``TARGET_GROWTH`` (11x: linear in ``n``, where a snapshot per step would be quadratic).

Every run gets a fresh random ``run_id`` (the default): a checkpointer refuses an id it
already holds. ``plain`` and ``memory`` use the ordinary calibrated ``benchmark(...)``
(the in-memory store keeps every run's journal; its size does not affect a run's cost).
The SQLite stores use ``benchmark.pedantic`` with a fresh database file (and a fresh
executor, compiled) built by the untimed setup of every round, so the timed run never
writes into a file grown by earlier rounds, and ``os.sync()`` in that setup, so the
run's fsyncs do not write back what earlier rounds left in the page cache. A fresh file
is not a flattering choice: the run creates and grows the WAL (measured on the 2-core VM:
NORMAL about as fast as into a reused file, FULL slower). Executors compile the flow
before the timed region. The stores, sizes and targets are module-level names so that
``checkpoint_cost.py`` can import them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

import _workloads as w
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from dagwright import (
    Checkpointer,
    ExecutionResult,
    FlowExecutor,
    InMemoryCheckpointer,
    SQLiteCheckpointer,
)

Store = Literal["plain", "memory", "sqlite-normal", "sqlite-full"]
STORES: tuple[Store, ...] = ("plain", "memory", "sqlite-normal", "sqlite-full")
STEPS: tuple[int, ...] = (100, 1000)

# Targets (DESIGN.md section 7): run time with the store / run time without one.
TARGET_RATIO: dict[Store, float] = {"memory": 1.3, "sqlite-normal": 3.0}
# t(1000) / t(100): 10x is linear; a snapshot-per-step store grows towards 100x.
TARGET_GROWTH = 11.0
# ChainWeaver 0.14.1 on the 100-step flow (LESSONS.md), for reference.
CHAINWEAVER_RATIO_MEMORY = 3.1
CHAINWEAVER_RATIO_FILES = 25.0

# pedantic rounds of the SQLite stores (one run per round, each into a fresh file).
SQLITE_ROUNDS: dict[tuple[Store, int], int] = {
    ("sqlite-normal", 100): 40,
    ("sqlite-normal", 1000): 10,
    ("sqlite-full", 100): 10,
    ("sqlite-full", 1000): 4,
}


def make_checkpointer(store: Store, path: Path) -> Checkpointer | None:
    """The checkpointer of ``store`` (``path``: the SQLite file; unused otherwise)."""
    if store == "plain":
        return None
    if store == "memory":
        return InMemoryCheckpointer()
    synchronous = "NORMAL" if store == "sqlite-normal" else "FULL"
    return SQLiteCheckpointer(path, synchronous=synchronous)


def make_executor(store: Store, path: Path, stack: ExitStack) -> FlowExecutor:
    """An inline executor (``max_concurrency=1``) over ``store``; ``stack`` closes both."""
    checkpointer = make_checkpointer(store, path)
    if isinstance(checkpointer, SQLiteCheckpointer):
        stack.callback(checkpointer.close)
    executor = FlowExecutor(w.TOOLS, max_concurrency=1, checkpointer=checkpointer)
    stack.callback(executor.close)
    return executor


def check(result: ExecutionResult, steps: int) -> None:
    """Fail loudly if a run did not compute what it should."""
    if not result.success:
        raise AssertionError(f"linear{steps} failed: {result.error}")
    w.check_linear(result.output, steps)


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    """Closes the executors and checkpointers a benchmark built."""
    with ExitStack() as exits:
        yield exits


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("store", ["plain", "memory"])
def test_checkpoint_linear(
    benchmark: BenchmarkFixture, stack: ExitStack, tmp_path: Path, store: Store, steps: int
) -> None:
    """A linear flow without a checkpointer, and with the in-memory one (target x1.3)."""
    benchmark.group = f"checkpoint-linear{steps}"
    flow = w.linear(steps)
    executor = make_executor(store, tmp_path / "unused.sqlite", stack)
    executor.compile(flow)
    result = benchmark(executor.run, flow, w.LINEAR_INPUTS)
    check(result, steps)


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("store", ["sqlite-normal", "sqlite-full"])
def test_checkpoint_linear_sqlite(
    benchmark: BenchmarkFixture, stack: ExitStack, tmp_path: Path, store: Store, steps: int
) -> None:
    """A linear flow journaled to SQLite, a fresh file per round (NORMAL target x3)."""
    benchmark.group = f"checkpoint-linear{steps}"
    flow = w.linear(steps)
    files = itertools.count()

    def fresh() -> tuple[tuple[FlowExecutor], dict[str, Any]]:
        executor = make_executor(store, tmp_path / f"round{next(files)}.sqlite", stack)
        executor.compile(flow)
        os.sync()  # the timed run's fsyncs must not write back earlier rounds' files
        return (executor,), {}

    def run(executor: FlowExecutor) -> ExecutionResult:
        return executor.run(flow, w.LINEAR_INPUTS)

    result: ExecutionResult = benchmark.pedantic(  # type: ignore[no-untyped-call]
        run, setup=fresh, rounds=SQLITE_ROUNDS[(store, steps)], warmup_rounds=1
    )
    check(result, steps)

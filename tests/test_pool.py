"""The executor's worker pool: bounded, ordered, an Executor for event loops."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import CancelledError

import pytest

from dagwright.lanes.pool import WorkerPool
from tests.overlap import Overlap


def test_submit_returns_futures_with_results_and_exceptions() -> None:
    pool = WorkerPool(2)
    ok = pool.submit(lambda a, b: a + b, 2, 3)
    bad = pool.submit(lambda: 1 / 0)
    assert ok.result(timeout=5) == 5
    with pytest.raises(ZeroDivisionError):
        bad.result(timeout=5)
    pool.shutdown()


def test_never_more_than_max_workers_at_once() -> None:
    overlap = Overlap(3)
    pool = WorkerPool(3)
    futures = [pool.submit(overlap.meet) for _ in range(9)]
    for future in futures:
        future.result(timeout=10)
    pool.shutdown()
    assert overlap.peak == 3


def test_usable_by_an_event_loop() -> None:
    pool = WorkerPool(2)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, sum, [1, 2, 3])

    assert asyncio.run(main()) == 6
    pool.shutdown()


def test_shutdown_refuses_new_work_and_can_cancel_queued_futures() -> None:
    pool = WorkerPool(1)
    gate, started = threading.Event(), threading.Event()

    def hold() -> bool:
        started.set()
        return gate.wait(10)

    first = pool.submit(hold)
    queued = pool.submit(lambda: "never")
    assert started.wait(10)
    done = threading.Thread(target=pool.shutdown, kwargs={"cancel_futures": True})
    done.start()
    gate.set()
    done.join(10)
    assert first.result(timeout=5) is True
    with pytest.raises(CancelledError):
        queued.result(timeout=5)
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)

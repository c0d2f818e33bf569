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


@pytest.mark.timeout(20)
def test_an_abandoned_call_leaves_the_pool_and_is_replaced() -> None:
    from dagwright.lanes.pool import Ticket

    pool = WorkerPool(2)
    entered, release = threading.Event(), threading.Event()
    stuck = Ticket()
    pool.post(lambda: (entered.set(), release.wait(10)), ticket=stuck)
    assert entered.wait(10)
    assert pool.abandon(stuck) is True  # it was running: its thread left the pool
    assert pool.abandon(stuck) is False  # once only
    assert pool.abandoned == 1
    assert pool.live_workers == 1  # a replacement took its place (threads start on demand)
    overlap = Overlap(2)  # both live workers serve calls while the stuck one still runs
    futures = [pool.submit(overlap.meet) for _ in range(2)]
    for future in futures:
        future.result(timeout=10)
    release.set()
    pool.shutdown(wait=True)  # never waits for the abandoned thread


@pytest.mark.timeout(20)
def test_a_call_abandoned_before_it_starts_never_runs() -> None:
    from dagwright.lanes.pool import Ticket

    pool = WorkerPool(1)
    entered, release = threading.Event(), threading.Event()
    pool.post(lambda: (entered.set(), release.wait(10)))
    assert entered.wait(10)
    ran: list[int] = []
    queued = Ticket()
    pool.post(ran.append, 1, ticket=queued)
    assert pool.abandon(queued) is False  # it had not started
    release.set()
    assert pool.submit(lambda: 2).result(timeout=10) == 2  # the queue moved past it
    assert ran == []
    assert pool.abandoned == 0
    pool.shutdown()


@pytest.mark.timeout(20)
def test_a_worker_blocked_on_a_nested_run_lends_its_place() -> None:
    from dagwright.lanes.pool import block_worker

    pool = WorkerPool(1)

    def nested() -> int:
        blocked = block_worker()
        assert blocked is pool
        try:  # the only worker waits for a call queued behind it
            return pool.submit(lambda: 41).result(timeout=10) + 1
        finally:
            blocked.unblock()

    assert pool.submit(nested).result(timeout=10) == 42
    assert pool.submit(lambda: 1).result(timeout=10) == 1
    pause = threading.Event()
    for _ in range(100):  # the borrowed place is given back once a call ends
        if pool.live_workers == 1:
            break
        pool.submit(lambda: None).result(timeout=10)
        pause.wait(0.01)
    assert pool.live_workers == 1
    assert block_worker() is None  # the test's own thread is no worker
    pool.shutdown()


@pytest.mark.timeout(20)
def test_threads_start_on_demand_never_more_than_calls_at_once() -> None:
    pool = WorkerPool(8000)
    for _ in range(50):  # one call at a time: one thread does
        assert pool.submit(lambda: 1).result(timeout=10) == 1
    assert pool.live_workers == 1
    overlap = Overlap(3)  # three at once: three threads, still not 8000
    futures = [pool.submit(overlap.meet) for _ in range(3)]
    for future in futures:
        future.result(timeout=10)
    assert pool.live_workers == 3
    pool.shutdown()

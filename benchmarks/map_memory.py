"""Peak memory of a 100,000-item map: ``python benchmarks/map_memory.py``.

A ``MapStep`` starts its instances lazily, in index order, at most ``max_concurrency`` at
a time: nothing per instance exists before the instance starts, except its slot in the
result lists. So a map's peak memory should be what the run returns (its ``results`` and
its per-instance records) plus a small constant, not a pending task per item.

The script measures, with ``tracemalloc`` (Python allocations, every thread), for
100,000 items ``x`` and the tool ``echo(x: int) -> Echo(value=x)`` (input and output
validated by pydantic):

* **results alone**: building ``[{"value": x} for x in xs]``, the list the map writes;
* **dagwright, sync lane**: ``executor.run`` of one ``MapStep`` (map and executor
  ``max_concurrency=8``) with the sync ``echo``;
* **dagwright, async lane**: ``await executor.arun(...)`` with the async ``aecho``;
* **naive asyncio**: every item's task created up front (``asyncio.create_task`` for all
  100,000, each doing the same validate / call / dump under an ``asyncio.Semaphore(8)``),
  then ``asyncio.gather``;
* **naive thread pool**: ``ThreadPoolExecutor(8).map`` of the same work, which submits
  every item (a ``Future`` and a work item each) before the first result comes back.

For each: ``peak`` (the highest traced total during the run, above what was allocated
before it), ``retained`` (still allocated when the run has returned, while its result is
alive: what the run hands back) and ``transient = peak - retained`` (what the run needed
on the way and released). "live tasks" is the most asyncio tasks alive at once: sampled
from inside ``aecho`` every 1,000th item on the async lane, counted right after the
tasks are created for the naive baseline (asyncio rows only).

The verdict compares transient memory per item: a lazy map's transient is a few
pointer-sized slots per item (the result lists being assembled), while creating every
task up front costs a task, a coroutine frame and a future per item.

Options: ``--items N`` (default 100,000), ``--concurrency C`` (default 8). Takes about
a minute on a 2-core machine (``tracemalloc`` makes allocation-heavy code several times
slower, so the time column is no speed benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from dagwright import ExecutionResult, Flow, FlowExecutor, MapStep, Tool, tool

ITEMS = 100_000
CONCURRENCY = 8
SAMPLE_EVERY = 1000
MIB = 1024 * 1024

# Verdict thresholds: a lazy map's transient memory per item must stay below this
# fraction of the naive all-tasks-up-front baseline's, and its live tasks within the bound.
MAX_TRANSIENT_RATIO = 0.25


class Echo(BaseModel):
    """What ``echo`` returns: its item."""

    value: int


class _TaskProbe:
    """The most asyncio tasks seen alive at once (sampled by ``aecho``)."""

    most = 0

    def sample(self) -> None:
        """Note how many asyncio tasks are alive now."""
        self.most = max(self.most, len(asyncio.all_tasks()))


_probe = _TaskProbe()


def echo_value(x: int) -> Echo:
    """Return the item."""
    return Echo(value=x)


async def echo_value_async(x: int) -> Echo:
    """Return the item, as a coroutine (never suspends); every 1,000th item samples the
    live asyncio tasks."""
    if x % SAMPLE_EVERY == 0:
        _probe.sample()
    return Echo(value=x)


echo: Tool = tool(name="echo")(echo_value)
aecho: Tool = tool(name="aecho")(echo_value_async)
_ECHO_INPUT = echo.input_schema


def map_flow(tool_name: str, concurrency: int) -> Flow:
    """One map step applying ``tool_name`` to every element of ``xs``, into ``out``."""
    step = MapStep(
        id="all", over="xs", tool=tool_name, item="x", results="out", max_concurrency=concurrency
    )
    return Flow(f"map-memory-{tool_name}", [step])


def validated_echo(x: int) -> dict[str, Any]:
    """What one instance does, without dagwright: validate, call, dump to JSON mode."""
    return echo_value(_ECHO_INPUT.model_validate({"x": x}).x).model_dump(mode="json")  # type: ignore[attr-defined]


async def validated_echo_async(x: int, gate: asyncio.Semaphore) -> dict[str, Any]:
    """The same, as a task bounded by ``gate``."""
    async with gate:
        validated = _ECHO_INPUT.model_validate({"x": x})
        model = await _echo_plain(validated.x)  # type: ignore[attr-defined]
        return model.model_dump(mode="json")


async def _echo_plain(x: int) -> Echo:
    return Echo(value=x)


async def naive_gather(xs: list[int], concurrency: int) -> list[dict[str, Any]]:
    """Create every task up front, then gather: the baseline a lazy map avoids."""
    gate = asyncio.Semaphore(concurrency)
    tasks = [asyncio.create_task(validated_echo_async(x, gate)) for x in xs]
    # Every task is alive now (none has run yet); counted without building a set.
    _probe.most = max(_probe.most, 1 + sum(not task.done() for task in tasks))
    return await asyncio.gather(*tasks)


@dataclass(frozen=True)
class Row:
    """One measurement (bytes and seconds)."""

    name: str
    peak: int
    retained: int
    seconds: float
    live_tasks: int | None

    @property
    def transient(self) -> int:
        """What the run allocated on the way and released before returning."""
        return max(0, self.peak - self.retained)


def measure(
    name: str, fn: Callable[[], Any], check: Callable[[Any], None], sample_tasks: bool = False
) -> Row:
    """Run ``fn`` once under ``tracemalloc``; ``check`` its result while it is alive."""
    _probe.most = 0
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    check(result)
    del result
    gc.collect()
    return Row(name, peak - base, current - base, seconds, _probe.most if sample_tasks else None)


def main(argv: list[str] | None = None) -> int:
    """Measure every row, print the table and the verdict; exit 1 if the verdict fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=ITEMS)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    args = parser.parse_args(argv)
    n: int = args.items
    c: int = args.concurrency

    xs = list(range(n))
    expected = [{"value": x} for x in xs]
    sync_flow, async_flow = map_flow("echo", c), map_flow("aecho", c)
    inputs: dict[str, Any] = {"xs": xs}

    def check_results(got: Any) -> None:
        if got != expected:
            raise AssertionError("wrong results")

    def check_run(result: ExecutionResult) -> None:
        if not result.success:
            raise AssertionError(f"map run failed: {result.error}")
        check_results(result.output["out"])

    def in_loop(make: Callable[[], Coroutine[Any, Any, Any]]) -> Callable[[], Any]:
        def run() -> Any:
            return loop.run_until_complete(make())

        return run

    loop = asyncio.new_event_loop()
    with FlowExecutor([echo, aecho], max_concurrency=c) as executor, ThreadPoolExecutor(c) as pool:
        # Warm up outside the measurements: plans compiled, pool threads started, lazy
        # imports done, so the rows measure runs only.
        warm = {"xs": xs[:100]}
        executor.run(sync_flow, warm).raise_for_error()
        loop.run_until_complete(executor.arun(async_flow, warm)).raise_for_error()
        loop.run_until_complete(naive_gather(xs[:100], c))
        list(pool.map(validated_echo, xs[:100]))

        rows = [
            measure(
                "results alone (list of dicts)", lambda: [{"value": x} for x in xs], check_results
            ),
            measure("dagwright sync lane", lambda: executor.run(sync_flow, inputs), check_run),
            measure(
                "dagwright async lane",
                in_loop(lambda: executor.arun(async_flow, inputs)),
                check_run,
                sample_tasks=True,
            ),
            measure(
                "naive asyncio: all tasks up front",
                in_loop(lambda: naive_gather(xs, c)),
                check_results,
                sample_tasks=True,
            ),
            measure(
                "naive ThreadPoolExecutor.map",
                lambda: list(pool.map(validated_echo, xs)),
                check_results,
            ),
        ]
    loop.close()

    print(
        f"map of {n:,} items, max_concurrency={c}; Python {sys.version.split()[0]}; "
        "tracemalloc (Python allocations, all threads)"
    )
    print()
    results_alone = rows[0].peak
    head = (
        f"{'run':<36} {'peak MiB':>9} {'retained':>9} {'transient':>10} "
        f"{'B/item':>7} {'x results':>9} {'live tasks':>10} {'traced s':>8}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        tasks = "-" if row.live_tasks is None else f"{row.live_tasks:,}"
        print(
            f"{row.name:<36} {row.peak / MIB:9.1f} {row.retained / MIB:9.1f} "
            f"{row.transient / MIB:10.1f} {row.transient / n:7.0f} "
            f"{row.peak / results_alone:9.1f} {tasks:>10} {row.seconds:8.2f}"
        )
    print()
    print(
        "peak: highest traced total during the run; retained: still allocated after it, "
        "held by its result;\ntransient = peak - retained; B/item = transient bytes per "
        "item; x results = peak / peak of 'results alone';\ntraced s: wall time under "
        "tracemalloc, several times slower than untraced (see bench_map.py for speed)."
    )

    dw_sync, dw_async, naive = rows[1], rows[2], rows[3]
    worst = max(dw_sync.transient, dw_async.transient)
    ratio = worst / naive.transient if naive.transient else float("inf")
    tasks_ok = dw_async.live_tasks is not None and dw_async.live_tasks <= c + 1
    ok = ratio <= MAX_TRANSIENT_RATIO and tasks_ok
    verdict = "PASS" if ok else "FAIL"
    print()
    print(
        f"VERDICT {verdict}: the map's transient memory is {dw_sync.transient / n:.0f} B/item "
        f"(sync) and {dw_async.transient / n:.0f} B/item (async), {ratio:.0%} of the "
        f"{naive.transient / n:.0f} B/item of creating all {n:,} tasks up front "
        f"(limit {MAX_TRANSIENT_RATIO:.0%}); at most {dw_async.live_tasks} asyncio tasks "
        f"were alive (bound {c} + the driver) against {naive.live_tasks:,}. Peak memory "
        f"follows what the run returns ({dw_sync.peak / results_alone:.1f}x / "
        f"{dw_async.peak / results_alone:.1f}x the results alone, records included), "
        "not pending instances."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

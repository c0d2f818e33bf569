"""The floor's cases of the ``compare.py`` workloads: the functions of ``_floor.py``.

Its answers are the reference every library's answers are checked against. It has no
compile workload (there is nothing to compile by hand); ``import pydantic`` is its
import.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial
from typing import Any

import _floor
import _workloads as w
import bench_cache
import bench_map
import pydantic
from _dagwright_cases import dask_client
from _imports import import_case
from _sampling import Builder, Case, Env, Library, Run, Unsupported


def _skewed(lane: str, env: Env) -> Case:
    inputs = dict(w.SKEW_INPUTS)
    if lane == "run":
        pool = ThreadPoolExecutor(max_workers=8)
        env.stack.callback(pool.shutdown)
        return Case(partial(_floor.skewed_threads, pool, inputs))
    return Case(lambda: env.loop.run_until_complete(_floor.skewed_tasks(inputs)))


def _checkpointed(store: str, steps: int, env: Env) -> Case:
    files = iter(range(1_000_000))

    def prepare(stack: ExitStack) -> Run:
        if store == "plain":
            return partial(_floor.linear, steps)
        if store == "memory":
            journal: list[dict[str, Any]] = []
            return partial(_floor.journaled_in_memory, journal, steps)
        conn: sqlite3.Connection = _floor.open_journal(env.tmp / f"floor-{steps}-{next(files)}.db")
        stack.callback(conn.close)
        return partial(_floor.journaled_in_sqlite, conn, steps)

    return Case(prepare=prepare, sync_disk=store == "sqlite")


def _dask(env: Env) -> Case | Unsupported:
    client = dask_client(env)
    if isinstance(client, Unsupported):
        return client
    items = list(bench_map.MAP1000_INPUTS["xs"])
    return Case(partial(_floor.dask_map, client, items))


def _crunch_threads(env: Env) -> Case | Unsupported:
    client = dask_client(env)  # measured only beside the Dask version
    if isinstance(client, Unsupported):
        return client
    pool = ThreadPoolExecutor(max_workers=w.CPU_ITEMS)
    env.stack.callback(pool.shutdown)
    return Case(partial(_floor.threads_map, pool, list(w.CPU_INPUTS["xs"])))


def _crunch_dask(env: Env) -> Case | Unsupported:
    client = dask_client(env)
    if isinstance(client, Unsupported):
        return client
    items = list(w.CPU_INPUTS["xs"])
    return Case(partial(_floor.dask_map, client, items, _floor.crunch_item))


def load() -> Library:
    """The floor's cases (pydantic only: always available)."""
    steps = bench_cache.STEPS
    spin = bench_cache.SPIN_S
    builders: dict[str, Builder] = {
        "lin5": lambda env: Case(partial(_floor.linear, w.LINEAR_SHORT)),
        "lin100": lambda env: Case(partial(_floor.linear, w.LINEAR_LONG)),
        "dag8": lambda env: Case(partial(_floor.fan_dag, w.LEAVES)),
        "dag1": lambda env: Case(partial(_floor.fan_dag, w.LEAVES)),
        "skew-run": partial(_skewed, "run"),
        "skew-arun": partial(_skewed, "arun"),
        "cache-call": lambda env: Case(_floor.cache_chain(steps, spin, None)),
        "cache-hit": lambda env: Case(_floor.cache_chain(steps, spin, {})),
        "import": partial(import_case, "pydantic"),
        "dask": _dask,
        "cpu16-threads": _crunch_threads,
        "cpu16-dask": _crunch_dask,
    }
    for n in (100, 1000):
        for store in ("plain", "memory", "sqlite"):
            builders[f"ckpt-{store}-{n}"] = partial(_checkpointed, store, n)
    for n in (1000, 10_000):
        builders[f"compile-{n}"] = lambda env: Unsupported("nothing to compile by hand")
    return Library("floor", "floor (pydantic by hand)", pydantic.VERSION, builders)

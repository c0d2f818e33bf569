"""dagwright's cases of the ``compare.py`` workloads (public API only).

Every executor compiles its flow before the first sample: runs are timed, compiles are
not (except in the compile workloads). Flows and tools come from ``_workloads.py``,
``bench_checkpoint.py``, ``bench_cache.py`` and ``bench_map.py``, the same ones ``make
bench`` times:

* ``lin5`` / ``lin100``: ``_workloads.linear(n)`` on the default executor
  (``FlowExecutor(tools)``, ``max_concurrency=8``: a chain has one ready step at a time
  and runs inline);
* ``dag8`` / ``dag1``: ``_workloads.fan_dag(1000)`` at ``max_concurrency=8`` and ``1``;
* ``skew-run`` / ``skew-arun``: ``_workloads.skewed_dag`` with sync tools on ``run`` and
  async tools on ``arun`` (on the group's event loop);
* ``ckpt-<store>-<n>``: ``linear(n)``, ``max_concurrency=1``, a fresh executor over a
  fresh store (a new SQLite file) for every sample, every run a fresh run id;
* ``compile-<n>``: ``compile_flow`` of a fresh ``n``-step chain rewriting ``n``, the
  compile cache emptied first;
* ``cache-call`` / ``cache-hit``: ``bench_cache``'s 10-step chain of the cacheable 20 us
  ``work20``, without a cache and with a warm ``InMemoryStepCache``;
* ``dask``: ``bench_map``'s 1000 trivial ``echo`` map items through
  ``dagwright.runners.DaskRunner`` (DESIGN.md section 11), executor and map step at
  ``max_concurrency=1000``, on a local cluster of 2 single-threaded worker processes;
* ``cpu16-threads`` / ``cpu16-dask``: ``_workloads.crunch_flow()``, 16 CPU-bound items at
  ``max_concurrency=16``, on the executor's thread pool and through ``DaskRunner`` on the
  same cluster.
"""

from __future__ import annotations

import importlib
from contextlib import ExitStack
from functools import partial
from typing import Any

import _workloads as w
import bench_cache
import bench_map
from _imports import import_case
from _sampling import BenchmarkError, Builder, Case, Env, Library, Run, Unsupported
from bench_checkpoint import Store, make_executor
from bench_compile import long_flow

import dagwright
from dagwright import ExecutionResult, Flow, FlowExecutor, InMemoryStepCache
from dagwright.runners import DaskRunner


def output(result: ExecutionResult) -> dict[str, Any]:
    """The final context of a successful run."""
    if not result.success:
        raise BenchmarkError(f"run failed: {result.error}")
    return dict(result.output)


def _runner(env: Env, executor: FlowExecutor, flow: Flow, inputs: dict[str, Any]) -> Run:
    executor.compile(flow)
    return partial(executor.run, flow, inputs)


def _owned(env: Env, executor: FlowExecutor) -> FlowExecutor:
    env.stack.callback(executor.close)
    return executor


def linear(steps: int, env: Env) -> Case:
    """``linear(steps)`` on the default executor."""
    executor = _owned(env, FlowExecutor(w.TOOLS))
    return Case(_runner(env, executor, w.linear(steps), w.LINEAR_INPUTS), answer=output)


def dag(max_concurrency: int, env: Env) -> Case:
    """Root, 1000 leaves and a join at ``max_concurrency``."""
    executor = _owned(env, w.executor(max_concurrency))
    return Case(_runner(env, executor, w.fan_dag(w.LEAVES), w.DAG_INPUTS), answer=output)


def skewed(lane: str, env: Env) -> Case:
    """The skewed DAG: sync tools on ``run``, or async tools on ``arun``."""
    executor = _owned(env, w.concurrency_executor(8))
    if lane == "run":
        return Case(_runner(env, executor, w.skewed_dag("sync"), w.SKEW_INPUTS), answer=output)
    flow = w.skewed_dag("async")
    executor.compile(flow)

    def arun() -> ExecutionResult:
        return env.loop.run_until_complete(executor.arun(flow, w.SKEW_INPUTS))

    return Case(arun, answer=output)


def checkpointed(store: Store, steps: int, env: Env) -> Case:
    """``linear(steps)`` journaled to ``store``, a fresh executor and store per sample."""
    flow = w.linear(steps)
    files = iter(range(1_000_000))

    def prepare(stack: ExitStack) -> Run:
        path = env.tmp / f"dagwright-{store}-{steps}-{next(files)}.sqlite"
        executor = make_executor(store, path, stack)
        executor.compile(flow)
        return partial(executor.run, flow, w.LINEAR_INPUTS)

    return Case(prepare=prepare, answer=output, sync_disk=store.startswith("sqlite"))


def compile_chain(steps: int, env: Env) -> Case:
    """A cold ``compile_flow`` of a fresh ``steps``-step chain (built untimed)."""

    def prepare(stack: ExitStack) -> Run:
        return partial(w.compile_cold, long_flow(steps))

    return Case(prepare=prepare, answer=lambda compiled: len(compiled.plan.steps), max_number=1)


def cached(hit: bool, env: Env) -> Case:
    """``bench_cache``'s chain: the 20 us tool called, or every step a warm memory hit."""
    executor = _owned(env, bench_cache.executor(InMemoryStepCache() if hit else None))
    return Case(partial(executor.run, bench_cache.FLOW, {"value": 0}), answer=output)


def dask_map(env: Env) -> Case | Unsupported:
    """``bench_map``'s 1000-item ``echo`` map through the group's ``DaskRunner``, the
    executor and the map step both at ``max_concurrency=1000``: every item is ready at
    once and goes to the cluster in one round, as ``client.map`` sends the floor's."""
    runner = dask_runner(env)
    if isinstance(runner, Unsupported):
        return runner
    executor = _owned(
        env, FlowExecutor(bench_map.MAP_TOOLS, runner=runner, max_concurrency=bench_map.ITEMS)
    )
    flow = bench_map.map_flow("echo", max_concurrency=bench_map.ITEMS)
    return Case(
        _runner(env, executor, flow, bench_map.MAP1000_INPUTS),
        answer=lambda result: output(result)["out"],
    )


def crunch(where: str, env: Env) -> Case | Unsupported:
    """``_workloads.crunch_flow()`` (16 CPU-bound items, map and executor
    ``max_concurrency=16``) on the executor's thread pool (``where="threads"``) or through
    the group's ``DaskRunner`` (``"dask"``). Without Dask neither is built: they only
    make sense as a pair."""
    runner = dask_runner(env)
    if isinstance(runner, Unsupported):
        return runner
    local = where == "threads"
    executor = _owned(
        env,
        FlowExecutor(w.CPU_TOOLS, runner=None if local else runner, max_concurrency=w.CPU_ITEMS),
    )
    return Case(
        _runner(env, executor, w.crunch_flow(), w.CPU_INPUTS),
        answer=lambda result: output(result)["out"],
    )


def dask_runner(env: Env) -> DaskRunner | Unsupported:
    """The group's one ``DaskRunner`` over :func:`dask_client` (closed before the client),
    or :class:`Unsupported` without ``dask.distributed``."""
    client = dask_client(env)
    if isinstance(client, Unsupported):
        return client

    def make() -> DaskRunner:
        runner = DaskRunner(client)
        env.stack.callback(runner.close)
        return runner

    return env.shared("dask-runner", make)


def dask_client(env: Env) -> Any:
    """The group's Dask client on a local cluster of 2 single-threaded worker processes
    (``_workloads.LOCAL_CLUSTER``), or :class:`Unsupported` without
    ``dask.distributed``. Workers import the benchmark modules from this checkout."""

    def make() -> Any:
        try:
            distributed: Any = importlib.import_module("dask.distributed")
        except ImportError:
            return Unsupported("dask.distributed not installed")
        w.share_benchmark_path()
        cluster = distributed.LocalCluster(**w.LOCAL_CLUSTER)
        env.stack.callback(cluster.close)
        client = distributed.Client(cluster)
        env.stack.callback(client.close)
        return client

    return env.shared("dask-client", make)


_STORES: tuple[tuple[str, Store], ...] = (
    ("plain", "plain"),
    ("memory", "memory"),
    ("sqlite", "sqlite-normal"),
)


def load() -> Library:
    """dagwright's cases (always available: it is the library under test)."""
    builders: dict[str, Builder] = {
        "lin5": partial(linear, w.LINEAR_SHORT),
        "lin100": partial(linear, w.LINEAR_LONG),
        "dag8": partial(dag, 8),
        "dag1": partial(dag, 1),
        "skew-run": partial(skewed, "run"),
        "skew-arun": partial(skewed, "arun"),
        "cache-call": partial(cached, False),
        "cache-hit": partial(cached, True),
        "import": partial(import_case, "dagwright"),
        "dask": dask_map,
        "cpu16-threads": partial(crunch, "threads"),
        "cpu16-dask": partial(crunch, "dask"),
    }
    for steps in (100, 1000):
        for name, store in _STORES:
            builders[f"ckpt-{name}-{steps}"] = partial(checkpointed, store, steps)
    for steps in (1000, 10_000):
        builders[f"compile-{steps}"] = partial(compile_chain, steps)
    return Library(
        "dagwright", f"dagwright {dagwright.__version__}", dagwright.__version__, builders
    )

"""LangGraph's cases of the ``compare.py`` workloads (``pip install langgraph``).

LangGraph is not a dagwright dependency: :func:`load` returns ``None`` when it is not
installed (it is imported with ``importlib``, so nothing here is type-checked against
it). Every workload is a ``StateGraph`` with a ``TypedDict`` state; LangGraph validates
nothing a node reads or returns, so each node does the floor's step itself: validate its
input with the same pydantic model, call the same function, dump the output in JSON mode
and return the renamed keys. Each node declares an ``input_schema`` with only the keys it
reads (so a leaf of the 1000-leaf DAG is not handed all 1003 keys).

* linear flows: a chain ``START -> s0 -> ... -> END``, ``recursion_limit`` raised to the
  chain's length (its default of 25 supersteps stops longer ones);
* the 1000-leaf DAG: ``root`` -> 1000 leaves -> ``join``, the join waiting for every
  leaf (``add_edge([...leaves], "join")``), ``config["max_concurrency"]`` 8 or 1;
* the skewed DAG: sync nodes on ``invoke``, async nodes on ``ainvoke`` (on the group's
  event loop); LangGraph runs in supersteps, so ``C`` waits for ``A``;
* checkpoints: ``InMemorySaver`` and ``SqliteSaver`` (``langgraph-checkpoint-sqlite``,
  WAL, ``PRAGMA synchronous=NORMAL`` set on its connection), a fresh saver and file per
  sample, a fresh ``thread_id`` per run, ``durability="sync"`` (each checkpoint written
  before the next step starts, as dagwright's journal is);
* compile: ``StateGraph.compile()`` of a chain built untimed;
* the step cache: every node with ``cache_policy=CachePolicy()``, compiled with
  ``cache=InMemoryCache()``.
"""

from __future__ import annotations

import importlib
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from importlib import metadata
from typing import Any, TypedDict

import _floor
import _workloads as w
import bench_cache
from _imports import import_case
from _sampling import Builder, Case, Env, Library, Run, Unsupported

# TypedDict built from a runtime mapping: called through Any (mypy accepts only literals).
_typed_dict: Any = TypedDict


def _state(name: str, keys: list[str], kind: type = int) -> Any:
    return _typed_dict(name, dict.fromkeys(keys, kind))


def _node(src: str, dst: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def node(state: dict[str, Any]) -> dict[str, Any]:
        return {dst: _floor.step(state[src])["n"]}

    return node


class _Graphs:
    """The LangGraph modules and a builder for every workload's graph."""

    def __init__(self, graph: Any, types: Any) -> None:
        self.graph = graph
        self.types = types
        self.n_state = _state("N", ["n"])

    def chain(self, steps: int, node: Callable[..., Any] | None = None, **kw: Any) -> Any:
        """``steps`` nodes in a line, each rewriting ``n`` (or running ``node``)."""
        builder = self.graph.StateGraph(kw.pop("state", self.n_state))
        previous = self.graph.START
        for i in range(steps):
            builder.add_node(f"s{i}", node or _node("n", "n"), **kw)
            builder.add_edge(previous, f"s{i}")
            previous = f"s{i}"
        builder.add_edge(previous, self.graph.END)
        return builder

    def fan(self, leaves: int = w.LEAVES) -> Any:
        """``root`` -> ``leaves`` leaves (each writing ``k<i>``) -> ``join``."""
        ks = [f"k{i}" for i in range(leaves)]
        builder = self.graph.StateGraph(_state("Fan", ["seed", "n", *ks, "total"]))
        builder.add_node("root", _node("seed", "n"), input_schema=_state("Seed", ["seed"]))
        builder.add_edge(self.graph.START, "root")
        reads_n = _state("ReadsN", ["n"])
        ids = [f"leaf{i}" for i in range(leaves)]
        for leaf, key in zip(ids, ks, strict=True):
            builder.add_node(leaf, _node("n", key), input_schema=reads_n)
            builder.add_edge("root", leaf)
        builder.add_node("join", _node("k0", "total"), input_schema=_state("ReadsK0", ["k0"]))
        builder.add_edge(ids, "join")
        builder.add_edge("join", self.graph.END)
        return builder.compile()

    def skewed(self, kind: str) -> Any:
        """``A`` (long), ``B`` (short) -> ``C`` (long); ``D`` joins ``A`` and ``C``."""
        state = _state("Skewed", ["long", "short", "a", "b", "c", "total"], float)
        builder = self.graph.StateGraph(state)

        def sleeper(src: str, dst: str) -> Callable[..., Any]:
            if kind == "sync":
                return lambda s: {dst: _floor.nap(s[src])["slept"]}

            async def node(s: dict[str, Any]) -> dict[str, Any]:
                return {dst: (await _floor.anap(s[src]))["slept"]}

            return node

        def join(s: dict[str, Any]) -> dict[str, Any]:
            return _floor.join(s["a"], s["c"])

        async def ajoin(s: dict[str, Any]) -> dict[str, Any]:
            return _floor.join(s["a"], s["c"])

        start = self.graph.START
        for name, src, dst in (("A", "long", "a"), ("B", "short", "b"), ("C", "long", "c")):
            builder.add_node(name, sleeper(src, dst), input_schema=_state(name, [src], float))
        builder.add_node("D", join if kind == "sync" else ajoin)
        builder.add_edge(start, "A")
        builder.add_edge(start, "B")
        builder.add_edge("B", "C")
        builder.add_edge(["A", "C"], "D")
        builder.add_edge("D", self.graph.END)
        return builder.compile()


def _linear(graphs: _Graphs, steps: int, env: Env) -> Case:
    app = graphs.chain(steps).compile()
    return Case(partial(app.invoke, {"n": 0}, {"recursion_limit": steps + 10}))


def _dag(graphs: _Graphs, max_concurrency: int, env: Env) -> Case:
    app = graphs.fan()
    return Case(partial(app.invoke, {"seed": 0}, {"max_concurrency": max_concurrency}))


def _skewed(graphs: _Graphs, lane: str, env: Env) -> Case:
    inputs = dict(w.SKEW_INPUTS)
    if lane == "run":
        return Case(partial(graphs.skewed("sync").invoke, inputs))
    app = graphs.skewed("async")
    return Case(lambda: env.loop.run_until_complete(app.ainvoke(inputs)))


def _saver(store: str, path: Any, stack: ExitStack) -> Any:
    if store == "memory":
        return importlib.import_module("langgraph.checkpoint.memory").InMemorySaver()
    sqlite_module: Any = importlib.import_module("langgraph.checkpoint.sqlite")
    conn = sqlite3.connect(path, check_same_thread=False)
    stack.callback(conn.close)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    saver = sqlite_module.SqliteSaver(conn)
    saver.setup()
    return saver


def _checkpointed(graphs: _Graphs, store: str, steps: int, env: Env) -> Case | Unsupported:
    if store == "sqlite":
        try:
            importlib.import_module("langgraph.checkpoint.sqlite")
        except ImportError:
            return Unsupported("langgraph-checkpoint-sqlite not installed")
    builder = graphs.chain(steps)
    files = iter(range(1_000_000))

    def prepare(stack: ExitStack) -> Run:
        if store == "plain":
            app = builder.compile()
            return partial(app.invoke, {"n": 0}, {"recursion_limit": steps + 10})
        path = env.tmp / f"langgraph-{steps}-{next(files)}.sqlite"
        app = builder.compile(checkpointer=_saver(store, path, stack))

        def run() -> Any:
            config = {
                "configurable": {"thread_id": uuid.uuid4().hex},
                "recursion_limit": steps + 10,
            }
            return app.invoke({"n": 0}, config, durability="sync")

        return run

    return Case(prepare=prepare, sync_disk=store == "sqlite")


def _compile(graphs: _Graphs, steps: int, env: Env) -> Case:
    def prepare(stack: ExitStack) -> Run:
        return graphs.chain(steps).compile  # type: ignore[no-any-return]

    return Case(prepare=prepare, answer=lambda app: len(app.nodes) - 1, max_number=1)


def _cached(graphs: _Graphs, hit: bool, env: Env) -> Case:
    def work(state: dict[str, Any]) -> dict[str, Any]:
        args = _floor.ValueIn.model_validate({"value": state["value"]})
        return _floor.work20(args.value, bench_cache.SPIN_S).model_dump(mode="json")

    steps = bench_cache.STEPS
    state = _state("Value", ["value"])
    if not hit:
        app = graphs.chain(steps, work, state=state).compile()
    else:
        policy = graphs.types.CachePolicy()
        builder = graphs.chain(steps, work, state=state, cache_policy=policy)
        app = builder.compile(
            cache=importlib.import_module("langgraph.cache.memory").InMemoryCache()
        )
    return Case(partial(app.invoke, {"value": 0}, {"recursion_limit": steps + 10}))


def load() -> Library | None:
    """LangGraph's cases, or ``None`` when ``langgraph`` is not installed."""
    try:
        graphs = _Graphs(
            importlib.import_module("langgraph.graph"), importlib.import_module("langgraph.types")
        )
    except ImportError:
        return None
    builders: dict[str, Builder] = {
        "lin5": partial(_linear, graphs, w.LINEAR_SHORT),
        "lin100": partial(_linear, graphs, w.LINEAR_LONG),
        "dag8": partial(_dag, graphs, 8),
        "dag1": partial(_dag, graphs, 1),
        "skew-run": partial(_skewed, graphs, "run"),
        "skew-arun": partial(_skewed, graphs, "arun"),
        "cache-call": partial(_cached, graphs, False),
        "cache-hit": partial(_cached, graphs, True),
        "import": partial(import_case, "langgraph.graph"),
        "dask": lambda env: Unsupported("no Dask runner"),
        "cpu16-threads": lambda env: Unsupported("no Dask runner"),
        "cpu16-dask": lambda env: Unsupported("no Dask runner"),
    }
    for steps in (100, 1000):
        for store in ("plain", "memory", "sqlite"):
            builders[f"ckpt-{store}-{steps}"] = partial(_checkpointed, graphs, store, steps)
    for steps in (1000, 10_000):
        builders[f"compile-{steps}"] = partial(_compile, graphs, steps)
    version = metadata.version("langgraph")
    try:
        sqlite_version = metadata.version("langgraph-checkpoint-sqlite")
    except metadata.PackageNotFoundError:
        sqlite_version = "not installed"
    label = f"LangGraph {version}"
    return Library("langgraph", label, f"{version} (checkpoint-sqlite {sqlite_version})", builders)

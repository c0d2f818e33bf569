"""The figures of DESIGN.md section 7, as ``compare.py`` measures and judges them.

A figure reads one library's interleaved samples (seconds per call, by workload, in
round order) and turns them into one value per round in the figure's unit: a time, or a
ratio of two of the library's own workloads taken in the same round (checkpoint
overhead, growth, cache hit / call). Its checks are DESIGN.md's targets for dagwright:

* ``floor``: dagwright's value / the floor's value <= limit;
* a peer (``chainweaver``): dagwright's value / that peer's value <= limit;
* ``value``: dagwright's value itself <= limit (figures that are already ratios, and
  compile time in seconds);
* ``critical path``: dagwright's makespan / the DAG's critical path <= limit;
* a check with ``higher=True`` is met above its limit instead (a speed-up: ``value``
  > limit).

Ratios between libraries are medians of round-by-round ratios (samples of one round are
seconds apart, so machine drift cancels out of them). Figures are grouped by the
workloads they share; a group is measured in one interleaved pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import _workloads as w
from _sampling import paired

Samples = dict[str, list[float]]
"""One library's samples (seconds per call) by workload, in round order."""


@dataclass(frozen=True)
class Check:
    """One target of a figure: ``against`` (``floor``, a peer, ``value``, ``critical
    path``) and the largest ratio (or value) that meets it; with ``higher``, the value
    it must exceed (a speed-up)."""

    against: str
    limit: float
    label: str
    higher: bool = False

    def meets(self, ratio: float) -> bool:
        """Whether ``ratio`` meets this target."""
        return ratio > self.limit if self.higher else ratio <= self.limit


@dataclass(frozen=True)
class Figure:
    """One row of DESIGN.md section 7's table."""

    id: str
    group: str
    title: str
    unit: str
    needs: tuple[str, ...]
    value: Callable[[Samples], list[float]]
    checks: tuple[Check, ...]
    target: str
    note: str = ""


def _scaled(workload: str, scale: float) -> Callable[[Samples], list[float]]:
    return lambda s: [x * scale for x in s[workload]]


def _ratio(numerator: str, denominator: str) -> Callable[[Samples], list[float]]:
    return lambda s: paired(s[numerator], s[denominator])


def _marginal(s: Samples) -> list[float]:
    steps = w.LINEAR_LONG - w.LINEAR_SHORT
    return [(b - a) / steps * 1e6 for a, b in zip(s["lin5"], s["lin100"], strict=True)]


CRITICAL_PATH_S = w.SKEW_CRITICAL_PATH_S
US, MS = 1e6, 1e3

FIGURES: tuple[Figure, ...] = (
    Figure(
        "linear5",
        "linear",
        "linear 5-step flow, per run",
        "us",
        ("lin5",),
        _scaled("lin5", US),
        (Check("floor", 2.0, "<= 2.0x floor"), Check("chainweaver", 0.3, "<= 0.3x ChainWeaver")),
        "<= 2.0x floor, <= 0.3x ChainWeaver",
    ),
    Figure(
        "marginal",
        "linear",
        "marginal cost per step, (t(linear100) - t(linear5)) / 95",
        "us",
        ("lin5", "lin100"),
        _marginal,
        (Check("floor", 1.5, "<= 1.5x floor"),),
        "<= 1.5x floor",
    ),
    Figure(
        "dag8",
        "dag",
        "1000 leaves + join, max_concurrency=8 (default executor)",
        "ms",
        ("dag8",),
        _scaled("dag8", MS),
        (Check("floor", 2.0, "<= 2x floor"), Check("chainweaver", 0.2, "<= 0.2x ChainWeaver")),
        "<= 2x floor, <= 0.2x ChainWeaver",
        "ChainWeaver: execute_flow_async, max_step_concurrency=8 (its sync lane is "
        "sequential); LangGraph: invoke, max_concurrency=8; the floor runs the 1002 steps "
        "in one thread",
    ),
    Figure(
        "dag1",
        "dag",
        "1000 leaves + join, max_concurrency=1",
        "ms",
        ("dag1",),
        _scaled("dag1", MS),
        (Check("floor", 1.5, "<= 1.5x floor"),),
        "<= 1.5x floor",
        "ChainWeaver: execute_flow (sync lane); LangGraph: invoke, max_concurrency=1",
    ),
    Figure(
        "skewed-run",
        "skewed",
        "skewed DAG makespan, sync lane (run, sync tools)",
        "s",
        ("skew-run",),
        _scaled("skew-run", 1.0),
        (Check("critical path", 1.05, "<= 1.05x critical path"),),
        f"<= 1.05x critical path ({CRITICAL_PATH_S:g} s)",
        "A 0.2 s | B 0.01 s -> C 0.2 s; D joins A and C. A level or superstep barrier "
        "takes 0.40 s. The floor submits each step to a thread pool as soon as it can start",
    ),
    Figure(
        "skewed-arun",
        "skewed",
        "skewed DAG makespan, async lane (arun, async tools)",
        "s",
        ("skew-arun",),
        _scaled("skew-arun", 1.0),
        (Check("critical path", 1.05, "<= 1.05x critical path"),),
        f"<= 1.05x critical path ({CRITICAL_PATH_S:g} s)",
        "ChainWeaver: execute_flow_async; LangGraph: ainvoke; the floor: asyncio tasks; "
        "all on one event loop kept for the run",
    ),
    Figure(
        "ckpt-memory",
        "checkpoint",
        "checkpoint overhead, 100 steps, in memory: t(journaled) / t(plain)",
        "x",
        ("ckpt-plain-100", "ckpt-memory-100"),
        _ratio("ckpt-memory-100", "ckpt-plain-100"),
        (Check("value", 1.3, "<= 1.3x"),),
        "<= 1.3x the same run without a checkpointer",
        "each library against its own plain run; the floor appends one record per step "
        "to a list; ChainWeaver: InMemoryCheckpointer; LangGraph: InMemorySaver",
    ),
    Figure(
        "ckpt-sqlite",
        "checkpoint",
        "checkpoint overhead, 100 steps, SQLite NORMAL: t(journaled) / t(plain)",
        "x",
        ("ckpt-plain-100", "ckpt-sqlite-100"),
        _ratio("ckpt-sqlite-100", "ckpt-plain-100"),
        (Check("value", 3.0, "<= 3x"),),
        "<= 3x the same run without a checkpointer",
        "a fresh file per sample; the floor commits one record per step in WAL mode with "
        "synchronous=NORMAL; ChainWeaver has no SQLite store: its FileCheckpointer; "
        "LangGraph: SqliteSaver, synchronous=NORMAL, durability='sync'",
    ),
    Figure(
        "ckpt-growth-memory",
        "checkpoint",
        "checkpoint growth, in memory: t(1000 steps) / t(100 steps)",
        "x",
        ("ckpt-memory-100", "ckpt-memory-1000"),
        _ratio("ckpt-memory-1000", "ckpt-memory-100"),
        (Check("value", 11.0, "<= 11"),),
        "<= 11 (10 is linear)",
    ),
    Figure(
        "ckpt-growth-sqlite",
        "checkpoint",
        "checkpoint growth, SQLite NORMAL: t(1000 steps) / t(100 steps)",
        "x",
        ("ckpt-sqlite-100", "ckpt-sqlite-1000"),
        _ratio("ckpt-sqlite-1000", "ckpt-sqlite-100"),
        (Check("value", 11.0, "<= 11"),),
        "<= 11 (10 is linear)",
    ),
    Figure(
        "compile",
        "compile",
        "compile a 10,000-step chain rewriting one key",
        "s",
        ("compile-10000",),
        _scaled("compile-10000", 1.0),
        (Check("value", 1.5, "<= 1.5 s"),),
        "about 1 s (met at <= 1.5 s)",
        "the flow object is built untimed; dagwright: compile_flow with its cache emptied; "
        "ChainWeaver: compile_flow, a checker that builds no plan; LangGraph: "
        "StateGraph.compile()",
    ),
    Figure(
        "compile-growth",
        "compile",
        "compile growth: t(10,000 steps) / t(1,000 steps)",
        "x",
        ("compile-1000", "compile-10000"),
        _ratio("compile-10000", "compile-1000"),
        (Check("value", 11.0, "<= 11"),),
        "linear growth (<= 11; 10 is linear)",
    ),
    Figure(
        "cache",
        "cache",
        "warm in-memory cache hit / running a 20 us tool, per step",
        "x",
        ("cache-call", "cache-hit"),
        _ratio("cache-hit", "cache-call"),
        (Check("value", 0.5, "<= 0.5x"),),
        "<= 0.5x the cost of running the 20 us tool",
        "a 10-step chain of a cacheable tool that spins 20 us; each library against its own "
        "uncached run; ChainWeaver: InMemoryStepCache; LangGraph: CachePolicy + "
        "InMemoryCache",
    ),
    Figure(
        "import",
        "import",
        "import time, fresh interpreter, bytecode compiled",
        "s",
        ("import",),
        _scaled("import", 1.0),
        (Check("floor", 2.0, "<= 2x import pydantic"),),
        "<= 2x `import pydantic`",
        "floor: import pydantic; ChainWeaver: import chainweaver; LangGraph: import "
        "langgraph.graph",
    ),
    Figure(
        "dask",
        "dask",
        "Dask runner, 1000 trivial map items",
        "ms",
        ("dask",),
        _scaled("dask", MS),
        (Check("floor", 1.5, "<= 1.5x client.map + gather"),),
        "<= 1.5x `client.map` + `gather` directly",
        "LocalCluster(n_workers=2, threads_per_worker=1, processes=True), one per group; "
        "dagwright: DaskRunner, executor and map step max_concurrency=1000; the floor: "
        "client.map of the validated echo call (pure=False) + client.gather on the same "
        "cluster",
    ),
    Figure(
        "dask-speedup",
        "dask",
        f"Dask runner speed-up, {w.CPU_ITEMS} CPU-bound map items: t(thread pool) / t(Dask)",
        "x",
        ("cpu16-threads", "cpu16-dask"),
        _ratio("cpu16-threads", "cpu16-dask"),
        (Check("value", 1.0, "> 1x (faster than threads)", higher=True),),
        "reported; ideal 2x on 2 worker processes (met at > 1x)",
        f"the same map of {w.CPU_ITEMS} pure-Python crunch items (about 0.1 s each), "
        f"max_concurrency={w.CPU_ITEMS}: on the executor's threads (the GIL runs one at a "
        "time) / through DaskRunner on the same cluster; the floor: a ThreadPoolExecutor "
        "/ client.map + gather of the validated call; dagwright / floor divides the "
        "speed-ups",
    ),
)

GROUPS: tuple[str, ...] = tuple(dict.fromkeys(f.group for f in FIGURES))

ROUNDS: dict[str, int] = {"checkpoint": 5, "compile": 5, "import": 5}
"""Rounds of the slow groups when ``--repeat`` is not given: their peers' runs take
seconds each (ChainWeaver's and LangGraph's 1000-step journals grow quadratically, a
10,000-node LangGraph compile takes seconds), which would keep a default run from
finishing in about 10 minutes on 2 cores."""
BY_ID: dict[str, Figure] = {f.id: f for f in FIGURES}

EXPECTED: dict[str, object] = {"compile-1000": 1000, "compile-10000": 10_000}
"""Answers of the workloads the floor has no version of: the steps compiled, clean."""


def select(names: list[str] | None) -> list[Figure]:
    """The figures named (ids or group names), in table order; all of them for ``None``."""
    if not names:
        return list(FIGURES)
    unknown = [n for n in names if n not in BY_ID and n not in GROUPS]
    if unknown:
        known = ", ".join([*BY_ID, *(g for g in GROUPS if g not in BY_ID)])
        raise ValueError(f"unknown figure {', '.join(unknown)} (known: {known})")
    return [f for f in FIGURES if f.id in names or f.group in names]

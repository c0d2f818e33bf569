"""The workloads every benchmark times, built once and shared by pytest and compare.py.

* ``linear(n)``: a linear ``Flow`` of ``n`` trivial validated steps; each reads ``n`` and
  writes ``n + 1`` back under ``n``, with the default ``on_context_collision="warn"``
  (the ordered collisions are DW301 compile warnings; nothing is logged at run time).
* ``fan_dag(leaves)``: one ``root`` (reads ``seed``, writes ``n``), ``leaves`` leaves that
  each read ``n`` and write their own key ``k<i>``, and a ``join`` that depends on every
  leaf, reads ``k0`` and writes ``total``. No key has two writers.
* ``pydantic_floor(steps)``: the same models validated and dumped without dagwright
  (``model_validate`` + the call + ``model_dump(mode="json")`` per step): the least any
  validated step can cost on this machine.

Concurrency workloads (``bench_dag_concurrency.py``), each built for sync tools or for
async tools (``kind="sync"`` / ``"async"``):

* ``skewed_dag(kind)``: ``A`` sleeps 0.2 s; ``B`` sleeps 0.01 s; ``C`` depends only on
  ``B`` and sleeps 0.2 s; ``D`` joins ``A`` and ``C`` (trivial). Critical path 0.21 s; a
  scheduler with level barriers takes 0.40 s.
* ``six_leaves(kind)``: six independent 50 ms steps and a trivial ``join`` after them.
* ``fan_dag(leaves, "ainc")`` and ``linear(steps, "ainc")``: the fan-out DAG and the
  linear chain with the trivial async ``ainc`` tool.

Sleeping tools sleep for the number of seconds they are given (flow inputs ``long``,
``short`` and ``leaf``): ``time.sleep`` in ``nap``, ``asyncio.sleep`` in ``anap``.

Processes against threads (``bench_dask.py``, ``compare.py``'s ``dask-speedup``):

* ``crunch_flow()``: one map step of the CPU-bound ``crunch`` tool over ``CPU_ITEMS``
  items (``CPU_INPUTS``), map ``max_concurrency=CPU_ITEMS``. ``crunch`` is pure-Python
  arithmetic that holds the GIL for its whole call (about 0.1 s per item on the 2-core
  VM of ``docs/benchmarks.md``), so threads run the items one at a time and worker
  processes run them side by side. Tools that Dask workers run must be module-level
  names of an importable module, as these are.
* ``LOCAL_CLUSTER``: the ``distributed.LocalCluster`` settings of every Dask benchmark;
  ``share_benchmark_path()`` first, so the workers it starts import these modules.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pytest_benchmark.fixture import BenchmarkFixture

from dagwright import DAGFlow, ExecutionResult, Flow, FlowExecutor, MapStep, Step, Tool, tool
from dagwright.compiler import CompiledFlow, clear_cache, compile_flow

LINEAR_SHORT = 5
LINEAR_LONG = 100
LEAVES = 1000

# The targets (DESIGN.md section 7) are ratios measured in one process: compare.py's
# _figures.py holds them.

# Concurrency workloads (seconds unless named _US).
SKEW_LONG_S = 0.2
SKEW_SHORT_S = 0.01
SKEW_CRITICAL_PATH_S = SKEW_SHORT_S + SKEW_LONG_S
SIX = 6
LEAF_S = 0.05

# Processes against threads: items of pure-Python arithmetic, each about 0.1 s here.
CPU_ITEMS = 16
CPU_ROUNDS = 800_000

# Two single-threaded worker processes, one per core of the reference machine; the
# dashboard on a free port, so another cluster on the machine is no conflict.
LOCAL_CLUSTER: dict[str, Any] = {
    "n_workers": 2,
    "threads_per_worker": 1,
    "processes": True,
    "dashboard_address": ":0",
}


class Num(BaseModel):
    """A number: the output of every benchmark tool."""

    n: int


def add_one(n: int) -> Num:
    """Add one."""
    return Num(n=n + 1)


inc: Tool = tool(name="inc")(add_one)
"""The trivial validated tool every workload calls."""

TOOLS: tuple[Tool, ...] = (inc,)


async def add_one_async(n: int) -> Num:
    """Add one, as a coroutine (never suspends)."""
    return Num(n=n + 1)


ainc: Tool = tool(name="ainc")(add_one_async)
"""The trivial validated async tool: awaited on the loop by the async lane."""


class Slept(BaseModel):
    """What a sleeping tool returns: how long it slept."""

    slept: float


class Total(BaseModel):
    """What ``join`` returns."""

    total: float


def sleep_for(seconds: float) -> Slept:
    """Block the calling thread for ``seconds``."""
    time.sleep(seconds)
    return Slept(slept=seconds)


async def sleep_for_async(seconds: float) -> Slept:
    """Suspend for ``seconds`` (``asyncio.sleep``)."""
    await asyncio.sleep(seconds)
    return Slept(slept=seconds)


def add(a: float, c: float) -> Total:
    """Add two numbers."""
    return Total(total=a + c)


async def add_async(a: float, c: float) -> Total:
    """Add two numbers, as a coroutine (never suspends)."""
    return Total(total=a + c)


nap: Tool = tool(name="nap")(sleep_for)
anap: Tool = tool(name="anap")(sleep_for_async)
join: Tool = tool(name="join")(add)
ajoin: Tool = tool(name="ajoin")(add_async)

CONCURRENCY_TOOLS: tuple[Tool, ...] = (inc, ainc, nap, anap, join, ajoin)


class Crunched(BaseModel):
    """What ``crunch`` returns: the last value of its recurrence."""

    value: int


def crunch_numbers(rounds: int) -> Crunched:
    """``rounds`` steps of an integer recurrence in pure Python: CPU-bound, GIL held."""
    acc = 0
    for i in range(rounds):
        acc = (acc * 31 + i) % 1_000_003
    return Crunched(value=acc)


crunch: Tool = tool(name="crunch")(crunch_numbers)
"""The CPU-bound tool of the processes-against-threads workload."""

CPU_TOOLS: tuple[Tool, ...] = (crunch,)

Kind = Literal["sync", "async"]
KINDS: tuple[Kind, ...] = ("sync", "async")


def _sleepy(kind: Kind) -> tuple[str, str]:
    """The sleeping tool and the join tool of ``kind``."""
    return ("nap", "join") if kind == "sync" else ("anap", "ajoin")


def linear(steps: int, tool_name: str = "inc") -> Flow:
    """A linear flow of ``steps`` steps of ``tool_name`` (ids ``inc``, ``inc-2``, ...)."""
    name = f"linear{steps}" if tool_name == "inc" else f"{tool_name}-linear{steps}"
    return Flow(name, [Step(tool=tool_name) for _ in range(steps)])


def fan_dag(leaves: int = LEAVES, tool_name: str = "inc") -> DAGFlow:
    """``root`` -> ``leaves`` independent leaves -> ``join``, every step ``tool_name``."""
    ids = tuple(f"leaf{i}" for i in range(leaves))
    t = tool_name
    return DAGFlow(
        f"fan{leaves}" if t == "inc" else f"{t}-fan{leaves}",
        [
            Step(id="root", tool=t, inputs={"n": "seed"}),
            *[
                Step(id=leaf, tool=t, depends_on=("root",), outputs={f"k{i}": "n"})
                for i, leaf in enumerate(ids)
            ],
            Step(id="join", tool=t, inputs={"n": "k0"}, depends_on=ids, outputs={"total": "n"}),
        ],
    )


def skewed_dag(kind: Kind) -> DAGFlow:
    """``A`` (0.2 s), ``B`` (0.01 s) -> ``C`` (0.2 s, after ``B`` only); ``D`` joins ``A``, ``C``.

    The critical path is ``B`` + ``C`` = 0.21 s. A level-by-level scheduler waits for
    ``A`` before it starts ``C`` and takes 0.40 s.
    """
    sleep, add_tool = _sleepy(kind)
    return DAGFlow(
        f"skewed-{kind}",
        [
            Step(id="A", tool=sleep, inputs={"seconds": "long"}, outputs={"a": "slept"}),
            Step(id="B", tool=sleep, inputs={"seconds": "short"}, outputs={"b": "slept"}),
            Step(
                id="C",
                tool=sleep,
                inputs={"seconds": "long"},
                outputs={"c": "slept"},
                depends_on=("B",),
            ),
            Step(id="D", tool=add_tool, depends_on=("A", "C")),
        ],
    )


def six_leaves(kind: Kind) -> DAGFlow:
    """Six independent 50 ms steps (``leaf0``..``leaf5``, writing ``s0``..``s5``) -> ``join``."""
    sleep, add_tool = _sleepy(kind)
    ids = tuple(f"leaf{i}" for i in range(SIX))
    return DAGFlow(
        f"six-leaves-{kind}",
        [
            *[
                Step(id=leaf, tool=sleep, inputs={"seconds": "leaf"}, outputs={f"s{i}": "slept"})
                for i, leaf in enumerate(ids)
            ],
            Step(id="join", tool=add_tool, inputs={"a": "s0", "c": f"s{SIX - 1}"}, depends_on=ids),
        ],
    )


def crunch_flow(max_concurrency: int = CPU_ITEMS) -> Flow:
    """One map step of ``crunch`` over ``xs`` (each item a number of rounds), into ``out``."""
    return Flow(
        f"crunch{CPU_ITEMS}-c{max_concurrency}",
        [
            MapStep(
                id="all",
                over="xs",
                tool="crunch",
                item="rounds",
                results="out",
                max_concurrency=max_concurrency,
                error_policy="fail_fast",
            )
        ],
    )


LINEAR_INPUTS: dict[str, Any] = {"n": 0}
DAG_INPUTS: dict[str, Any] = {"seed": 0}
SKEW_INPUTS: dict[str, Any] = {"long": SKEW_LONG_S, "short": SKEW_SHORT_S}
SIX_INPUTS: dict[str, Any] = {"leaf": LEAF_S}
# Distinct items, so a result out of place shows in the answer.
CPU_INPUTS: dict[str, Any] = {"xs": [CPU_ROUNDS + i for i in range(CPU_ITEMS)]}


def share_benchmark_path() -> None:
    """Put ``benchmarks/`` and the checkout on ``PYTHONPATH``, so that Dask worker
    processes started from now on import the benchmark tools and this ``dagwright``."""
    here = Path(__file__).resolve().parent
    wanted = [str(here), str(here.parent)]
    current = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([*wanted, *(p for p in current if p not in wanted)])


def executor(max_concurrency: int) -> FlowExecutor:
    """An executor holding the benchmark tools."""
    return FlowExecutor(TOOLS, max_concurrency=max_concurrency)


def concurrency_executor(max_concurrency: int = 8) -> FlowExecutor:
    """An executor holding the concurrency benchmark tools (sync and async)."""
    return FlowExecutor(CONCURRENCY_TOOLS, max_concurrency=max_concurrency)


def check_linear(output: dict[str, Any], steps: int) -> None:
    """Fail loudly if a linear run did not compute what it should."""
    if output.get("n") != steps:
        raise AssertionError(f"linear{steps} returned {output!r}")


def check_dag(output: dict[str, Any], leaves: int = LEAVES) -> None:
    """Fail loudly if a fan-out run did not compute what it should."""
    if output.get("total") != 3 or len(output) != leaves + 3:
        total = output.get("total")
        raise AssertionError(f"fan{leaves} returned {len(output)} keys, total={total}")


def check_skewed(output: dict[str, Any]) -> None:
    """Fail loudly if a skewed-DAG run did not compute what it should."""
    if output.get("total") != 2 * SKEW_LONG_S:
        raise AssertionError(f"skewed DAG returned {output!r}")


def check_six(output: dict[str, Any]) -> None:
    """Fail loudly if a six-leaves run did not compute what it should."""
    if output.get("total") != 2 * LEAF_S or len(output) != SIX + 2:
        raise AssertionError(f"six leaves returned {output!r}")


def compile_cold(flow: Flow) -> CompiledFlow:
    """Compile ``flow`` with dagwright's compile cache emptied first.

    Pass a flow object built for this call: ``Flow.definition_digest`` is cached on the
    instance, and a cold compile includes computing it. Per-tool interfaces (derived
    from the tools' JSON Schemas) stay cached; they do not depend on the flow.
    """
    clear_cache()
    return compile_flow(flow, tools=TOOLS)


_INC_INPUT = inc.input_schema


def pydantic_floor(steps: int) -> dict[str, Any]:
    """Run ``steps`` validated steps by hand: validate, call, dump to JSON mode, merge."""
    context: dict[str, Any] = {"n": 0}
    for _ in range(steps):
        validated = _INC_INPUT.model_validate({"n": context["n"]})
        context.update(add_one(validated.n).model_dump(mode="json"))  # type: ignore[attr-defined]
    return context


Runner = Callable[[Flow, dict[str, Any]], ExecutionResult]
"""Runs a flow once on one lane and returns its result."""

SLEEPY_ROUNDS = 5
"""Rounds of the benchmarks whose tools sleep: each round lasts tens of milliseconds."""


def runner(executor: FlowExecutor, lane: str, loop: asyncio.AbstractEventLoop) -> Runner:
    """A callable running a flow once on ``lane`` (the async lane on ``loop``)."""
    if lane == "sync":
        return executor.run

    def arun(flow: Flow, inputs: dict[str, Any]) -> ExecutionResult:
        return loop.run_until_complete(executor.arun(flow, inputs))

    return arun


def run_slowly(
    benchmark: BenchmarkFixture, run: Runner, flow: Flow, inputs: dict[str, Any]
) -> ExecutionResult:
    """Time a run whose tools sleep: a few rounds of one call, not a calibrated loop."""
    result: ExecutionResult = benchmark.pedantic(  # type: ignore[no-untyped-call]
        run, args=(flow, inputs), rounds=SLEEPY_ROUNDS, iterations=1, warmup_rounds=1
    )
    return result

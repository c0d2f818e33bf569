"""ChainWeaver 0.14.1's cases of the ``compare.py`` workloads (``pip install chainweaver==0.14.1``).

ChainWeaver is not a dagwright dependency: :func:`load` returns ``None`` when it is not
installed. The flows mirror ``_workloads.py`` step for step, with tools that validate the
same input models, return ``{"n": n + 1}``-style dicts and have them validated against
the same output models (ChainWeaver tools return dicts):

* linear flows map their input explicitly and use ``on_context_collision="overwrite"``:
  with its default ``"warn"`` ChainWeaver logs a WARNING at run time for every step of a
  chain (dagwright reports these ordered collisions once, at compile time);
* DAGs rename outputs with ``output_mapping`` (``k<i>``, ``a``/``b``/``c``);
* ``dag1`` and ``skew-run`` use ``execute_flow``, its sync lane, which runs a DAG level
  one step after another; ``dag8`` and ``skew-arun`` use ``execute_flow_async`` with
  ``max_step_concurrency=8`` on the group's event loop, its only concurrent mode (sync
  tools go to asyncio's default thread pool);
* checkpoints: its ``InMemoryCheckpointer`` and, for the SQLite row, its
  ``FileCheckpointer`` (one JSON snapshot per run rewritten after every step; it has no
  SQLite store), fresh per sample, ``delete_on_success=True`` (its default);
* compile: ``chainweaver.compile_flow(flow, tools)``, a static checker that builds no plan,
  of a flow given an ``input_schema_ref`` (without one it reports the flow input missing);
* the step cache: ``FlowExecutor(step_cache=InMemoryStepCache())`` and a tool with
  ``cacheable=True``.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from typing import Any

import _floor
import _workloads as w
import bench_cache
from _imports import import_case
from _sampling import BenchmarkError, Builder, Case, Env, Library, Run, Unsupported

LEAVES = 1000


def _inc(inp: _floor.NIn) -> dict[str, Any]:
    return {"n": inp.n + 1}


def _nap(inp: _floor.NapIn) -> dict[str, Any]:
    return _floor.nap(inp.seconds)


async def _anap(inp: _floor.NapIn) -> dict[str, Any]:
    await asyncio.sleep(inp.seconds)
    return {"slept": inp.seconds}


def _join(inp: _floor.JoinIn) -> dict[str, Any]:
    return {"total": inp.a + inp.c}


async def _ajoin(inp: _floor.JoinIn) -> dict[str, Any]:
    return {"total": inp.a + inp.c}


def _work20(inp: _floor.ValueIn) -> dict[str, Any]:
    return _floor.work20(inp.value, bench_cache.SPIN_S).model_dump(mode="json")


def _final(result: Any) -> dict[str, Any]:
    if not result.success:
        raise BenchmarkError(f"run failed: {result}")
    output: dict[str, Any] = dict(result.final_output)
    return output


class _Flows:
    """The ChainWeaver module, its tools and the flow definitions of every workload."""

    def __init__(self, cw: Any) -> None:
        self.cw = cw

        def make(name: str, fn: Callable[..., Any], inp: type, out: type, **kw: Any) -> Any:
            return cw.Tool(
                name=name, description=name, input_schema=inp, output_schema=out, fn=fn, **kw
            )

        self.tools = [
            make("inc", _inc, _floor.NIn, _floor.NOut),
            make("nap", _nap, _floor.NapIn, _floor.NapOut),
            make("anap", _anap, _floor.NapIn, _floor.NapOut),
            make("join", _join, _floor.JoinIn, _floor.JoinOut),
            make("ajoin", _ajoin, _floor.JoinIn, _floor.JoinOut),
            make("work20", _work20, _floor.ValueIn, _floor.ValueOut, cacheable=True),
        ]

    def linear(self, steps: int, tool: str = "inc", key: str = "n", **kw: Any) -> Any:
        """A linear flow of ``steps`` steps of ``tool`` rewriting ``key``."""
        return self.cw.Flow(
            name=f"{tool}-linear{steps}",
            description="benchmark",
            steps=[self.cw.FlowStep(tool_name=tool, input_mapping={key: key})] * steps,
            on_context_collision="overwrite",
            **kw,
        )

    def fan(self, leaves: int = LEAVES) -> Any:
        """``root`` -> ``leaves`` leaves (each writing ``k<i>``) -> ``join``."""
        step = self.cw.DAGFlowStep
        ids = [f"leaf{i}" for i in range(leaves)]
        return self.cw.DAGFlow(
            name="fan",
            version="1.0.0",
            description="benchmark",
            steps=[
                step(step_id="root", tool_name="inc", input_mapping={"n": "seed"}),
                *[
                    step(
                        step_id=leaf,
                        tool_name="inc",
                        input_mapping={"n": "n"},
                        depends_on=["root"],
                        output_mapping={f"k{i}": "n"},
                    )
                    for i, leaf in enumerate(ids)
                ],
                step(
                    step_id="join",
                    tool_name="inc",
                    input_mapping={"n": "k0"},
                    depends_on=ids,
                    output_mapping={"total": "n"},
                ),
            ],
        )

    def skewed(self, kind: str) -> Any:
        """``A`` (long), ``B`` (short) -> ``C`` (long); ``D`` joins ``A`` and ``C``."""
        step = self.cw.DAGFlowStep
        sleep, add = ("nap", "join") if kind == "sync" else ("anap", "ajoin")

        def napping(step_id: str, seconds: str, key: str, after: list[str]) -> Any:
            return step(
                step_id=step_id,
                tool_name=sleep,
                input_mapping={"seconds": seconds},
                output_mapping={key: "slept"},
                depends_on=after,
            )

        return self.cw.DAGFlow(
            name=f"skewed-{kind}",
            version="1.0.0",
            description="benchmark",
            steps=[
                napping("A", "long", "a", []),
                napping("B", "short", "b", []),
                napping("C", "long", "c", ["B"]),
                step(
                    step_id="D",
                    tool_name=add,
                    input_mapping={"a": "a", "c": "c"},
                    depends_on=["A", "C"],
                ),
            ],
        )

    def executor(self, flow: Any, **kw: Any) -> Any:
        """An executor holding every tool, with ``flow`` registered."""
        registry = self.cw.FlowRegistry()
        registry.register_flow(flow)
        executor = self.cw.FlowExecutor(registry=registry, **kw)
        for item in self.tools:
            executor.register_tool(item)
        return executor


def _sync(flows: _Flows, flow: Any, inputs: dict[str, Any], env: Env, **kw: Any) -> Case:
    executor = flows.executor(flow, **kw)
    return Case(partial(executor.execute_flow, flow.name, inputs), answer=_final)


def _async(flows: _Flows, flow: Any, inputs: dict[str, Any], env: Env) -> Case:
    executor = flows.executor(flow, max_step_concurrency=8)

    def run() -> Any:
        return env.loop.run_until_complete(executor.execute_flow_async(flow.name, inputs))

    return Case(run, answer=_final)


def _checkpointed(flows: _Flows, store: str, steps: int, env: Env) -> Case:
    flow = flows.linear(steps)
    dirs = iter(range(1_000_000))

    def prepare(stack: ExitStack) -> Run:
        checkpointer: Any = None
        if store == "memory":
            checkpointer = flows.cw.InMemoryCheckpointer()
        elif store == "sqlite":
            checkpointer = flows.cw.FileCheckpointer(env.tmp / f"cw-{steps}-{next(dirs)}")
        executor = flows.executor(flow, checkpointer=checkpointer)
        return partial(executor.execute_flow, flow.name, {"n": 0})

    note = "FileCheckpointer: ChainWeaver has no SQLite store" if store == "sqlite" else ""
    return Case(prepare=prepare, answer=_final, sync_disk=store == "sqlite", note=note)


def _compile(flows: _Flows, steps: int, env: Env) -> Case:
    tools = {item.name: item for item in flows.tools}

    def prepare(stack: ExitStack) -> Run:
        flow = flows.linear(steps, input_schema_ref="_floor:NIn")
        return partial(flows.cw.compile_flow, flow, tools)

    def answer(report: Any) -> int:
        if report.errors:
            raise BenchmarkError(f"compile_flow reported {report.errors[:3]}")
        return steps

    return Case(prepare=prepare, answer=answer, max_number=1)


def _cached(flows: _Flows, hit: bool, env: Env) -> Case:
    flow = flows.linear(bench_cache.STEPS, tool="work20", key="value")
    cache = flows.cw.InMemoryStepCache() if hit else None
    return _sync(flows, flow, {"value": 0}, env, step_cache=cache)


def load() -> Library | None:
    """ChainWeaver's cases, or ``None`` when ``chainweaver`` is not installed."""
    try:
        cw: Any = importlib.import_module("chainweaver")
    except ImportError:
        return None
    flows = _Flows(cw)
    dag_inputs = {"seed": 0}
    skew_inputs = dict(w.SKEW_INPUTS)
    builders: dict[str, Builder] = {
        "lin5": lambda env: _sync(flows, flows.linear(5), {"n": 0}, env),
        "lin100": lambda env: _sync(flows, flows.linear(100), {"n": 0}, env),
        "dag8": lambda env: _async(flows, flows.fan(), dag_inputs, env),
        "dag1": lambda env: _sync(flows, flows.fan(), dag_inputs, env),
        "skew-run": lambda env: _sync(flows, flows.skewed("sync"), skew_inputs, env),
        "skew-arun": lambda env: _async(flows, flows.skewed("async"), skew_inputs, env),
        "cache-call": partial(_cached, flows, False),
        "cache-hit": partial(_cached, flows, True),
        "import": partial(import_case, "chainweaver"),
        "dask": lambda env: Unsupported("no Dask runner"),
        "cpu16-threads": lambda env: Unsupported("no Dask runner"),
        "cpu16-dask": lambda env: Unsupported("no Dask runner"),
    }
    for steps in (100, 1000):
        for store in ("plain", "memory", "sqlite"):
            builders[f"ckpt-{store}-{steps}"] = partial(_checkpointed, flows, store, steps)
    for steps in (1000, 10_000):
        builders[f"compile-{steps}"] = partial(_compile, flows, steps)
    version = str(getattr(cw, "__version__", "?"))
    return Library("chainweaver", f"ChainWeaver {version}", version, builders)

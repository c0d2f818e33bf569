"""ChainWeaver 0.14.1 versions of the benchmark workloads, for ``compare.py``.

ChainWeaver is not a dagwright dependency: ``load()`` returns ``None`` when it is not
installed. The workloads mirror ``_workloads.py`` step for step:

* the tool validates an input model, returns ``{"n": n + 1}`` and has it validated
  against the same output model (ChainWeaver tools return dicts);
* linear flows map ``n`` explicitly and use ``on_context_collision="overwrite"``: with
  its default ``"warn"``, ChainWeaver logs a WARNING at run time for every step of the
  chain (dagwright reports these ordered collisions once, at compile time);
* the fan-out DAG is ``root`` -> 1000 leaves (each ``output_mapping={"k<i>": "n"}``) ->
  ``join`` (reads ``k0``, writes ``total``).

ChainWeaver's sync lane (``execute_flow``) always runs a DAG level sequentially; its only
concurrent mode is the async lane with ``max_step_concurrency`` (sync tools go to
asyncio's default thread pool), timed here as ``dag_async``. Its static check is
``chainweaver.compile_flow(flow, tools)``; it has no compiled plan to reuse, and
re-validates the DAG topology on every run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

LEAVES = 1000


class CwIn(BaseModel):
    """Input of ChainWeaver's ``inc``."""

    n: int


class CwOut(BaseModel):
    """Output of ChainWeaver's ``inc``."""

    n: int


def _inc(inp: CwIn) -> dict[str, Any]:
    return {"n": inp.n + 1}


@dataclass(frozen=True)
class ChainWeaverWorkloads:
    """Zero-argument callables running each workload once, and the module version."""

    version: str
    linear5: Callable[[], dict[str, Any]]
    linear100: Callable[[], dict[str, Any]]
    dag_sync: Callable[[], dict[str, Any]]
    dag_async: Callable[[], dict[str, Any]]
    compile_dag: Callable[[], Any]
    async_concurrency: int


def load(leaves: int = LEAVES, async_concurrency: int = 8) -> ChainWeaverWorkloads | None:
    """Build the ChainWeaver workloads, or ``None`` when ``chainweaver`` is not installed."""
    try:
        import chainweaver as cw
    except ImportError:
        return None

    tool: Any = cw.Tool(
        name="inc",
        description="Add one.",
        input_schema=CwIn,
        output_schema=CwOut,
        fn=_inc,
    )
    registry: Any = cw.FlowRegistry()
    for length in (5, 100):
        registry.register_flow(
            cw.Flow(
                name=f"linear{length}",
                description="benchmark",
                steps=[cw.FlowStep(tool_name="inc", input_mapping={"n": "n"})] * length,
                on_context_collision="overwrite",
            )
        )
    ids = [f"leaf{i}" for i in range(leaves)]
    dag: Any = cw.DAGFlow(
        name="fan",
        version="1.0.0",
        description="benchmark",
        steps=[
            cw.DAGFlowStep(step_id="root", tool_name="inc", input_mapping={"n": "seed"}),
            *[
                cw.DAGFlowStep(
                    step_id=leaf,
                    tool_name="inc",
                    input_mapping={"n": "n"},
                    depends_on=["root"],
                    output_mapping={f"k{i}": "n"},
                )
                for i, leaf in enumerate(ids)
            ],
            cw.DAGFlowStep(
                step_id="join",
                tool_name="inc",
                input_mapping={"n": "k0"},
                depends_on=ids,
                output_mapping={"total": "n"},
            ),
        ],
    )
    registry.register_flow(dag)

    sync_executor: Any = cw.FlowExecutor(registry=registry)
    sync_executor.register_tool(tool)
    async_executor: Any = cw.FlowExecutor(registry=registry, max_step_concurrency=async_concurrency)
    async_executor.register_tool(tool)

    def run(name: str, inputs: dict[str, Any]) -> Callable[[], dict[str, Any]]:
        def call() -> dict[str, Any]:
            result = sync_executor.execute_flow(name, inputs)
            if not result.success:
                raise AssertionError(f"chainweaver {name} failed: {result}")
            output: dict[str, Any] = result.final_output
            return output

        return call

    def dag_async() -> dict[str, Any]:
        result = asyncio.run(async_executor.execute_flow_async("fan", {"seed": 0}))
        if not result.success:
            raise AssertionError(f"chainweaver fan (async) failed: {result}")
        output: dict[str, Any] = result.final_output
        return output

    def compile_dag() -> Any:
        return cw.compile_flow(dag, {"inc": tool})

    return ChainWeaverWorkloads(
        version=str(getattr(cw, "__version__", "?")),
        linear5=run("linear5", {"n": 0}),
        linear100=run("linear100", {"n": 0}),
        dag_sync=run("fan", {"seed": 0}),
        dag_async=dag_async,
        compile_dag=compile_dag,
        async_concurrency=async_concurrency,
    )


# ---- concurrency workloads (bench_dag_concurrency.py) -----------------------------------


class CwNapIn(BaseModel):
    """Input of ChainWeaver's sleeping tools."""

    seconds: float


class CwNapOut(BaseModel):
    """Output of ChainWeaver's sleeping tools."""

    slept: float


class CwJoinIn(BaseModel):
    """Input of ChainWeaver's ``join``."""

    a: float
    c: float


class CwJoinOut(BaseModel):
    """Output of ChainWeaver's ``join``."""

    total: float


async def _ainc(inp: CwIn) -> dict[str, Any]:
    return {"n": inp.n + 1}


def _nap(inp: CwNapIn) -> dict[str, Any]:
    time.sleep(inp.seconds)
    return {"slept": inp.seconds}


async def _anap(inp: CwNapIn) -> dict[str, Any]:
    await asyncio.sleep(inp.seconds)
    return {"slept": inp.seconds}


def _join(inp: CwJoinIn) -> dict[str, Any]:
    return {"total": inp.a + inp.c}


async def _ajoin(inp: CwJoinIn) -> dict[str, Any]:
    return {"total": inp.a + inp.c}


Lane = str  # "sync": execute_flow; "async": execute_flow_async on one persistent loop
Kind = str  # "sync": tools are plain functions; "async": tools are coroutine functions


@dataclass
class ChainWeaverConcurrency:
    """Zero-argument callables running ChainWeaver's concurrency workloads once.

    ``skewed[(lane, kind)]`` and ``six_leaves[(lane, kind)]`` use an executor with
    ``max_step_concurrency=async_concurrency`` (the sync lane ignores it: it runs a DAG
    level sequentially); ``async_dag[(lane, concurrency)]`` and
    ``async_linear5[(lane, concurrency)]`` run the trivial async ``ainc`` tool. The async
    lane runs on one event loop kept for all calls (``loop.run_until_complete``, as for
    dagwright); the sync lane calls an async tool with ``asyncio.run`` per call.
    ``close()`` closes the loop.
    """

    skewed: dict[tuple[Lane, Kind], Callable[[], dict[str, Any]]]
    six_leaves: dict[tuple[Lane, Kind], Callable[[], dict[str, Any]]]
    async_dag: dict[tuple[Lane, int], Callable[[], dict[str, Any]]]
    async_linear5: dict[tuple[Lane, int], Callable[[], dict[str, Any]]]
    async_concurrency: int
    loop: asyncio.AbstractEventLoop

    def close(self) -> None:
        """Close the event loop of the async lane."""
        self.loop.close()


def load_concurrency(
    *,
    long_s: float,
    short_s: float,
    leaf_s: float,
    six: int = 6,
    leaves: int = LEAVES,
    async_concurrency: int = 8,
) -> ChainWeaverConcurrency | None:
    """Build the ChainWeaver concurrency workloads, or ``None`` without ``chainweaver``.

    The flows mirror ``_workloads.skewed_dag``, ``six_leaves``, ``fan_dag(leaves,
    "ainc")`` and ``linear(5, "ainc")`` step for step; the sleeping tools read their
    durations from the flow inputs ``long``, ``short`` and ``leaf``.
    """
    try:
        import chainweaver as cw
    except ImportError:
        return None

    def make_tool(name: str, fn: Callable[..., Any], inp: type, out: type) -> Any:
        return cw.Tool(name=name, description=name, input_schema=inp, output_schema=out, fn=fn)

    tools = [
        make_tool("ainc", _ainc, CwIn, CwOut),
        make_tool("nap", _nap, CwNapIn, CwNapOut),
        make_tool("anap", _anap, CwNapIn, CwNapOut),
        make_tool("join", _join, CwJoinIn, CwJoinOut),
        make_tool("ajoin", _ajoin, CwJoinIn, CwJoinOut),
    ]
    registry: Any = cw.FlowRegistry()
    step = cw.DAGFlowStep
    for kind in ("sync", "async"):
        sleep, add = ("nap", "join") if kind == "sync" else ("anap", "ajoin")
        registry.register_flow(
            cw.DAGFlow(
                name=f"skewed-{kind}",
                version="1.0.0",
                description="benchmark",
                steps=[
                    step(
                        step_id="A",
                        tool_name=sleep,
                        input_mapping={"seconds": "long"},
                        output_mapping={"a": "slept"},
                    ),
                    step(
                        step_id="B",
                        tool_name=sleep,
                        input_mapping={"seconds": "short"},
                        output_mapping={"b": "slept"},
                    ),
                    step(
                        step_id="C",
                        tool_name=sleep,
                        input_mapping={"seconds": "long"},
                        output_mapping={"c": "slept"},
                        depends_on=["B"],
                    ),
                    step(
                        step_id="D",
                        tool_name=add,
                        input_mapping={"a": "a", "c": "c"},
                        depends_on=["A", "C"],
                    ),
                ],
            )
        )
        six_ids = [f"leaf{i}" for i in range(six)]
        registry.register_flow(
            cw.DAGFlow(
                name=f"six-leaves-{kind}",
                version="1.0.0",
                description="benchmark",
                steps=[
                    *[
                        step(
                            step_id=leaf,
                            tool_name=sleep,
                            input_mapping={"seconds": "leaf"},
                            output_mapping={f"s{i}": "slept"},
                        )
                        for i, leaf in enumerate(six_ids)
                    ],
                    step(
                        step_id="join",
                        tool_name=add,
                        input_mapping={"a": "s0", "c": f"s{six - 1}"},
                        depends_on=six_ids,
                    ),
                ],
            )
        )
    ids = [f"leaf{i}" for i in range(leaves)]
    registry.register_flow(
        cw.DAGFlow(
            name="afan",
            version="1.0.0",
            description="benchmark",
            steps=[
                step(step_id="root", tool_name="ainc", input_mapping={"n": "seed"}),
                *[
                    step(
                        step_id=leaf,
                        tool_name="ainc",
                        input_mapping={"n": "n"},
                        depends_on=["root"],
                        output_mapping={f"k{i}": "n"},
                    )
                    for i, leaf in enumerate(ids)
                ],
                step(
                    step_id="join",
                    tool_name="ainc",
                    input_mapping={"n": "k0"},
                    depends_on=ids,
                    output_mapping={"total": "n"},
                ),
            ],
        )
    )
    registry.register_flow(
        cw.Flow(
            name="alinear5",
            description="benchmark",
            steps=[cw.FlowStep(tool_name="ainc", input_mapping={"n": "n"})] * 5,
            on_context_collision="overwrite",
        )
    )

    executors: dict[int, Any] = {}
    for concurrency in {1, async_concurrency}:
        executors[concurrency] = cw.FlowExecutor(
            registry=registry, max_step_concurrency=concurrency
        )
        for item in tools:
            executors[concurrency].register_tool(item)
    loop = asyncio.new_event_loop()

    def run(
        lane: Lane, name: str, inputs: dict[str, Any], concurrency: int = async_concurrency
    ) -> Callable[[], dict[str, Any]]:
        executor = executors[concurrency]

        def call() -> dict[str, Any]:
            if lane == "sync":
                result = executor.execute_flow(name, inputs)
            else:
                result = loop.run_until_complete(executor.execute_flow_async(name, inputs))
            if not result.success:
                raise AssertionError(f"chainweaver {name} ({lane} lane) failed: {result}")
            output: dict[str, Any] = result.final_output
            return output

        return call

    lanes_kinds = [(lane, kind) for lane in ("sync", "async") for kind in ("sync", "async")]
    lanes_concurrency = [(lane, c) for lane in ("sync", "async") for c in (1, async_concurrency)]
    skew_inputs = {"long": long_s, "short": short_s}
    return ChainWeaverConcurrency(
        skewed={lk: run(lk[0], f"skewed-{lk[1]}", skew_inputs) for lk in lanes_kinds},
        six_leaves={lk: run(lk[0], f"six-leaves-{lk[1]}", {"leaf": leaf_s}) for lk in lanes_kinds},
        async_dag={lc: run(lc[0], "afan", {"seed": 0}, lc[1]) for lc in lanes_concurrency},
        async_linear5={lc: run(lc[0], "alinear5", {"n": 0}, lc[1]) for lc in lanes_concurrency},
        async_concurrency=async_concurrency,
        loop=loop,
    )

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

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
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from dagwright import DAGFlow, Flow, FlowExecutor, Step, Tool, tool
from dagwright.compiler import CompiledFlow, clear_cache, compile_flow

LINEAR_SHORT = 5
LINEAR_LONG = 100
LEAVES = 1000

# Targets from DESIGN.md section 7 (microseconds; import time in seconds).
TARGET_LINEAR5_US = 25.0
TARGET_PER_STEP_US = 4.0
TARGET_DAG_US = 5000.0
TARGET_IMPORT_S = 0.15
# The pydantic floor on the machine the targets were set on (DESIGN.md, LESSONS.md).
REFERENCE_FLOOR5_US = 13.0
REFERENCE_FLOOR_STEP_US = 1.5


class Num(BaseModel):
    """A number: the output of every benchmark tool."""

    n: int


def add_one(n: int) -> Num:
    """Add one."""
    return Num(n=n + 1)


inc: Tool = tool(name="inc")(add_one)
"""The trivial validated tool every workload calls."""

TOOLS: tuple[Tool, ...] = (inc,)


def linear(steps: int) -> Flow:
    """A linear flow of ``steps`` ``inc`` steps (ids ``inc``, ``inc-2``, ...)."""
    return Flow(f"linear{steps}", [Step(tool="inc") for _ in range(steps)])


def fan_dag(leaves: int = LEAVES) -> DAGFlow:
    """``root`` -> ``leaves`` independent leaves -> ``join``."""
    ids = tuple(f"leaf{i}" for i in range(leaves))
    return DAGFlow(
        f"fan{leaves}",
        [
            Step(id="root", tool="inc", inputs={"n": "seed"}),
            *[
                Step(id=leaf, tool="inc", depends_on=("root",), outputs={f"k{i}": "n"})
                for i, leaf in enumerate(ids)
            ],
            Step(id="join", tool="inc", inputs={"n": "k0"}, depends_on=ids, outputs={"total": "n"}),
        ],
    )


LINEAR_INPUTS: dict[str, Any] = {"n": 0}
DAG_INPUTS: dict[str, Any] = {"seed": 0}


def executor(max_concurrency: int) -> FlowExecutor:
    """An executor holding the benchmark tools."""
    return FlowExecutor(TOOLS, max_concurrency=max_concurrency)


def check_linear(output: dict[str, Any], steps: int) -> None:
    """Fail loudly if a linear run did not compute what it should."""
    if output.get("n") != steps:
        raise AssertionError(f"linear{steps} returned {output!r}")


def check_dag(output: dict[str, Any], leaves: int = LEAVES) -> None:
    """Fail loudly if a fan-out run did not compute what it should."""
    if output.get("total") != 3 or len(output) != leaves + 3:
        total = output.get("total")
        raise AssertionError(f"fan{leaves} returned {len(output)} keys, total={total}")


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

"""A run id can be known before the run starts, made as the executor makes its own."""

from __future__ import annotations

import re

from pydantic import BaseModel

from dagwright import DAGFlow, FlowExecutor, InMemoryCheckpointer, Step, tool


class Out(BaseModel):
    value: int


@tool
def echo(x: int) -> Out:
    """Echo."""
    return Out(value=x)


def test_new_run_ids_look_like_the_executors_own_and_differ() -> None:
    flow = DAGFlow("ids", [Step(id="e", tool="echo")])
    with FlowExecutor([echo], checkpointer=InMemoryCheckpointer()) as ex:
        made = ex.run(flow, {"x": 1}).run_id
        chosen = FlowExecutor.new_run_id()
        assert ex.run(flow, {"x": 2}, run_id=chosen).run_id == chosen
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert re.fullmatch(r"[0-9a-f]{32}", chosen)
    assert chosen != FlowExecutor.new_run_id()

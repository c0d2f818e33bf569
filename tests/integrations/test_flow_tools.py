"""What every framework's flow tool shares: the flow's own result, journaled runs that an
interrupt leaves resumable, names resolved once, and an import that loads one framework."""

from __future__ import annotations

import asyncio
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagwright import Flow, FlowExecutor, FlowNotFoundError, Step, tool
from dagwright.integrations import langchain, openai_agents, pydantic_ai
from tests.integrations.flows import (
    GREET,
    INTERRUPTED,
    INTERRUPTS,
    Shout,
    greet,
    shout,
    stored_runs,
)
from tests.integrations.unavailable import modules_after_import

pytestmark = pytest.mark.timeout(60)

FRAMEWORKS = {"pydantic_ai", "langchain_core", "agents"}


@settings(max_examples=25, deadline=None)
@given(name=st.text(max_size=20), punctuation=st.text(max_size=3))
def test_a_call_returns_what_the_flow_returns(name: str, punctuation: str) -> None:
    with FlowExecutor([greet, shout]) as ex:
        args = {"name": name, "punctuation": punctuation}
        expected = ex.compile(GREET).outputs_of(ex.run(GREET, args))
        assert langchain.flow_tool(ex, GREET).invoke(args) == expected


def test_an_interrupted_call_leaves_a_run_that_resumes(ex: FlowExecutor) -> None:
    made = langchain.flow_tool(ex, "greet_interrupted")
    INTERRUPTS.append(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        made.invoke({"name": "Ada"})
    assert ex.checkpointer is not None
    (header,) = ex.checkpointer.runs()
    assert header.status == "interrupted"
    result = ex.resume(header.run_id)
    assert result.success
    assert ex.compile(INTERRUPTED).outputs_of(result) == {
        "greeting": "Hello, Ada!",
        "loud": "HELLO, ADA!",
    }
    assert stored_runs(ex) == [("greet_interrupted", "succeeded", {"name": "Ada"})]


def test_each_call_is_a_run_of_its_own(ex: FlowExecutor) -> None:
    made = openai_agents.flow_tool(ex, GREET)

    async def both() -> None:
        await asyncio.gather(
            made.on_invoke_tool(None, '{"name": "Ada"}'),  # type: ignore[arg-type]
            made.on_invoke_tool(None, '{"name": "Ada"}'),  # type: ignore[arg-type]
        )

    asyncio.run(both())
    assert ex.checkpointer is not None
    runs = ex.checkpointer.runs()
    assert len({h.run_id for h in runs}) == 2
    assert {h.status for h in runs} == {"succeeded"}


def test_a_name_is_resolved_when_the_tool_is_made(ex: FlowExecutor) -> None:
    with pytest.raises(FlowNotFoundError):
        pydantic_ai.flow_tool(ex, "no_such_flow")
    made = langchain.flow_tool(ex, "greet_loudly")
    # A newer version registered later does not change the tool the agent was given.
    ex.registry.register(Flow("greet_loudly", [Step(tool="greet")], version="2"))
    assert made.invoke({"name": "Ada"}) == {"greeting": "Hello, Ada!", "loud": "HELLO, ADA!"}


@pytest.mark.parametrize(
    ("module", "framework"),
    [
        ("dagwright.integrations.pydantic_ai", "pydantic_ai"),
        ("dagwright.integrations.langchain", "langchain_core"),
        ("dagwright.integrations.openai_agents", "agents"),
    ],
)
def test_an_integration_loads_its_framework_only(module: str, framework: str) -> None:
    loaded = modules_after_import(module)
    assert loaded & FRAMEWORKS == {framework}


def test_a_hanging_tool_ends_in_a_timeout_the_agent_sees() -> None:
    release = threading.Event()

    @tool(timeout_s=0.2)
    def hang(greeting: str) -> Shout:
        """Waits until the test ends."""
        release.wait(30)
        return Shout(loud=greeting)

    hanging = Flow("greet_hanging", [Step(tool="greet"), Step(tool="hang")])
    with FlowExecutor([greet, hang]) as own:
        made = langchain.flow_tool(own, hanging)
        try:
            text = made.invoke({"name": "Ada"})
            atext = asyncio.run(made.ainvoke({"name": "Ada"}))
        finally:
            release.set()
    for got in (text, atext):
        assert isinstance(got, str)
        assert got.startswith("flow 'greet_hanging' failed at step 'hang': [DW-E104]")


def test_arguments_that_break_the_schema_are_rejected_before_any_run(ex: FlowExecutor) -> None:
    args = {"name": 5, "punctuation": ["!"]}
    expected = (
        "invalid arguments for 'greet_loudly': [DW-E004] at 'name': 5 is not of type "
        "'string'; at 'punctuation': ['!'] is not of type 'string'"
    )
    made = langchain.flow_tool(ex, GREET)
    assert made.invoke(args) == expected
    assert asyncio.run(made.ainvoke(args)) == expected
    assert stored_runs(ex) == []  # without the check, the run would fail at its first step

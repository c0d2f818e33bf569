"""Small local tools and flows the framework-integration tests expose as agent tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dagwright import Flow, FlowExecutor, SQLiteCheckpointer, Step, tool


class Greeting(BaseModel):
    greeting: str


class Shout(BaseModel):
    loud: str


@tool
def greet(name: str, punctuation: str = "!") -> Greeting:
    """Greet someone."""
    return Greeting(greeting=f"Hello, {name}{punctuation}")


@tool
def shout(greeting: str) -> Shout:
    """Upper-case a text."""
    return Shout(loud=greeting.upper())


@tool
def refuse(greeting: str) -> Shout:
    """Always fails, as a tool with a bug would."""
    raise ValueError(f"cannot shout {greeting!r}")


GREET = Flow(
    "greet_loudly",
    [Step(tool="greet"), Step(tool="shout")],
    description="Greet someone, loudly.",
)
BROKEN = Flow(
    "greet_broken",
    [Step(tool="greet"), Step(tool="refuse")],
    description="Greet someone, then fail.",
)
TOOLS = [greet, shout, refuse]


def executor(store: Path) -> FlowExecutor:
    """An executor over the local tools, journaling into the SQLite store ``store``."""
    ex = FlowExecutor(TOOLS, checkpointer=SQLiteCheckpointer(store))
    ex.registry.register(GREET)
    ex.registry.register(BROKEN)
    return ex


def stored_runs(ex: FlowExecutor) -> list[tuple[str, str, dict[str, Any]]]:
    """The runs the executor's store holds: ``(flow name, status, inputs)``, sorted."""
    store = ex.checkpointer
    assert store is not None
    return sorted(((h.flow_name, h.status, dict(h.inputs)) for h in store.runs()), key=repr)

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


def executor(store: Path) -> FlowExecutor:
    """An executor over the local tools, journaling into the SQLite store ``store``."""
    ex = FlowExecutor([greet, shout, refuse, stop_once], checkpointer=SQLiteCheckpointer(store))
    for flow in (GREET, BROKEN, INTERRUPTED):
        ex.registry.register(flow)
    return ex


def stored_runs(ex: FlowExecutor) -> list[tuple[str, str, dict[str, Any]]]:
    """The runs the executor's store holds: ``(flow name, status, inputs)``, sorted."""
    store = ex.checkpointer
    assert store is not None
    return sorted(((h.flow_name, h.status, dict(h.inputs)) for h in store.runs()), key=repr)


INTERRUPTS: list[BaseException] = []
"""Exceptions ``stop_once`` raises, one per call, while any are left."""


@tool
def stop_once(greeting: str) -> Shout:
    """Raises the next exception of ``INTERRUPTS`` (a Ctrl-C, as a crash would stop a
    process), then, once none are left, shouts."""
    if INTERRUPTS:
        raise INTERRUPTS.pop()
    return Shout(loud=greeting.upper())


INTERRUPTED = Flow(
    "greet_interrupted",
    [Step(tool="greet"), Step(tool="stop_once")],
    description="Greet someone; the second step may be interrupted.",
)

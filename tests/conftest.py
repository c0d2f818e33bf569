"""Shared tools and fixtures for the tests."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from dagwright import ExecutionResult, FlowExecutor, tool
from dagwright.checkpoint import Owner
from dagwright.checkpoint import lease as leases

Lane = Callable[..., ExecutionResult]
"""``lane(executor, flow, inputs, **kw)``: one run on the lane under test."""


class Number(BaseModel):
    n: int


class Result(BaseModel):
    result: int


class Text(BaseModel):
    text: str


@tool
def double(n: int) -> Result:
    """Double a number."""
    return Result(result=n * 2)


@tool
def increment(result: int) -> Number:
    """Add one to a result."""
    return Number(n=result + 1)


@tool
def square(n: int) -> Result:
    """Square a number."""
    return Result(result=n * n)


@tool
def shout(text: str) -> Text:
    """Upper-case a text."""
    return Text(text=text.upper())


@pytest.fixture
def executor() -> Iterator[FlowExecutor]:
    with FlowExecutor([double, increment, square, shout], max_concurrency=4) as ex:
        yield ex


@pytest.fixture(params=["sync", "async"])
def lane(request: pytest.FixtureRequest) -> Lane:
    """Run a flow on the lane under test: ``lane(executor, flow, inputs, **kw)``; its
    ``lane`` attribute names the lane."""

    def go(executor: FlowExecutor, flow: Any, inputs: Any = None, **kw: Any) -> ExecutionResult:
        if request.param == "sync":
            return executor.run(flow, inputs, **kw)
        return asyncio.run(executor.arun(flow, inputs, **kw))

    go.lane = request.param  # type: ignore[attr-defined]
    return go


@pytest.fixture
def live() -> Iterator[Callable[[], Owner]]:
    """Makes owners that hold a run in this process until the test ends."""
    made: list[Owner] = []

    def make() -> Owner:
        owner = Owner.new()
        leases.hold(owner)
        made.append(owner)
        return owner

    yield make
    for owner in made:
        leases.drop(owner)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``cli("runs", "list", ...)``: the ``dagwright`` command's ``main(argv)`` in this
    process; returns (exit code, stdout, stderr)."""
    from dagwright.cli import main

    def invoke(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of worker subprocesses: bytecode cached in a temporary directory
    (never in the repository), so the many short-lived workers do not all recompile
    dagwright."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.mktemp("pycache"))
    return env

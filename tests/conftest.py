"""Shared tools and fixtures for the tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from dagwright import FlowExecutor, tool


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

"""Tools and helpers shared by the compiler tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel

from dagwright.compiler import CompiledFlow, Diagnostic, compile_flow
from dagwright.errors import FlowCompileError
from dagwright.flows import Flow
from dagwright.registry import FlowRegistry
from dagwright.tools import Tool, ToolSpec, tool


class Num(BaseModel):
    n: int


class Res(BaseModel):
    result: int


class Txt(BaseModel):
    text: str


class Items(BaseModel):
    items: list[str]


class Doc(BaseModel):
    title: str
    tags: list[str]


class DocOut(BaseModel):
    doc: Doc


class Score(BaseModel):
    score: float


@tool
def double(n: int) -> Res:
    """Double a number."""
    return Res(result=n * 2)


@tool
def inc(result: int) -> Num:
    """Add one to a result."""
    return Num(n=result + 1)


@tool
def shout(text: str) -> Txt:
    """Upper-case a text."""
    return Txt(text=text.upper())


@tool
def render(n: int, prefix: str = "") -> Txt:
    """Render a number with an optional prefix."""
    return Txt(text=f"{prefix}{n}")


@tool
def listing(n: int) -> Items:
    """List n names."""
    return Items(items=[str(i) for i in range(n)])


@tool(timeout_s=5.0)
def fetch(url: str, retries: int = 0) -> Txt:
    """Fetch a page (pretend)."""
    return Txt(text=url)


@tool
def load(n: int) -> DocOut:
    """Load a document."""
    return DocOut(doc=Doc(title=str(n), tags=[]))


@tool
def rate(score: float) -> Res:
    """Round a score."""
    return Res(result=round(score))


@tool
def measure(n: int) -> Score:
    """Measure a number."""
    return Score(score=n / 2)


@tool(idempotent=False)
def charge(n: int) -> Res:
    """Charge a card (not idempotent)."""
    return Res(result=n)


@tool
def bare(n: int) -> Res:
    return Res(result=n)


@tool
def backup(n: int) -> Res:
    """A fallback for double."""
    return Res(result=0)


@tool
def partial_backup(n: int) -> Num:
    """A fallback that does not output `result`."""
    return Num(n=0)


TOOLS: tuple[Tool, ...] = (
    double,
    inc,
    shout,
    render,
    listing,
    fetch,
    load,
    rate,
    measure,
    charge,
    bare,
    backup,
    partial_backup,
)


def findings(
    flow: Flow,
    tools: Iterable[Tool | ToolSpec] | Mapping[str, Tool | ToolSpec] = TOOLS,
    registry: FlowRegistry | None = None,
) -> tuple[Diagnostic, ...]:
    """Every diagnostic of a compilation, whether or not it raised."""
    try:
        return compile_flow(flow, tools, registry).diagnostics
    except FlowCompileError as exc:
        return exc.diagnostics


def compiled(
    flow: Flow,
    tools: Iterable[Tool | ToolSpec] | Mapping[str, Tool | ToolSpec] = TOOLS,
    registry: FlowRegistry | None = None,
) -> CompiledFlow:
    """Compile and fail the test with every finding if it does not compile."""
    try:
        return compile_flow(flow, tools, registry)
    except FlowCompileError as exc:  # pragma: no cover - a failing test prints them
        raise AssertionError("\n".join(d.format() for d in exc.diagnostics)) from exc


def the(diagnostics: Iterable[Diagnostic], code: str) -> Diagnostic:
    """The one diagnostic with ``code``."""
    found = [d for d in diagnostics if d.code == code]
    assert len(found) == 1, [d.format() for d in diagnostics]
    return found[0]


def codes(diagnostics: Iterable[Diagnostic]) -> set[str]:
    """The set of codes found."""
    return {d.code for d in diagnostics}

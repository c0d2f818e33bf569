"""Tools shared by the io tests: structured types, so that type checks have work to do."""

from __future__ import annotations

from pydantic import BaseModel

from dagwright import tool


class SearchResult(BaseModel):
    url: str
    title: str


class Page(BaseModel):
    url: str
    text: str


class Hits(BaseModel):
    results: list[SearchResult]


class Summary(BaseModel):
    summary: str


@tool
def search(query: str, limit: int = 5) -> Hits:
    """Search the web."""
    return Hits(results=[])


@tool
def summarize(pages: list[Page]) -> Summary:
    """Summarize pages."""
    return Summary(summary="")


@tool(idempotent=False, cacheable=True, version="3")
def publish(summary: str) -> int:
    return 0


TOOLS = [search, summarize, publish]

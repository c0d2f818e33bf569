"""Types compared structurally: nested objects, arrays, unions, enums and references."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel

from dagwright.compiler._schemas import Comparer, compatible, inline_refs
from dagwright.flows import Flow, MapStep, Step
from dagwright.tools import tool
from tests.compiler._fixtures import codes, compiled, findings, the


class SearchResult(BaseModel):
    url: str
    score: float
    rank: int


class Page(BaseModel):
    url: str
    text: str


class Loose(BaseModel):
    url: str
    text: str | None = None
    score: float = 0.0


class Counted(BaseModel):
    url: str
    count: int


class Weighted(BaseModel):
    url: str
    count: float


class Ranked(BaseModel):
    url: str
    rank: float


class Hits(BaseModel):
    results: list[SearchResult]


class Pages(BaseModel):
    pages: list[Page]


class Summary(BaseModel):
    summary: str


class Deep(BaseModel):
    shelves: list[list[Page]]


class Mode(BaseModel):
    mode: Literal["fast", "slow"]


@tool
def search(query: str) -> Hits:
    """Search the web."""
    return Hits(results=[])


@tool
def summarize(pages: list[Page]) -> Summary:
    """Summarize pages."""
    return Summary(summary="")


@tool
def skim(pages: list[Loose]) -> Summary:
    """Skim pages, text optional."""
    return Summary(summary="")


@tool
def tally(pages: list[Ranked]) -> Summary:
    """Add up weights."""
    return Summary(summary="")


@tool
def shelve(shelves: list[list[Page]]) -> Summary:
    """Shelve pages."""
    return Summary(summary="")


@tool
def read_page(page: Page) -> Summary:
    """Read one page."""
    return Summary(summary="")


@tool
def pick_fast() -> Mode:
    """Always fast."""
    return Mode(mode="fast")


@tool
def go(mode: Literal["fast", "slow"]) -> Summary:
    """Go at a speed."""
    return Summary(summary="")


@tool
def crawl(mode: Literal["crawl", "walk"]) -> Summary:
    """Go slowly."""
    return Summary(summary="")


TOOLS = (search, summarize, skim, tally, shelve, read_page, pick_fast, go, crawl)


def schema(model: type[BaseModel]) -> dict[str, Any]:
    return inline_refs(model.model_json_schema())


def test_a_list_of_results_into_a_list_of_pages_names_the_missing_field() -> None:
    flow = Flow("f", [Step(tool="search"), Step(tool="summarize", inputs={"pages": "results"})])
    found = the(findings(flow, TOOLS), "DW202")
    assert found.severity == "error"
    assert found.step_id == "summarize"
    assert "`items.text`" in found.message
    assert "'text'" in found.message
    assert found.hint is not None and "nested" in found.hint


def test_compatible_nested_types_stay_clean() -> None:
    # Extra producer fields (score), optional consumer fields (text), int into float.
    flow = Flow(
        "f",
        [
            Step(tool="search"),
            Step(tool="skim", inputs={"pages": "results"}),
            Step(tool="tally", inputs={"pages": "results"}, outputs={"other": "summary"}),
        ],
    )
    assert "DW202" not in codes(findings(flow, TOOLS))
    assert compatible(schema(Counted), schema(Weighted))


def test_map_items_are_compared_structurally() -> None:
    flow = Flow(
        "f",
        [
            Step(tool="search"),
            MapStep(id="m", over="results", tool="read_page", item="page", results="out"),
        ],
    )
    found = the(findings(flow, TOOLS), "DW202")
    assert "item field 'page'" in found.message
    assert "`text`" in found.message


def test_literals_must_meet() -> None:
    ok = Flow("f", [Step(tool="pick_fast"), Step(tool="go")])
    compiled(ok, TOOLS)
    bad = Flow("f", [Step(tool="pick_fast"), Step(tool="crawl")])
    assert "only 'crawl', 'walk'" in the(findings(bad, TOOLS), "DW202").message


@pytest.mark.parametrize(
    ("producer", "consumer", "where"),
    [
        (
            {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
            {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
            "items.items",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "object", "properties": {}}}},
            {
                "type": "object",
                "properties": {"a": {"type": "object", "required": ["b"]}},
                "required": ["a"],
            },
            "a.b",
        ),
        (
            {"type": "object", "additionalProperties": {"type": "string"}},
            {"type": "object", "additionalProperties": {"type": "integer"}},
            "*",
        ),
        (
            {"type": "object", "properties": {"x": {"type": "integer"}}},
            {"type": "object", "properties": {}, "additionalProperties": False},
            "x",
        ),
        ({"const": 1}, {"enum": [2, 3]}, ""),
        ({"const": True}, {"const": 1}, ""),
    ],
)
def test_misfits_name_their_path(producer: Any, consumer: Any, where: str) -> None:
    found = Comparer().mismatch(producer, consumer)
    assert found is not None and found.where == where


@pytest.mark.parametrize(
    ("producer", "consumer"),
    [
        ({"const": 1}, {"enum": [1.0, 2]}),
        ({"type": "string"}, {"enum": ["a"]}),
        (
            {"anyOf": [{"type": "null"}, {"type": "array", "items": {"type": "integer"}}]},
            {"type": "array", "items": {"type": "number"}},
        ),
        ({"type": "object"}, {"type": "object", "required": ["x"]}),
        (
            {"type": "object", "properties": {}, "additionalProperties": True},
            {"type": "object", "required": ["x"]},
        ),
    ],
)
def test_optimistic_fits(producer: Any, consumer: Any) -> None:
    assert Comparer().mismatch(producer, consumer) is None


def test_unions_report_the_deepest_misfit() -> None:
    maybe_pages = {"anyOf": [{"type": "array", "items": schema(Page)}, {"type": "null"}]}
    found = Comparer().mismatch({"type": "array", "items": schema(SearchResult)}, maybe_pages)
    assert found is not None and found.where == "items.text"


def test_references_resolve_through_defs_and_recursion_ends() -> None:
    # Raw (not inlined) schemas: $ref into $defs, and a type that contains itself.
    raw = Deep.model_json_schema()
    assert Comparer().mismatch(raw, raw) is None
    producer = {
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
        "$ref": "#/$defs/Node",
    }
    consumer = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"next": {"$ref": "#/$defs/Node"}, "v": {"type": "integer"}},
                "required": ["v"],
            }
        },
        "$ref": "#/$defs/Node",
    }
    assert Comparer().mismatch(producer, producer) is None
    found = Comparer().mismatch(producer, consumer)
    assert found is not None and found.where == "v"


def test_a_pair_is_compared_once() -> None:
    comparer = Comparer()
    producer, consumer = schema(Hits), schema(Pages)
    first = comparer.mismatch(producer, consumer)
    assert comparer.mismatch(producer, consumer) is first

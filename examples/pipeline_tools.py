"""The tools of the example research pipeline (``examples/pipeline.flow.yaml``).

Deterministic and offline: a small in-memory corpus stands in for a search API and the
web, so every run of the pipeline gives the same output and digest. One page of the
corpus cannot be fetched (``fetch`` raises for it), which the pipeline's map step
collects instead of failing the run.

The flow files name these tools by import path, ``examples.pipeline_tools:search``;
``dagwright run examples/pipeline.flow.yaml`` from the repository root can import them.
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from dagwright import tool

CORPUS: dict[str, tuple[str, str]] = {
    "https://docs.example/dag-scheduling": (
        "Dependency-driven scheduling",
        "A scheduler that dispatches a step as soon as its dependencies finish keeps "
        "every worker busy. Level barriers wait for the slowest step of a level. "
        "On skewed graphs dependency-driven dispatch finishes near the critical path.",
    ),
    "https://docs.example/checkpoints": (
        "Journals beat snapshots",
        "Checkpointing by appending one record per completed step costs linear time. "
        "Copying the whole context after every step costs quadratic time. "
        "A journal makes resume exactly-once for completed work.",
    ),
    "https://docs.example/determinism": (
        "Deterministic agent tool chains",
        "Recording steps in canonical order rather than completion order makes runs "
        "reproducible. A digest over outputs and records proves two runs agree.",
    ),
    "https://docs.example/validation": (
        "Typed tools",
        "Validating every tool input and output catches bad data at the step that "
        "produced it. Static checks find missing inputs before a run starts.",
    ),
    "https://docs.example/moved": (
        "Scheduling notes (moved)",
        "This page has moved; fetching it fails, like a dead link found by a search.",
    ),
}

UNREACHABLE = frozenset({"https://docs.example/moved"})
"""Pages that search finds and fetch cannot get."""

_STOPWORDS = frozenset(
    re.findall(r"\w+", "a an and are as at be by do does for how in is it of on or the to what why")
)


def terms(text: str) -> list[str]:
    """The lower-case words of ``text`` that carry meaning, in order."""
    return [w for w in re.findall(r"[a-z]+", text.lower()) if w not in _STOPWORDS]


def _stem(word: str) -> str:
    return word[:6]


class Hit(BaseModel):
    """One search result."""

    url: str
    title: str
    score: int


class Page(BaseModel):
    """A fetched page."""

    url: str
    title: str
    text: str


class Passage(BaseModel):
    """A sentence of a page that matches the question."""

    url: str
    sentence: str
    overlap: int


class Summary(BaseModel):
    """An answer and the pages it came from."""

    summary: str
    sources: list[str]


class Verdict(BaseModel):
    """How well the answer covers the question."""

    confidence: float
    grade: str


def _overlap(question: str, text: str) -> int:
    wanted = {_stem(t) for t in terms(question)}
    return len(wanted & {_stem(t) for t in terms(text)})


@tool(output="results")
def search(query: str, limit: int = 3) -> list[Hit]:
    """Rank the corpus pages by how many question words they share; keep the best."""
    hits = [
        Hit(url=url, title=title, score=_overlap(query, f"{title} {text}"))
        for url, (title, text) in CORPUS.items()
    ]
    ranked = sorted((h for h in hits if h.score > 0), key=lambda h: (-h.score, h.url))
    return ranked[:limit]


@tool
def fetch(hit: Hit) -> Page:
    """Fetch one search result's page (some links are dead: that raises)."""
    if hit.url in UNREACHABLE:
        raise ConnectionError(f"{hit.url} returned 404")
    title, text = CORPUS[hit.url]
    return Page(url=hit.url, title=title, text=text)


@tool(output="passages")
def extract(question: str, pages: list[Page]) -> list[Passage]:
    """The sentences of the pages that share words with the question, best first."""
    found = [
        Passage(url=page.url, sentence=sentence, overlap=_overlap(question, sentence))
        for page in pages
        for sentence in re.split(r"(?<=\.)\s+", page.text.strip())
    ]
    kept = [p for p in found if p.overlap > 0]
    return sorted(kept, key=lambda p: (-p.overlap, p.url, p.sentence))


@tool
def compose(passages: list[Passage], max_sentences: int = 2) -> Summary:
    """The best sentences, joined, and the pages they came from."""
    chosen = passages[:max_sentences]
    sources = sorted({p.url for p in chosen})
    return Summary(summary=" ".join(p.sentence for p in chosen), sources=sources)


@tool
def score(question: str, summary: str) -> Verdict:
    """The share of the question's words the summary covers, and a grade."""
    wanted = {_stem(t) for t in terms(question)}
    covered = wanted & {_stem(t) for t in terms(summary)}
    confidence = round(len(covered) / len(wanted), 3) if wanted else 0.0
    grade = "good" if confidence >= 0.5 else "weak"
    return Verdict(confidence=confidence, grade=grade)


TOOLS = [search, fetch, extract, compose, score]
"""Every tool the pipeline and its sub-flow call."""

"""A research tool chain an agent would repeat: search -> extract -> score -> summarize.

Every tool here is local and deterministic (a tiny in-memory corpus stands in for a
search API), so the run prints the same result and digest every time. Query expansion
runs on its own branch, concurrently with the search; ``extract`` joins both branches.

Runs are journaled in the embedded SQLite store (``.dagwright/runs.sqlite``), so an
interrupted run could be finished with ``executor.resume(run_id)``.

Run it with ``python examples/research_chain.py "your question"``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pydantic import BaseModel

from dagwright import DAGFlow, ExecutionResult, FlowExecutor, SQLiteCheckpointer, Step, tool

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
        "A journal also makes resume exactly-once for completed work.",
    ),
    "https://docs.example/determinism": (
        "Deterministic agent tool chains",
        "Recording steps in canonical order rather than completion order makes runs "
        "reproducible. A digest over outputs and records proves two runs agree. "
        "Deterministic tool chains need no model in the loop once they are known.",
    ),
    "https://docs.example/validation": (
        "Typed tools",
        "Validating every tool input and output with pydantic catches bad data at the "
        "step that produced it. Static checks find missing inputs before a run starts.",
    ),
}

STOPWORDS = frozenset(
    re.findall(r"\w+", "a an and are as at be by do does for how in is it of on or the to why")
)
SYNONYMS = {
    "fast": ["critical", "busy"],
    "schedule": ["scheduler", "dispatch"],
    "scheduling": ["scheduler", "dispatch"],
    "resume": ["checkpoint", "journal"],
    "reproducible": ["deterministic", "digest"],
}


def _terms(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOPWORDS]


class Hit(BaseModel):
    url: str
    title: str
    score: int


class SearchHits(BaseModel):
    hits: list[Hit]


class Keywords(BaseModel):
    terms: list[str]


class Passage(BaseModel):
    url: str
    sentence: str


class Passages(BaseModel):
    passages: list[Passage]


class Ranked(BaseModel):
    ranked: list[Passage]
    top_score: float


class Summary(BaseModel):
    summary: str
    sources: list[str]


@tool
def search(query: str, limit: int = 3) -> SearchHits:
    """Rank corpus documents by how many query words they contain."""
    words = set(_terms(query))
    hits = []
    for url, (title, body) in sorted(CORPUS.items()):
        score = len(words & set(_terms(title + " " + body)))
        if score:
            hits.append(Hit(url=url, title=title, score=score))
    hits.sort(key=lambda h: (-h.score, h.url))
    return SearchHits(hits=hits[:limit])


@tool
def expand_query(query: str) -> Keywords:
    """Query words plus a few synonyms, for matching passages."""
    terms = _terms(query)
    extra = [s for t in terms for s in SYNONYMS.get(t, [])]
    return Keywords(terms=sorted(set(terms + extra)))


@tool
def extract(hits: list[Hit], terms: list[str]) -> Passages:
    """Sentences of the hit documents that mention at least one term."""
    wanted = set(terms)
    passages = []
    for hit in hits:
        for sentence in re.split(r"(?<=\.)\s+", CORPUS[hit.url][1]):
            if wanted & set(_terms(sentence)):
                passages.append(Passage(url=hit.url, sentence=sentence))
    return Passages(passages=passages)


@tool
def score(passages: list[Passage], terms: list[str]) -> Ranked:
    """Order passages by the share of terms they mention."""
    wanted = set(terms)

    def share(p: Passage) -> float:
        return len(wanted & set(_terms(p.sentence))) / max(len(wanted), 1)

    ranked = sorted(passages, key=lambda p: (-share(p), p.url, p.sentence))
    return Ranked(ranked=ranked[:3], top_score=round(share(ranked[0]), 3) if ranked else 0.0)


@tool
def summarize(ranked: list[Passage]) -> Summary:
    """Join the best passages into a short answer with its sources."""
    return Summary(
        summary=" ".join(p.sentence for p in ranked),
        sources=sorted({p.url for p in ranked}),
    )


RESEARCH = DAGFlow(
    "research",
    [
        Step(id="search", tool="search"),
        Step(id="expand", tool="expand_query"),
        Step(id="extract", tool="extract", depends_on=("search", "expand")),
        Step(id="score", tool="score", depends_on=("extract",)),
        Step(id="summarize", tool="summarize", depends_on=("score",), when="top_score > 0"),
    ],
    description="Answer a question from a document collection, citing sources.",
)


def render(result: ExecutionResult) -> str:
    """A readable report of a run."""
    lines = [f"flow {result.flow_name} v{result.flow_version}: success={result.success}", ""]
    for record in result.steps:
        took = ""
        if record.started_at is not None and record.ended_at is not None:
            took = f"{(record.ended_at - record.started_at) * 1000:7.2f} ms"
        lines.append(f"  {record.step_id:<10} {record.status:<10} {took}")
    output = result.output
    lines += ["", f"question: {output['query']}"]
    if "summary" in output:
        lines += [f"answer:   {output['summary']}", "sources:"]
        lines += [f"  - {url}" for url in output["sources"]]
    else:
        lines.append("answer:   (no passage matched the question)")
    lines += ["", f"digest:   {result.digest}"]
    return "\n".join(lines)


STORE = Path(".dagwright/runs.sqlite")


def main(argv: list[str]) -> int:
    query = " ".join(argv) or "how does dependency-driven scheduling stay fast"
    tools = [search, expand_query, extract, score, summarize]
    STORE.parent.mkdir(exist_ok=True)  # the store never creates directories itself
    with (
        SQLiteCheckpointer(STORE) as checkpoints,
        FlowExecutor(tools, checkpointer=checkpoints) as executor,
    ):
        result = executor.run(RESEARCH, {"query": query})
        print(render(result))
        # Every run is journaled; resuming a finished run replays nothing and gives the
        # same result (an interrupted one would run only what it had not recorded).
        again = executor.resume(result.run_id, RESEARCH)
        stored = len(checkpoints.runs(RESEARCH.name))
    print(f"checkpoint: run {result.run_id} in {STORE} ({stored} run(s) stored)")
    print(f"resumed:    same digest: {again.digest == result.digest}")
    return 0 if result.success and again.digest == result.digest else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Record the example research-agent traces: ``examples/traces/research.jsonl``.

A scripted stand-in for an agent answers eight questions with the tools of
``examples/pipeline_tools.py``, the way a model calling tools one at a time would: search,
fetch each hit, extract the sentences that answer, compose a summary, score it. Like a
real agent it also makes calls that lead nowhere: a search about something else, a fetch
of a dead link it remembered (which fails). Every call goes through
:class:`dagwright.traces.Recorder`, one session per question.

Deterministic: fixed session ids, no clock, an offline corpus; running it again writes the
same bytes. Run from the repository root::

    python examples/record_traces.py            # writes examples/traces/research.jsonl
    python examples/record_traces.py OUT.jsonl  # somewhere else
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dagwright import Tool
from dagwright.traces import Recorder
from examples.pipeline_tools import compose, extract, fetch, score, search

QUESTIONS = [
    "What makes agent tool chains deterministic?",
    "How does validating tool inputs catch bad data?",
    "Why record steps in canonical order?",
    "What does a digest over outputs prove?",
    "Why do journals beat snapshots for checkpointing every step?",
    "How does a journal make resume exactly once for completed steps?",
    "Why validate every tool output?",
    "Can a digest prove two runs agree on their records?",
]
"""One session per question, in this order (``research-01`` ... ``research-08``)."""

DEAD_LINK = {
    "url": "https://docs.example/moved",
    "title": "Scheduling notes (moved)",
    "score": 1,
}
"""A link the agent remembers from elsewhere: fetching it fails."""

OUTPUT = Path(__file__).resolve().parent / "traces" / "research.jsonl"


def _call(recorder: Recorder, tool: Tool, **arguments: Any) -> Any:
    """Call ``tool`` as the agent would and record the call (its error, if it fails)."""
    try:
        result = tool(**arguments)
    except Exception as error:
        cause = error.__cause__ or error
        recorder.record(tool.name, arguments, error=f"{type(cause).__name__}: {cause}")
        return None
    recorder.record(tool.name, arguments, result)
    return result


def answer(recorder: Recorder, number: int, question: str) -> None:
    """One agent session: the research chain, with the noise of session ``number``."""
    if number % 4 == 1:  # a look at something unrelated first
        _call(recorder, search, query="release notes for the next version", limit=2)
    hits = _call(recorder, search, query=question, limit=3).results
    pages = []
    for position, hit in enumerate(hits):
        pages.append(_call(recorder, fetch, hit=hit))
        if number % 3 == 0 and position == 0:  # a dead link, tried between the fetches
            _call(recorder, fetch, hit=DEAD_LINK)
    passages = _call(recorder, extract, question=question, pages=pages).passages
    summary = _call(recorder, compose, passages=passages, max_sentences=2)
    _call(recorder, score, question=question, summary=summary.summary)


def record(path: Path) -> None:
    """Record every session into ``path``, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        for number, question in enumerate(QUESTIONS, start=1):
            with Recorder(temporary, session=f"research-{number:02d}") as recorder:
                answer(recorder, number, question)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    record(target)
    print(f"recorded {len(QUESTIONS)} sessions in {target}")

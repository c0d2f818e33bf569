"""Group trace records into sessions: successful calls in ``seq`` order."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from dagwright.traces import TraceCall, read_traces

__all__ = ["TraceInput", "sessions_of"]

TraceInput = TraceCall | Mapping[str, Any] | str | os.PathLike[str]
"""One item of ``traces``: a call record, a trace line's object, or a trace file (or
directory of ``*.jsonl``) path."""


def sessions_of(
    traces: Iterable[TraceInput] | str | os.PathLike[str],
) -> dict[str, list[TraceCall]]:
    """Each session's successful calls in ``seq`` order, sessions sorted by id.

    Records are read and checked by :func:`dagwright.traces.read_traces` (a bad line is a
    ``TraceFileError`` with file and line). Failed calls are left out: they produced
    nothing a later call could read, and a flow must not repeat them.
    """
    by_session: dict[str, list[TraceCall]] = {}
    for call in read_traces(traces):
        if not call.failed:
            by_session.setdefault(call.session, []).append(call)
    return {
        session: sorted(calls, key=lambda c: c.seq) for session, calls in sorted(by_session.items())
    }

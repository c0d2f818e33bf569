"""Group trace records into sessions: successful calls in ``seq`` order."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from dagwright.traces import TraceCall

__all__ = ["TraceInput", "as_call", "sessions_of"]

TraceInput = TraceCall | Mapping[str, Any] | str | os.PathLike[str]
"""One item of ``traces``: a call record, a trace line's object, or a trace file path."""


def as_call(record: TraceCall | Mapping[str, Any]) -> TraceCall:
    """A :class:`TraceCall` from a call record or a trace line's JSON object."""
    if isinstance(record, TraceCall):
        return record
    result = record.get("result")
    return TraceCall(
        session=str(record["session"]),
        seq=int(record["seq"]),
        tool=str(record["tool"]),
        arguments=dict(record.get("arguments") or {}),
        result=None if result is None else dict(result),
        error=record.get("error"),
    )


def _expand(traces: Iterable[TraceInput] | str | os.PathLike[str]) -> Iterable[TraceCall]:
    if isinstance(traces, (str, os.PathLike)):
        traces = [traces]
    paths: list[str | os.PathLike[str]] = []
    for item in traces:
        if isinstance(item, (str, os.PathLike)):
            paths.append(item)
        else:
            yield as_call(item)
    if paths:
        from dagwright.traces import read_traces  # type: ignore[attr-defined,unused-ignore]

        yield from read_traces(paths)


def sessions_of(
    traces: Iterable[TraceInput] | str | os.PathLike[str],
) -> dict[str, list[TraceCall]]:
    """Each session's successful calls in ``seq`` order, sessions sorted by id.

    Failed calls are left out: they produced nothing a later call could read, and a
    flow must not repeat them.
    """
    by_session: dict[str, list[TraceCall]] = {}
    for call in _expand(traces):
        if not call.failed:
            by_session.setdefault(call.session, []).append(call)
    return {
        session: sorted(calls, key=lambda c: c.seq) for session, calls in sorted(by_session.items())
    }

"""Replay: run a mined flow on each source session's inputs and compare with the trace."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dagwright.mining._build import Built
from dagwright.mining._chains import Occurrence
from dagwright.tools import Tool

if TYPE_CHECKING:
    from dagwright.executor import FlowExecutor

__all__ = ["replay"]


def _same(a: Any, b: Any) -> bool:
    def text(v: Any) -> str:
        return json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)

    return text(a) == text(b)


def _occurrence(built: Built, occ: Occurrence, ex: FlowExecutor) -> str | None:
    """``None`` when the run reproduces the recorded results, else why not."""
    inputs = dict(zip(built.input_names, occ.inputs, strict=True))
    result = ex.run(built.flow, inputs)
    if not result.success:
        error = result.error
        return f"session {occ.session!r}: the run failed ({error.message if error else '?'})"
    for sid, node, renamed in zip(built.step_ids, occ.nodes, built.outputs, strict=True):
        record = result.step(sid)
        got: Any
        want: Any
        if node.is_map:
            got = [dict(child.outputs) for child in record.children]
            want = [dict(c.result or {}) for c in node.calls]
        else:
            got = {renamed.get(k, k): v for k, v in record.outputs.items()}
            want = dict(node.calls[0].result or {})
        if not _same(got, want):
            return f"session {occ.session!r}: step {sid!r} gave other results than recorded"
    return None


def replay(
    built: Built, occurrences: Sequence[Occurrence], tools: Mapping[str, Tool] | None
) -> tuple[bool | None, str]:
    """``(replay_matches, replay_note)`` of a mined flow over its source occurrences.

    ``None`` when some tool of the flow has no callable (a spec only); ``False`` with the
    first session that did not reproduce; ``True`` when every occurrence did.
    """
    if tools is None:
        return None, "no callable tools given: replay needs Tools, not ToolSpecs"
    needed = sorted({s.tool for s in built.flow.steps if s.tool is not None})
    missing = [name for name in needed if name not in tools]
    if missing:
        return None, f"no callable for {', '.join(missing)}: replay skipped"
    from dagwright.executor import FlowExecutor

    with FlowExecutor([tools[name] for name in needed], max_concurrency=1) as ex:
        for occ in occurrences:
            try:
                why = _occurrence(built, occ, ex)
            except Exception as exc:  # a tool or input problem is a finding, not a crash
                why = f"session {occ.session!r}: {type(exc).__name__}: {exc}"
            if why is not None:
                return False, why
    return True, f"reproduced {len(occurrences)} recorded occurrence(s)"

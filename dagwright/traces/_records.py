"""One recorded tool call of an agent session: the unit of a trace."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class TraceCall:
    """One tool call an agent made, as a trace line records it.

    ``session`` names the agent session (a conversation, a task), ``seq`` orders the
    calls within it (unique per session, not necessarily contiguous). ``arguments`` are
    the JSON arguments the agent passed; ``result`` the JSON object the tool returned
    (``None`` when the call failed); ``error`` the failure's text (``None`` on success).
    ``path`` and ``line`` say where the call was read from (``None`` for calls built in
    Python); they are left out of comparisons, so the same call read from two files is
    equal.
    """

    session: str
    seq: int
    tool: str
    arguments: Mapping[str, Any]
    result: Mapping[str, Any] | None = None
    error: str | None = None
    path: str | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)

    @property
    def failed(self) -> bool:
        """True when the call failed (it has an error, or no result)."""
        return self.error is not None or self.result is None

    def to_dict(self) -> dict[str, Any]:
        """The call as one trace line's JSON object (the documented key order)."""
        return {
            "session": self.session,
            "seq": self.seq,
            "tool": self.tool,
            "arguments": dict(self.arguments),
            "result": None if self.result is None else dict(self.result),
            "error": self.error,
        }

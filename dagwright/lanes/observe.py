"""Turning a machine's notes into events, and delivering them: hooks, stream, log.

Both lanes use one :class:`Observer` per observed run. The machine notes what happened
(pure data, no clock); the observer stamps each note with ``time.monotonic()``, builds the
event, calls the hooks one at a time (a failing hook is logged, never raised), logs it at
DEBUG through structlog bound with the run and step ids (and, for an event with an
error, its code, type, message and traceback), and keeps it for a stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

from dagwright._execution.canonical import copy_json
from dagwright._execution.scheduler import RunMachine
from dagwright._execution.trackers import (
    NOTE_CACHED,
    NOTE_CANCELLED,
    NOTE_COMPLETED,
    NOTE_FAILED,
    NOTE_FALLBACK,
    NOTE_RETRIED,
    NOTE_SKIPPED,
    NOTE_STARTED,
    frame_path,
)
from dagwright._logging import enabled_for, get_logger
from dagwright.events import (
    Event,
    Hook,
    StepCancelled,
    StepCompleted,
    StepFailed,
    StepFallback,
    StepRetried,
    StepSkipped,
    StepStarted,
)


class Observer:
    """Delivers one run's events in order; keeps them for a stream when ``streaming``."""

    def __init__(self, run_id: str, hooks: Sequence[Hook], *, streaming: bool) -> None:
        self.run_id = run_id
        self.hooks = tuple(hooks)
        self.streaming = streaming
        self.pending: list[Event] = []
        self._log: Any = get_logger(run_id=run_id) if enabled_for(logging.DEBUG) else None

    def emit(self, event: Event) -> None:
        """Deliver one event to the hooks and the log, and keep it for the stream."""
        for hook in self.hooks:
            try:
                hook(event)
            except Exception as exc:
                get_logger(run_id=self.run_id).warning(
                    "hook_failed",
                    hook=repr(hook),
                    event_type=type(event).__name__,
                    error=repr(exc),
                )
        if self._log is not None:
            fields = {
                name: getattr(event, name)
                for name in ("step_id", "index", "attempt", "tool", "item_count")
                if getattr(event, name, None) is not None
            }
            if getattr(event, "cached", False):
                fields["cached"] = True
            error = getattr(event, "error", None)
            if error is not None:
                fields["error_code"] = error.code
                fields["error_type"] = error.type
                fields["message"] = error.message
                fields["traceback"] = error.traceback
            self._log.debug(type(event).__name__, **fields)
        if self.streaming:
            self.pending.append(event)

    def collect(self, machine: RunMachine) -> None:
        """Turn the machine's notes so far into events and deliver them."""
        notes = machine.notes
        if not notes:
            return
        now = time.monotonic()
        run_id = self.run_id
        for kind, frame, step_id, index, attempt, tool, payload in notes:
            common: dict[str, Any] = {
                "run_id": run_id,
                "time": now,
                "step_id": step_id,
                "path": frame_path(frame),
                "index": index,
                "attempt": attempt,
                "tool": tool,
            }
            event: Event
            if kind == NOTE_STARTED:
                event = StepStarted(item_count=payload, **common)
            elif kind in (NOTE_COMPLETED, NOTE_CACHED):
                # A view of a copy: what a hook does to it never reaches the run.
                event = StepCompleted(
                    outputs=MappingProxyType(copy_json(payload)),
                    cached=kind == NOTE_CACHED,
                    **common,
                )
            elif kind == NOTE_FAILED:
                event = StepFailed(error=payload, **common)
            elif kind == NOTE_SKIPPED:
                event = StepSkipped(error=payload, **common)
            elif kind == NOTE_RETRIED:
                event = StepRetried(error=payload[0], delay=payload[1], **common)
            elif kind == NOTE_FALLBACK:
                event = StepFallback(error=payload[0], fallback=payload[1], **common)
            else:
                assert kind == NOTE_CANCELLED
                event = StepCancelled(error=payload, **common)
            self.emit(event)
        notes.clear()

    def take_pending(self) -> list[Event]:
        """The events kept for the stream since the last call."""
        events, self.pending = self.pending, []
        return events

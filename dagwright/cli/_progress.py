"""What ``dagwright run`` shows while a run goes, built from the run's stream of events.

:class:`Tracker` folds events into what a user wants to see: top-level steps done out of
the total, the steps running now (with map instances done out of the item count that
the map's ``StepStarted`` carries), and the elapsed time. Two displays read it:

* :class:`LiveDisplay` (a terminal): a rich live area redrawn as events arrive and ten
  times a second (so elapsed times tick), a line per finished step above it, then a
  summary table of the step records;
* :class:`PlainDisplay` (a pipe, a file, CI, or ``--no-progress``): one line per
  finished top-level step, ``[3/7] fetch_all completed 0.12s``, and a final line.

Step statuses use the words of the records (``completed``, ``failed``, ``skipped``,
``cancelled``); a run ``succeeded`` or ``failed``. rich is imported only by the live
display.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from dagwright.events import (
    Event,
    StepCancelled,
    StepCompleted,
    StepFailed,
    StepSkipped,
    StepStarted,
)
from dagwright.flows import Flow, MapStep
from dagwright.results import ErrorInfo, ExecutionResult, StepRecord

if TYPE_CHECKING:
    from dagwright.checkpoint import StoredRun

_ENDS: dict[type[Event], str] = {
    StepCompleted: "completed",
    StepFailed: "failed",
    StepSkipped: "skipped",
    StepCancelled: "cancelled",
}


def seconds(value: float | None) -> str:
    """A duration as the displays write it (``0.12s``, ``3m05s``; ``-`` when unknown)."""
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.2f}s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes}m{rest:02d}s"


def error_text(error: ErrorInfo | None) -> str:
    """``[DW-E101] ValueError: boom``: an error record in one line."""
    if error is None:
        return ""
    return f"[{error.code}] {error.type}: {' '.join(error.message.split())}"


def record_duration(record: StepRecord) -> float | None:
    """How long a recorded step took (``None`` when it never ran)."""
    if record.started_at is None or record.ended_at is None:
        return None
    return max(0.0, record.ended_at - record.started_at)


def record_tool(record: StepRecord) -> str:
    """What a record's step called: its tool (the fallback when it produced the
    outputs), or ``flow <name>`` for a sub-flow step."""
    if record.fallback is not None:
        return f"{record.fallback} (fallback)"
    if record.tool is not None:
        return record.tool
    return f"flow {record.flow}" if record.flow is not None else "-"


@dataclass
class Finished:
    """A top-level step that ended: what the displays print about it."""

    step_id: str
    status: str
    done: int
    total: int
    duration: float | None
    instances: tuple[int, int | None] | None = None
    error: ErrorInfo | None = None
    cached: int = 0

    def line(self) -> str:
        """``[3/7] fetch_all completed 0.12s`` (with the map's instances, how many calls
        the step cache answered, and any error)."""
        text = f"[{self.done}/{self.total}] {self.step_id} {self.status} {seconds(self.duration)}"
        if self.instances is not None:
            text += f" ({self.instances[0]} instances"
            text += f", {self.cached} cached)" if self.cached else ")"
        elif self.cached:
            text += " (cached)" if self.cached == 1 else f" ({self.cached} cached)"
        if self.error is not None:
            text += f": {error_text(self.error)}"
        return text


@dataclass
class _Running:
    started: float
    instances_done: int = 0
    instances_total: int | None = None
    is_map: bool = False
    cached: int = 0


_KEPT = frozenset({"completed", "skipped"})
"""The statuses of records a resume keeps (failed and cancelled units run again)."""


@dataclass
class Tracker:
    """The state of a run as its events tell it (top-level steps only; a sub-flow or a
    map counts as one step). A map's item count is the one its ``StepStarted`` carries
    (``StepStarted.item_count``). Safe to read from a display's refresh thread."""

    flow: Flow
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    cached: int = 0
    running: dict[str, _Running] = field(default_factory=dict)
    _restored: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._maps = {step.id for step in self.flow.steps if isinstance(step, MapStep)}

    @property
    def total(self) -> int:
        """Top-level steps of the flow."""
        return len(self.flow.steps)

    def elapsed(self) -> float:
        """Seconds since the run started (as this process saw it)."""
        return time.monotonic() - self.started

    def snapshot(self) -> tuple[int, list[tuple[str, float, str]]]:
        """Steps done, and per running step: its id, seconds running, and its map
        instances (``4/10``, or ``4/?`` when the item count is unknown; else empty)."""
        now = time.monotonic()
        with self._lock:
            running = [
                (
                    step_id,
                    now - state.started,
                    f"{state.instances_done}/"
                    f"{'?' if state.instances_total is None else state.instances_total}"
                    if state.is_map
                    else "",
                )
                for step_id, state in self.running.items()
            ]
            return self.done, running

    def restored(self, stored: StoredRun) -> None:
        """A resumed run: the top-level steps its journal holds as completed or skipped
        count as done, and so do the completed instances it holds of a map not yet
        finished (they run no more, so they have no events). A failed or cancelled step
        runs again: it is not done, but its completed instances are."""
        with self._lock:
            for record in stored.steps:
                if record.status in _KEPT:
                    self.done += 1
                elif record.step_id in self._maps:
                    self._restored[record.step_id] = sum(
                        1 for child in record.children if child.status in _KEPT
                    )
            for step_id, records in stored.in_progress.items():
                if step_id in self._maps:
                    self._restored[step_id] = len(records)

    def event(self, event: Event) -> Finished | None:
        """Fold one event in; a top-level step that ended is returned."""
        if not isinstance(event, StepStarted | StepCompleted | StepFailed | StepSkipped |
                              StepCancelled):  # fmt: skip
            return None
        with self._lock:
            hit = isinstance(event, StepCompleted) and event.cached
            if hit:
                self.cached += 1
            if event.path and hit:  # a call inside a sub-flow or a map's sub-flow
                top = self.running.get(str(event.path[0]))
                if top is not None:
                    top.cached += 1
            if event.path:
                return None
            if event.index is not None:  # a map instance
                if hit and event.step_id in self.running:
                    self.running[event.step_id].cached += 1
                state = self.running.get(event.step_id)
                if state is not None and not isinstance(event, StepStarted):
                    state.instances_done += 1
                return None
            if isinstance(event, StepStarted):
                if event.step_id not in self.running:  # a retry starts again: keep the first
                    self.running[event.step_id] = self._started(event)
                return None
            state = self.running.pop(event.step_id, None)
            self.done += 1
            return Finished(
                event.step_id,
                _ENDS[type(event)],
                self.done,
                self.total,
                None if state is None else event.time - state.started,
                None
                if state is None or not state.is_map
                else (state.instances_done, state.instances_total),
                getattr(event, "error", None) if isinstance(event, StepFailed) else None,
                (state.cached if state is not None else 0) + (1 if hit else 0),
            )

    def _started(self, event: StepStarted) -> _Running:
        state = _Running(event.time)
        if event.step_id in self._maps:
            state.is_map = True
            state.instances_total = event.item_count
            state.instances_done = self._restored.pop(event.step_id, 0)
        return state


class Display(Protocol):
    """What ``run`` drives: events as they come, then the result (or an interrupt)."""

    def event(self, event: Event) -> None:
        """One event of the run."""

    def finish(self, result: ExecutionResult) -> None:
        """The run ended with ``result``: stop the display and print the summary."""

    def close(self) -> None:
        """Stop the display without a summary (an interrupt); idempotent."""


def final_line(result: ExecutionResult, elapsed: float) -> str:
    """``run <id> succeeded in 1.20s, digest <sha256>`` or ``run <id> failed ...``."""
    if result.success:
        return f"run {result.run_id} succeeded in {seconds(elapsed)}, digest {result.digest}"
    error = result.error
    where = f" at step {error.step_id!r}" if error is not None and error.step_id else ""
    return f"run {result.run_id} failed in {seconds(elapsed)}{where}: {error_text(error)}"


class PlainDisplay:
    """Plain lines on ``out``: one per finished top-level step, and a final line."""

    def __init__(self, tracker: Tracker, out: TextIO) -> None:
        self._tracker = tracker
        self._out = out

    def event(self, event: Event) -> None:
        """Print a line when a top-level step ends."""
        finished = self._tracker.event(event)
        if finished is not None:
            print(finished.line(), file=self._out, flush=True)

    def finish(self, result: ExecutionResult) -> None:
        """Print the final line."""
        print(final_line(result, self._tracker.elapsed()), file=self._out, flush=True)

    def close(self) -> None:
        """Nothing to stop."""


class LiveDisplay:
    """A rich live area on a terminal, then a summary table of the records."""

    def __init__(self, tracker: Tracker, out: TextIO, *, title: str) -> None:
        from rich.console import Console
        from rich.live import Live

        self._tracker = tracker
        self._title = title
        self.console = Console(file=out, highlight=False)
        self._live = Live(
            console=self.console,
            get_renderable=self._render,
            refresh_per_second=10,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=True,
        )
        self._live.start()
        self._open = True

    def _render(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        done, running = self._tracker.snapshot()
        lines = [
            Text.assemble(
                (self._title, "bold"),
                f"  {done}/{self._tracker.total} steps  {seconds(self._tracker.elapsed())}",
                f"  {self._tracker.cached} cached" if self._tracker.cached else "",
            )
        ]
        for step_id, for_s, instances in running:
            extra = f"  map {instances}" if instances else ""
            lines.append(Text(f"  ▸ {step_id}{extra}  {seconds(for_s)}", style="cyan"))
        return Group(*lines)

    def event(self, event: Event) -> None:
        """Fold the event in, print a finished step above the live area, redraw."""
        from rich.text import Text

        finished = self._tracker.event(event)
        if finished is not None:
            style = {"completed": "green", "failed": "red"}.get(finished.status, "yellow")
            self._live.console.print(Text(finished.line(), style=style))
        self._live.refresh()

    def finish(self, result: ExecutionResult) -> None:
        """Stop the live area; print the summary table and the final line."""
        from rich.text import Text

        self.close()
        self.console.print(summary_table(result.steps))
        style = "bold green" if result.success else "bold red"
        self.console.print(Text(final_line(result, self._tracker.elapsed()), style=style),
                           soft_wrap=True)  # fmt: skip

    def close(self) -> None:
        """Stop the live area (idempotent)."""
        if self._open:
            self._open = False
            self._live.stop()


def summary_table(steps: tuple[StepRecord, ...]) -> Any:
    """A rich table of top-level records: step, status, tool, attempts, duration, error."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("step", "status", "tool", "attempts", "duration", "error"):
        table.add_column(name, no_wrap=name != "error")
    colours = {"completed": "green", "failed": "red", "skipped": "yellow", "cancelled": "yellow"}
    for record in steps:
        label = record.step_id
        if record.children and any(child.index is not None for child in record.children):
            label += f" [{len(record.children)}]"
        table.add_row(
            Text(label),
            Text(
                record.status + (" (cached)" if record.cached else ""),
                style=colours.get(record.status, ""),
            ),
            Text(record_tool(record)),
            str(len(record.attempts)),
            seconds(record_duration(record)),
            Text(error_text(record.error)),
        )
    return table

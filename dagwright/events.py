"""Typed run events, delivered to hooks, streams and the log as a run proceeds.

Every event is frozen and carries the ``run_id`` and a monotonic ``time``
(``time.monotonic()``, comparable within a process, not a wall clock). Step events also
carry the ``step_id``, the ``path`` of enclosing steps (``()`` at the top; for a step of
a sub-flow, the sub-flow step's id, and for a map instance's sub-flow, the map step's id
then the instance index), the map ``index`` of an instance (``None`` for a step), the
``attempt`` number and the ``tool`` (or sub-flow) called.

Per step that runs: one :class:`StepStarted` per attempt, a :class:`StepRetried` between
attempts, a :class:`StepFallback` when the primary tool failed for good and the step's
fallback tool is called next, then exactly one end event (:class:`StepCompleted`,
:class:`StepFailed`, :class:`StepSkipped` or :class:`StepCancelled`). An end event's
``tool`` is the tool whose call produced the outcome: the fallback tool once it was
called. A skipped step has only its end event.
Map instances get the same events with ``index`` set. The run is framed by
:class:`RunStarted` and :class:`RunFinished`.

Events with an ``error`` carry an :class:`~dagwright.results.ErrorInfo` with its
``traceback`` (when an exception was raised); their DEBUG log line carries
``error_code``, ``error_type``, ``message`` and ``traceback``.

Events are read-only for their consumers: :attr:`StepCompleted.outputs` is a
``types.MappingProxyType`` over a deep copy of what the step wrote, made for that
event. Assigning to it raises ``TypeError``; changing a list or dict inside it changes
only the event's copy (seen by the hooks after this one and by the stream), never the
run's context, records, journal or any later step.

Hooks (``FlowExecutor(hooks=[...])`` or ``run(..., hooks=[...])``) are plain callables
taking one event. They are called one at a time, in the order events happened, never
concurrently for one run; a hook that raises is logged and never breaks the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from dagwright.results import ErrorInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event: the run it belongs to and when it happened."""

    run_id: str
    time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    """A run began (its inputs validated)."""

    flow_name: str
    flow_version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(Event):
    """A run ended; ``error`` is set when it failed."""

    success: bool
    error: ErrorInfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepEvent(Event):
    """Base of the events about one step or map instance."""

    step_id: str
    path: tuple[str | int, ...] = ()
    index: int | None = None
    attempt: int = 0
    tool: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepStarted(StepEvent):
    """A call (attempt) of a step or instance was handed to a worker, or a sub-flow or
    map step began.

    ``item_count`` is set on a map step's start: the number of items its ``over``
    resolved to, so the number of instances (also when some are restored from the
    journal on resume, and so emit no events of their own). It is ``None`` for every
    other start, and for a map whose ``over`` did not resolve to a list (its
    :class:`StepFailed` follows)."""

    item_count: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepCompleted(StepEvent):
    """A step or instance completed; ``outputs`` is what it wrote (an instance: its outputs).

    ``tool`` is the fallback tool when the fallback produced the outputs. ``cached`` is
    ``True`` when the outputs came from the executor's step cache (no call was made;
    the :class:`StepStarted` before it marks the lookup)."""

    outputs: Mapping[str, Any]
    cached: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFailed(StepEvent):
    """A step or instance failed for good (after retries and fallback)."""

    error: ErrorInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class StepSkipped(StepEvent):
    """A step was skipped: by ``when``, by skip propagation, or under ``on_error="skip"``
    (then ``error`` says why)."""

    error: ErrorInfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRetried(StepEvent):
    """An attempt failed and will be retried after ``delay`` seconds."""

    error: ErrorInfo
    delay: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFallback(StepEvent):
    """The primary tool (``tool``, at ``attempt``) failed for good with ``error``; the
    step's ``fallback`` tool is called next."""

    error: ErrorInfo
    fallback: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StepCancelled(StepEvent):
    """A running step or instance was cancelled (a sibling failed, or the run stopped)."""

    error: ErrorInfo | None = None


Hook: TypeAlias = Callable[[Event], object]
"""A callable receiving each event of a run, in order."""

EVENT_CLASSES: tuple[type[Event], ...] = (
    RunStarted,
    RunFinished,
    StepStarted,
    StepCompleted,
    StepFailed,
    StepSkipped,
    StepRetried,
    StepFallback,
    StepCancelled,
)

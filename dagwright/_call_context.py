"""The running call's identity: :func:`current_call` and :class:`CallContext`.

Every lane and runner marks the call it makes (a ``contextvars`` variable, set around
the tool's function only), so a tool can ask which logical call it is making and use
its ``idempotency_key`` with the services it calls (a payment API, a mail queue): the
key is the same for every attempt and every resume of one logical call, and different
for every other call, each map instance and each nested index path included.

The context is built when asked for: a call that never asks costs one variable set.
"""

from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagwright._execution.trackers import Unit


@dataclass(frozen=True, slots=True)
class CallContext:
    """The call a tool is running for.

    ``run_id`` is the run's id; ``step_id`` the step's id (inside a sub-flow, the inner
    step's); ``index`` the map index path from the run's top down (``()`` for a call
    outside any map, ``(3,)`` for instance 3, ``(3, 0)`` for instance 0 of a map inside
    instance 3's sub-flow); ``path`` the whole step path (sub-flow and map steps, indices
    and the step, from the top); ``attempt`` counts this call's attempts from 0 (a
    fallback call continues the count). ``idempotency_key`` is the sha256 (hex) of run
    id, step path and index path: stable across retries and resumes, distinct for every
    other call.
    """

    run_id: str
    step_id: str
    index: tuple[int, ...]
    attempt: int
    idempotency_key: str
    path: tuple[str | int, ...] = ()


_running: ContextVar[Unit | CallContext | None] = ContextVar("dagwright_call", default=None)


def current_call() -> CallContext | None:
    """The :class:`CallContext` of the tool call running in this thread or task, or
    ``None`` outside one (a tool called as a plain function, code outside any run).

    Set in every lane (the calling thread, the worker pool, the event loop, a sync run's
    private loop) and on a ``DaskRunner``'s workers. It is not inherited by threads the
    tool starts itself; pass the context to them.
    """
    running = _running.get()
    if running is None or isinstance(running, CallContext):
        return running
    return context_of(running)


def context_of(unit: Unit) -> CallContext:
    """The context of ``unit``'s current call."""
    frame = unit.frame
    path: tuple[str | int, ...] = (*frame.path, unit.step.id)
    if unit.index is not None:
        path = (*path, unit.index)
    index = tuple(part for part in path if isinstance(part, int))
    return CallContext(
        run_id=frame.run_id,
        step_id=unit.step.id,
        index=index,
        attempt=unit.attempt,
        idempotency_key=idempotency_key(frame.run_id, path),
        path=path,
    )


def idempotency_key(run_id: str, path: tuple[str | int, ...]) -> str:
    """sha256 of the run id and the step path (ids and map indices, in order)."""
    text = json.dumps([run_id, list(path)], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

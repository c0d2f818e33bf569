"""The runner seam: where a lane sends the tool calls it does not make itself.

Both lanes hand calls to one :class:`CallRunner` and never ask which one it is, beyond
its ``remote`` flag. The default, :class:`PoolRunner`, is the executor's worker pool:
it takes the sync tools' calls (a lane runs async tools on its own event loop, and may
make a lone sync call inline). A remote runner (``dagwright.runners.DaskRunner``)
takes every call, async tools' included, keeps each call's ``timeout_s`` where the
call runs, and can cancel any call in flight.

Rules every runner keeps:

* ``submit_call`` never raises into the lane: whatever goes wrong, validation and the
  step cache included, reaches ``on_end`` as the call's outcome, exactly once, unless
  the call was cancelled first (a late outcome may still arrive; lanes drop it).
* ``on_start`` and ``on_end`` may be called from any thread, ``on_end`` possibly before
  ``submit_call`` returns.
* ``delay`` (a retry's backoff) passes before the call starts, without holding the lane.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from dagwright.lanes.calls import Outcome, abandon, pooled
from dagwright.lanes.pool import Ticket, WorkerPool

if TYPE_CHECKING:
    from dagwright._execution.trackers import Unit
    from dagwright.cache.protocol import StepCache
    from dagwright.tools import Tool


@runtime_checkable
class CallRunner(Protocol):
    """Where a lane's calls run (see the module's rules)."""

    remote: bool
    """True when calls leave this process: every call goes to :meth:`submit_call`, none
    runs inline, the runner enforces ``timeout_s`` and a halt cancels any call."""

    def submit_call(
        self,
        tool: Tool,
        unit: Unit,
        delay: float,
        on_start: Callable[[float], None] | None,
        on_end: Callable[[Outcome], None],
        cache: StepCache | None,
    ) -> object:
        """Start one call of ``unit`` after ``delay`` seconds; returns its ticket.

        ``on_start(monotonic)`` (local runners, when given) says when the call started,
        for the lane's deadline; ``on_end(outcome)`` gives the outcome.
        """
        ...

    def cancel_call(self, ticket: object, unit: Unit, why: str) -> None:
        """Give up on a call: it never starts, or its late outcome is dropped."""
        ...


class PoolRunner:
    """The default runner: sync tools' calls on the executor's bounded worker pool,
    made with :func:`~dagwright.lanes.calls.pooled` (the pool is created on first use)."""

    remote = False

    __slots__ = ("_pool",)

    def __init__(self, pool: Callable[[], WorkerPool]) -> None:
        self._pool = pool

    def submit_call(
        self,
        tool: Tool,
        unit: Unit,
        delay: float,
        on_start: Callable[[float], None] | None,
        on_end: Callable[[Outcome], None],
        cache: StepCache | None,
    ) -> Ticket:
        """Post the call to the pool; a worker waits out ``delay``, then calls."""
        ticket = Ticket()
        self._pool().post(pooled, tool, unit, on_start, on_end, delay, cache, ticket=ticket)
        return ticket

    def cancel_call(self, ticket: object, unit: Unit, why: str) -> None:
        """Abandon the pooled call (its worker is replaced if it already runs)."""
        assert isinstance(ticket, Ticket)
        abandon(self._pool(), ticket, unit, why)

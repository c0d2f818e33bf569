"""Proving concurrency without clocks: count calls in flight, meet at a barrier.

``meet()`` (threads) or ``await ameet()`` (an event loop) blocks until ``k`` calls are
inside at once, so a run only finishes if k calls really overlapped; ``peak`` records
the most that were ever inside together, so a bound above k is caught too.
"""

from __future__ import annotations

import asyncio
import threading


class Overlap:
    """Counts concurrent calls; ``k`` of them must be inside together to pass."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.now = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(k, timeout=10)
        self._abarrier: asyncio.Barrier | None = None

    def _enter(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def _leave(self) -> None:
        with self._lock:
            self.now -= 1

    def meet(self) -> None:
        """Block (a thread) until k calls are inside at once."""
        self._enter()
        try:
            self._barrier.wait()
        finally:
            self._leave()

    async def ameet(self) -> None:
        """Wait (a task) until k calls are inside at once."""
        if self._abarrier is None:
            self._abarrier = asyncio.Barrier(self.k)
        self._enter()
        try:
            await asyncio.wait_for(self._abarrier.wait(), 10)
        finally:
            self._leave()

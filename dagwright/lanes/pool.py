"""The executor-owned, bounded worker pool.

A ``concurrent.futures.Executor`` with a lighter path for the lanes:
:meth:`WorkerPool.post` queues a call with no ``Future``, no lock and no result
bookkeeping; the call reports its own outcome. On a trivial tool that halves the cost
of a round trip through a ``ThreadPoolExecutor``, whose per-call machinery dominates
when a graph fans out to many cheap steps.

Rules:

* Threads start on demand: a call posted while fewer threads live than calls are queued
  or running starts one, up to ``max_workers``, so a run never has more threads than
  calls at once. Idle workers cost nothing but a blocked ``get``. The count needs no
  lock: posts are numbered by an atomic counter and each worker counts the calls it
  finished in a cell only it writes; a reader may see a count late, which can only make
  it start a thread early, never leave a call waiting for one.
* A call posted with a :class:`Ticket` can be *abandoned* (its step timed out, or its
  run stopped). One not started yet never starts. One running keeps its thread until
  the tool returns, but that thread leaves the pool at once and a replacement starts,
  so later calls still get ``max_workers`` live workers and :meth:`shutdown` never
  waits for an abandoned call. Workers are daemon threads, so a tool that never returns
  cannot keep the interpreter from exiting.
* A worker that waits on a nested run (a tool calling ``run`` on an executor) is
  *blocked* (:func:`block_worker`): while it waits the pool may run one more worker, so
  a nested run never waits for a worker its own caller holds. When the wait ends, the
  next worker to finish a call while the pool is over its size leaves.

A ticket settles races without a lock: it holds two one-item lists, and ``list.pop`` is
atomic. The worker that takes the call pops ``start`` (a failure: it was abandoned
first, skip it) and, when the call returns, ``end`` (a failure: it was abandoned while
running, so this thread has left the pool and exits). :meth:`WorkerPool.abandon` pops
the same two, so each race has exactly one winner.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_STOP = None


class _Local(threading.local):
    """What this thread is to the pools: the pool it works for, whether it serves runs.
    Class defaults, so a thread that is neither reads them without an AttributeError."""

    pool: WorkerPool | None = None
    serving: bool = False


_local = _Local()


class Ticket:
    """A posted call that its poster may abandon; see :meth:`WorkerPool.abandon`."""

    __slots__ = ("end", "start", "thread")

    def __init__(self) -> None:
        self.start = [True]
        self.end = [True]
        self.thread: threading.Thread | None = None  # the worker that took the call


class _Tally:
    """How many calls one worker finished (compared by identity, written by it alone)."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


_Item = tuple[Callable[..., Any], tuple[Any, ...], Ticket | None]


def _fulfil(future: Future[Any], fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


class WorkerPool(Executor):
    """``max_workers`` live threads (plus one per blocked worker) serving calls in the
    order they were queued."""

    def __init__(self, max_workers: int, *, name: str = "dagwright") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.max_workers = max_workers
        self._name = name
        self._inbox: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()  # live workers (abandoned ones left)
        self._blocked = 0  # live workers waiting on a nested run
        self._posted = itertools.count(1)  # next() numbers each post: atomic, lock-free
        self._tallies: set[_Tally] = set()  # per live worker: calls it finished
        self._tallied = 0  # calls finished by workers that have exited
        self._started = 0
        self._shutdown = False
        self.abandoned = 0
        """How many running calls were abandoned (their threads left the pool)."""

    @property
    def live_workers(self) -> int:
        """Threads that serve calls now (abandoned ones excluded)."""
        with self._lock:
            return len(self._threads)

    def post(self, fn: Callable[..., Any], *args: Any, ticket: Ticket | None = None) -> None:
        """Queue ``fn(*args)``; its result is dropped, so ``fn`` must report its own outcome
        and must not raise. With ``ticket``, the call can be abandoned."""
        if self._shutdown:
            raise RuntimeError("cannot schedule new calls after shutdown")
        posted = next(self._posted)
        self._inbox.put((fn, args, ticket))
        threads = len(self._threads)
        if threads < self.max_workers + self._blocked and posted - self._finished() > threads:
            self._spawn()

    def _finished(self) -> int:
        """Calls finished so far, or fewer (never more): the exited workers' total is
        read before the live workers' tallies, so a worker moving from one to the other
        meanwhile is missed, never counted twice."""
        exited = self._tallied
        return exited + sum(tally.n for tally in list(self._tallies))

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Queue ``fn(*args, **kwargs)`` and return a ``Future`` of its result."""
        future: Future[T] = Future()
        self.post(_fulfil, future, fn, args, kwargs)
        return future

    def abandon(self, ticket: Ticket) -> bool:
        """Give up on a posted call: it never starts, or its thread leaves the pool.

        Returns ``True`` when the call was running (so its thread was abandoned).
        """
        try:
            ticket.start.pop()
        except IndexError:
            pass  # a worker took it
        else:
            return False  # it never starts: the worker that takes it skips it
        try:
            ticket.end.pop()
        except IndexError:
            return False  # it has already returned
        with self._lock:
            assert ticket.thread is not None
            self._threads.discard(ticket.thread)
            self.abandoned += 1
            replace = not self._shutdown
        if replace:
            self._spawn()
        return True

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the workers once the queued calls are done (``wait``: block until then).

        Abandoned calls are never waited for.
        """
        with self._lock:
            if self._shutdown:
                return
            self._shutdown = True
            threads = list(self._threads)
        if cancel_futures:
            pending: list[_Item] = []
            while True:
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    pending.append(item)
            for fn, args, ticket in pending:
                if fn is _fulfil:
                    args[0].cancel()
                else:
                    self._inbox.put((fn, args, ticket))
        self._inbox.put(_STOP)
        if wait:
            current = threading.current_thread()
            for thread in threads:
                if thread is not current:
                    thread.join()

    # ---- nested runs ---------------------------------------------------------------

    def _block(self) -> None:
        # The nested run's own posts then find room for one more thread.
        with self._lock:
            self._blocked += 1

    def unblock(self) -> None:
        """End a wait begun by :func:`block_worker`: the pool may be one over its size."""
        with self._lock:
            self._blocked -= 1

    # ---- workers -----------------------------------------------------------------

    def _spawn(self) -> None:
        with self._lock:
            if self._shutdown:
                return
            self._started += 1
            thread = threading.Thread(
                target=self._serve, name=f"{self._name}_{self._started}", daemon=True
            )
            self._threads.add(thread)
        thread.start()

    def _serve(self) -> None:
        me = threading.current_thread()
        _local.pool = self
        inbox = self._inbox
        tally = _Tally()  # only this thread writes it
        with self._lock:
            self._tallies.add(tally)
        try:
            while True:
                item = inbox.get()
                if item is _STOP:
                    inbox.put(_STOP)  # let the next worker see it too
                    return
                fn, args, ticket = item
                if ticket is None:
                    fn(*args)
                else:
                    ticket.thread = me
                    try:
                        ticket.start.pop()
                    except IndexError:
                        tally.n += 1
                        continue  # abandoned before it started: skip it
                    fn(*args)
                    try:
                        ticket.end.pop()
                    except IndexError:
                        tally.n += 1
                        return  # abandoned while it ran: this thread has left the pool
                tally.n += 1
                if len(self._threads) > self.max_workers + self._blocked and self._leave(me):
                    return
        finally:
            with self._lock:
                self._threads.discard(me)
                self._tallies.discard(tally)  # first out of the live tallies...
                self._tallied += tally.n  # ...then into the total: never counted twice

    def _leave(self, me: threading.Thread) -> bool:
        """Whether this worker leaves: the pool is over its size (a nested run ended)."""
        with self._lock:
            if len(self._threads) <= self.max_workers + self._blocked:
                return False
            self._threads.discard(me)
            return True


def mark_serving() -> None:
    """Mark this thread as one that serves runs' calls (a worker, a private loop)."""
    _local.serving = True


def serving() -> bool:
    """Whether this thread serves runs' calls: waiting here for runs could deadlock."""
    return _local.serving or _local.pool is not None


def block_worker() -> WorkerPool | None:
    """Mark this thread's pool worker (if it is one) as blocked on a nested run.

    A tool that runs a flow waits for that flow's calls; while it waits, its pool runs
    one more worker, so the nested run never needs the very worker it blocks. Returns
    the pool to hand to :meth:`WorkerPool.unblock` when the wait is over, or ``None``
    when this thread is no pool's worker.
    """
    pool = _local.pool
    if pool is None:
        return None
    pool._block()
    return pool

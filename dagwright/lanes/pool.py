"""The executor-owned, bounded worker pool.

A ``concurrent.futures.Executor`` with a lighter path for the lanes:
:meth:`WorkerPool.post` queues a call with no ``Future`` and no result bookkeeping; the
call reports its own outcome. On a trivial tool that halves the cost of a round trip
through a ``ThreadPoolExecutor``, whose per-call machinery dominates when a graph fans
out to many cheap steps.

Rules:

* Threads start on demand: a call queued when no worker is idle starts one, up to
  ``max_workers``. Idle workers cost nothing but a blocked ``get``.
* A call posted with a :class:`Ticket` can be *abandoned* (its step timed out, or its
  run stopped). One not started yet never starts. One running keeps its thread until
  the tool returns, but that thread no longer counts as a worker: it exits when the
  call ends, and the pool starts a replacement when work waits, so later calls still
  get ``max_workers`` live workers and :meth:`shutdown` never waits for an abandoned
  call. Workers are daemon threads, so a tool that never returns cannot keep the
  interpreter from exiting.
* A worker that waits on a nested run (a tool calling ``run`` on an executor) is
  *blocked* (:func:`block_worker`): while it waits the pool may start one more worker,
  so a nested run never waits for a worker its own caller holds.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_STOP = None

_local = threading.local()


class Ticket:
    """A posted call that its poster may abandon; see :meth:`WorkerPool.abandon`.

    ``latch`` holds one item until the call is claimed, by the worker that starts it or
    by an abandonment before it started: ``list.pop`` is atomic, so exactly one wins
    without a lock. ``worker`` is the worker running the call, while it runs.
    """

    __slots__ = ("latch", "worker")

    def __init__(self) -> None:
        self.latch = [True]
        self.worker: _Worker | None = None


class _Worker:
    __slots__ = ("pool", "retired", "thread")

    def __init__(self, pool: WorkerPool, thread: threading.Thread) -> None:
        self.pool = pool
        self.retired = False
        self.thread = thread


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
    """At most ``max_workers`` live threads (plus one per blocked worker) serving calls
    in the order they were queued."""

    def __init__(self, max_workers: int, *, name: str = "dagwright") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.max_workers = max_workers
        self._name = name
        self._inbox: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        # Bookkeeping, under the lock. Every queued call is matched, when it is posted,
        # by a waiting worker (``idle`` goes down), a new worker, or a place in
        # ``backlog``, which the next worker to finish a call takes: so a call waits
        # only while every worker is busy and no more may start.
        self._threads: set[threading.Thread] = set()  # live (not retired) workers
        self._idle = 0  # waiting workers no queued call is promised to
        self._backlog = 0  # queued calls promised to no worker yet
        self._blocked = 0  # live workers waiting on a nested run
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
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new calls after shutdown")
            spawn = False
            if self._idle:
                self._idle -= 1
            elif self._room():
                spawn = True
            else:
                self._backlog += 1
        self._inbox.put((fn, args, ticket))
        if spawn:
            self._spawn()

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
            ticket.latch.pop()
        except IndexError:
            pass  # a worker started it
        else:
            return False  # it never starts: the worker that takes it skips it
        with self._lock:
            worker = ticket.worker
            if worker is None or worker.retired:
                return False  # it has already returned
            worker.retired = True
            self._threads.discard(worker.thread)
            self.abandoned += 1
            spawn = self._take_backlog()
        if spawn:
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
                    with self._lock:  # the worker it was promised to is free again
                        if self._backlog:
                            self._backlog -= 1
                        else:
                            self._idle += 1
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
        with self._lock:
            self._blocked += 1
            spawn = self._take_backlog()
        if spawn:
            self._spawn()

    def unblock(self) -> None:
        """End a wait begun by :func:`block_worker`."""
        with self._lock:
            self._blocked -= 1

    # ---- workers -----------------------------------------------------------------

    def _room(self) -> bool:
        # Called under the lock.
        return not self._shutdown and len(self._threads) < self.max_workers + self._blocked

    def _take_backlog(self) -> bool:
        """Under the lock: whether a new worker should start for a waiting call."""
        if self._backlog and self._room():
            self._backlog -= 1
            return True
        return False

    def _spawn(self) -> None:
        with self._lock:
            self._started += 1
            number = self._started
        # The thread reads ``worker`` when it starts, after it is bound below.
        thread = threading.Thread(
            target=lambda: self._serve(worker), name=f"{self._name}_{number}", daemon=True
        )
        worker = _Worker(self, thread)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _serve(self, worker: _Worker) -> None:
        _local.worker = worker
        inbox, lock = self._inbox, self._lock
        while True:
            item = inbox.get()
            if item is _STOP:
                inbox.put(_STOP)  # let the next worker see it too
                with lock:
                    self._threads.discard(worker.thread)
                return
            fn, args, ticket = item
            if ticket is None:
                fn(*args)
            else:
                ticket.worker = worker
                try:
                    ticket.latch.pop()
                except IndexError:
                    pass  # abandoned before it started: skip it
                else:
                    fn(*args)
            with lock:
                if ticket is not None:
                    ticket.worker = None
                if worker.retired:
                    return
                if len(self._threads) > self.max_workers + self._blocked:
                    # A nested run that borrowed a worker's place has ended.
                    self._threads.discard(worker.thread)
                    return
                if self._backlog:
                    self._backlog -= 1  # this worker takes a waiting call next
                else:
                    self._idle += 1


def mark_serving() -> None:
    """Mark this thread as one that serves runs' calls (a worker, a private loop)."""
    _local.serving = True


def serving() -> bool:
    """Whether this thread serves runs' calls: waiting here for runs could deadlock."""
    return getattr(_local, "serving", False) or getattr(_local, "worker", None) is not None


def block_worker() -> WorkerPool | None:
    """Mark this thread's pool worker (if it is one) as blocked on a nested run.

    A tool that runs a flow waits for that flow's calls; while it waits, its pool may
    start one more worker, so the nested run never needs the very worker it blocks.
    Returns the pool to hand to :meth:`WorkerPool.unblock` when the wait is over, or
    ``None`` when this thread is no pool's worker.
    """
    worker: _Worker | None = getattr(_local, "worker", None)
    if worker is None or worker.retired:
        return None
    worker.pool._block()
    return worker.pool

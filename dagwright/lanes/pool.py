"""The executor-owned, bounded worker pool.

A ``concurrent.futures.Executor`` (so an event loop can use it with
``run_in_executor``) with a lighter path for the sync lane: :meth:`WorkerPool.post`
queues a call with no ``Future``, no work-item object and no result bookkeeping; the call
reports its own outcome. On a trivial tool that halves the cost of a round trip through
a ``ThreadPoolExecutor``, whose per-call machinery dominates when a graph fans out to
many cheap steps.

Workers are started on first use, all at once (idle workers cost nothing but a blocked
``get``), and are daemon threads: a tool that never returns, abandoned after its
timeout, must not keep the interpreter from exiting.
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


def _work(inbox: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None]) -> None:
    while True:
        item = inbox.get()
        if item is _STOP:
            inbox.put(_STOP)  # let the next worker see it too
            return
        fn, args = item
        fn(*args)


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
    """``max_workers`` threads serving calls in the order they were queued."""

    def __init__(self, max_workers: int, *, name: str = "dagwright") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.max_workers = max_workers
        self._name = name
        self._inbox: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._shutdown = False

    def _start(self) -> None:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new calls after shutdown")
            if self._threads:
                return
            for number in range(self.max_workers):
                thread = threading.Thread(
                    target=_work, args=(self._inbox,), name=f"{self._name}_{number}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)``; its result is dropped, so ``fn`` must report its own outcome
        and must not raise."""
        if not self._threads:
            self._start()
        elif self._shutdown:
            raise RuntimeError("cannot schedule new calls after shutdown")
        self._inbox.put((fn, args))

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Queue ``fn(*args, **kwargs)`` and return a ``Future`` of its result."""
        future: Future[T] = Future()
        self.post(_fulfil, future, fn, args, kwargs)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the workers once the queued calls are done (``wait``: block until then)."""
        with self._lock:
            if self._shutdown:
                return
            self._shutdown = True
            threads = list(self._threads)
        if cancel_futures:
            pending: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
            while True:
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    pending.append(item)
            for fn, args in pending:
                if fn is _fulfil:
                    args[0].cancel()
                else:
                    self._inbox.put((fn, args))
        self._inbox.put(_STOP)
        if wait:
            current = threading.current_thread()
            for thread in threads:
                if thread is not current:
                    thread.join()

"""Run leases: who owns a run, and whether that owner is gone.

A run is driven by one owner at a time. ``run`` and ``resume`` take the run's lease in
the store before any tool is called, renew it while they run (see :class:`Heartbeat`)
and give it up when they finish. Every journal write checks, in the same transaction,
that the writer still holds the lease, so an owner that lost it can never add to the
journal of a run someone else took over.

A lease is *free* when nobody holds it, and *gone* when its owner can no longer use it:

* it expired (``expires_at`` passed: the owner stopped renewing it, wherever it runs);
* its owner is a process on this host that no longer exists (SIGKILLed, crashed): seen
  at once, without waiting for the expiry. A zombie (dead, not yet reaped) counts as
  gone, and so does a live process whose start time differs from the owner's (its pid
  was reused);
* its owner is in this very process but no longer holds the run (it finished or was
  abandoned without releasing, e.g. after a store fault).

Anything else is a live owner: taking the run raises ``RunLockedError``.

The host identity joins the host name with the boot id and the pid namespace, so two
containers sharing a host name (and a volume holding the store) never judge each other's
processes by pid.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_LEASE_S = 30.0
"""How long a lease lasts without renewal; owners renew it every third of that."""


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def _host_identity() -> str:
    if hasattr(os, "uname"):  # what gethostname() returns, without importing socket
        name = os.uname().nodename
    else:  # pragma: no cover - Windows
        import socket

        name = socket.gethostname()
    extra = f"{_read('/proc/sys/kernel/random/boot_id') or ''}/{_pid_namespace()}"
    return f"{name}#{hashlib.sha256(extra.encode()).hexdigest()[:12]}"


_HOST = _host_identity()


def _process_started(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (Linux), or ``None``."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    # The command name (field 2) is in parentheses and may hold spaces.
    fields = stat.rpartition(")")[2].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


_SELF: tuple[int, int | None] | None = None


def _this_process() -> tuple[int, int | None]:
    """This process's pid and start time, read from /proc once per process (a forked
    child has another pid, and reads its own)."""
    global _SELF  # noqa: PLW0603  (a per-process fact, computed on first use)
    pid = os.getpid()
    known = _SELF
    if known is None or known[0] != pid:
        known = _SELF = (pid, _process_started(pid))
    return known


def _process_state(pid: int) -> str | None:
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[0] if fields else None


@dataclass(frozen=True, slots=True)
class Owner:
    """Who holds a lease: a unique ``token``, the ``host`` identity and the process."""

    token: str
    host: str
    pid: int
    pid_started: int | None = None

    @classmethod
    def new(cls) -> Owner:
        """A fresh owner in this process (one per run or resume)."""
        pid, started = _this_process()
        return cls(os.urandom(8).hex(), _HOST, pid, started)

    def describe(self) -> str:
        """A short human description: ``pid 1234 on host``."""
        return f"pid {self.pid} on {self.host.partition('#')[0]} (lease {self.token})"

    def to_json(self) -> str:
        """The owner as compact JSON text, for a store."""
        return json.dumps(
            {"token": self.token, "host": self.host, "pid": self.pid, "started": self.pid_started},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Owner:
        """The inverse of :meth:`to_json` (``ValueError``/``KeyError`` if malformed)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("owner is not an object")
        started = data["started"]
        return cls(
            str(data["token"]),
            str(data["host"]),
            int(data["pid"]),
            None if started is None else int(started),
        )


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease as stored: its owner and when it expires (wall-clock seconds)."""

    owner: Owner
    expires_at: float


# Tokens of the owners in this process that hold a run now.
_LIVE: set[str] = set()
_LIVE_LOCK = threading.Lock()


def hold(owner: Owner) -> None:
    """Note that ``owner`` (of this process) holds a run from now on."""
    with _LIVE_LOCK:
        _LIVE.add(owner.token)


def drop(owner: Owner) -> None:
    """Note that ``owner`` no longer holds its run: a lease it left behind is gone."""
    with _LIVE_LOCK:
        _LIVE.discard(owner.token)


def _process_gone(owner: Owner) -> bool:
    pid = owner.pid
    if pid == os.getpid():
        with _LIVE_LOCK:
            return owner.token not in _LIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, under another user
    except OSError:
        return False
    if _process_state(pid) == "Z":
        return True
    started = _process_started(pid)
    return owner.pid_started is not None and started is not None and started != owner.pid_started


def is_gone(lease: Lease, now: float) -> bool:
    """Whether ``lease`` may be taken over at wall-clock time ``now`` (see module doc)."""
    if lease.expires_at <= now:
        return True
    return lease.owner.host == _HOST and _process_gone(lease.owner)


class Heartbeat:
    """Renews the leases of the runs in flight, every third of their lease time.

    One daemon thread, started with the first lease it is given and stopped by
    :meth:`stop`. ``renew`` callables return ``False`` when the lease was lost; the run
    then learns it at its next journal write, which the store refuses.
    """

    def __init__(self) -> None:
        self._leases: dict[str, tuple[Callable[[float], bool], float]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def add(self, token: str, renew: Callable[[float], bool], lease_s: float) -> None:
        """Renew with ``renew(now)`` every ``lease_s / 3`` seconds until :meth:`remove`."""
        with self._lock:
            self._leases[token] = (renew, lease_s)
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(
                    target=self._beat, name="dagwright-heartbeat", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def remove(self, token: str) -> None:
        """Stop renewing the lease ``token``."""
        with self._lock:
            self._leases.pop(token, None)

    def stop(self) -> None:
        """Stop the thread (leases still held simply stop being renewed)."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def _beat(self) -> None:
        due: dict[str, float] = {}
        while True:
            with self._lock:
                if self._stopped:
                    return
                leases = dict(self._leases)
            now = time.monotonic()
            for token, (renew, lease_s) in leases.items():
                at = due.setdefault(token, now + lease_s / 3)
                if at <= now:
                    # A store fault here is reported by the run's next journal write.
                    with contextlib.suppress(Exception):
                        renew(time.time())
                    due[token] = now + lease_s / 3
            for token in [t for t in due if t not in leases]:
                del due[token]
            wait = min((at - now for at in due.values()), default=None)
            self._wake.wait(timeout=None if wait is None else max(wait, 0.01))
            self._wake.clear()


def lease_fields(lease: Lease | None) -> Mapping[str, Any] | None:
    """A lease as plain data (for listings), or ``None``."""
    if lease is None:
        return None
    return {
        "owner": lease.owner.describe(),
        "host": lease.owner.host,
        "pid": lease.owner.pid,
        "expires_at": lease.expires_at,
    }

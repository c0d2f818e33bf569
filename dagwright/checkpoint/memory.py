"""InMemoryCheckpointer: journals in a dict, for tests and single-process use."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from dagwright.checkpoint.lease import DEFAULT_LEASE_S, Lease, Owner, is_gone
from dagwright.checkpoint.protocol import RunHeader, RunList, RunStatus, status_refused
from dagwright.errors import CheckpointNotFoundError, RunExistsError, RunLockedError


class InMemoryCheckpointer:
    """Keeps each run's header, lease and journal in memory; thread-safe; lost with the
    process.

    Entries are JSON-mode dicts (the core builds them that way) and are kept as given;
    :meth:`load` returns deep copies, so no caller can change what was recorded. Leases
    work as in :class:`~dagwright.SQLiteCheckpointer`, between the executors of one
    process that share this instance.
    """

    def __init__(self, *, lease_s: float = DEFAULT_LEASE_S) -> None:
        if isinstance(lease_s, bool) or not isinstance(lease_s, int | float) or lease_s <= 0:
            raise ValueError(f"lease_s must be a number > 0, got {lease_s!r}")
        self.lease_s = float(lease_s)
        self._headers: dict[str, RunHeader] = {}
        self._journals: dict[str, list[Mapping[str, Any]]] = {}
        self._leases: dict[str, Lease] = {}
        self._lock = threading.Lock()

    def begin(self, header: RunHeader, owner: Owner) -> None:
        """Create a run leased to ``owner``; ``RunExistsError`` if its id exists."""
        with self._lock:
            if header.run_id in self._headers:
                raise RunExistsError(
                    f"run {header.run_id!r} already has a checkpoint",
                    hint="resume it with executor.resume(run_id), or pick another run_id",
                    run_id=header.run_id,
                )
            self._headers[header.run_id] = header
            self._journals[header.run_id] = []
            self._leases[header.run_id] = Lease(owner, header.started_at + self.lease_s)

    def acquire(self, run_id: str, owner: Owner, at: float) -> RunHeader:
        """Lease a run to ``owner`` (``RunLockedError`` if a live owner holds it) and
        mark it running."""
        return self._take(run_id, owner, at, None)

    def acquire_if(
        self, run_id: str, owner: Owner, at: float, statuses: Sequence[RunStatus]
    ) -> RunHeader:
        """:meth:`acquire`, only while the run's status is one of ``statuses`` (checked
        under the same lock; ``RunLockedError`` otherwise, nothing changed)."""
        return self._take(run_id, owner, at, statuses)

    def _take(
        self, run_id: str, owner: Owner, at: float, statuses: Sequence[RunStatus] | None
    ) -> RunHeader:
        with self._lock:
            header = self._header(run_id)
            if statuses is not None and header.status not in statuses:
                raise status_refused(run_id, header.status, statuses)
            held = self._leases.get(run_id)
            if held is not None and held.owner.token != owner.token and not is_gone(held, at):
                raise RunLockedError(
                    f"run {run_id!r} is being run by {held.owner.describe()}",
                    hint="wait for it to finish, or resume it once its owner has stopped",
                    run_id=run_id,
                    owner=held.owner.describe(),
                )
            self._leases[run_id] = Lease(owner, at + self.lease_s)
            header = header.with_status("running", at)
            self._headers[run_id] = header
            return header

    def renew(self, run_id: str, owner: Owner, at: float) -> bool:
        """Extend ``owner``'s lease; ``False`` if it does not hold it."""
        with self._lock:
            held = self._leases.get(run_id)
            if held is None or held.owner.token != owner.token:
                return False
            self._leases[run_id] = Lease(owner, at + self.lease_s)
            return True

    def append(self, run_id: str, entries: Sequence[Mapping[str, Any]], owner: Owner) -> None:
        """Append journal entries (``RunLockedError`` unless ``owner`` holds the run)."""
        with self._lock:
            self._check_owner(run_id, owner)
            self._journals[run_id].extend(entries)

    def finish(self, run_id: str, status: RunStatus, at: float, owner: Owner) -> None:
        """Record the run's final status and release its lease."""
        with self._lock:
            self._check_owner(run_id, owner)
            self._headers[run_id] = self._header(run_id).with_status(status, at)
            del self._leases[run_id]

    def lease(self, run_id: str) -> Lease | None:
        """The run's current lease, if anyone holds it."""
        with self._lock:
            return self._leases.get(run_id)

    def header(self, run_id: str) -> RunHeader:
        """The run's header."""
        with self._lock:
            return self._header(run_id)

    def load(self, run_id: str) -> tuple[RunHeader, list[dict[str, Any]]]:
        """The run's header and journal."""
        with self._lock:
            header = self._header(run_id)
            journal = list(self._journals[run_id])
        return header, [copy.deepcopy(dict(entry)) for entry in journal]

    def runs(self, flow_name: str | None = None) -> RunList:
        """Stored run headers, oldest first."""
        with self._lock:
            headers = list(self._headers.values())
        chosen = [h for h in headers if flow_name is None or h.flow_name == flow_name]
        return RunList(sorted(chosen, key=lambda h: (h.started_at, h.run_id)))

    def delete(self, run_id: str) -> None:
        """Forget a run (``CheckpointNotFoundError`` if unknown, ``RunLockedError`` while
        a live owner holds it)."""
        with self._lock:
            self._header(run_id)
            held = self._leases.get(run_id)
            if held is not None and not is_gone(held, time.time()):
                raise RunLockedError(
                    f"run {run_id!r} cannot be deleted: it is being run by {held.owner.describe()}",
                    hint="wait for it to finish, or delete it once its owner has stopped",
                    run_id=run_id,
                    owner=held.owner.describe(),
                )
            self._headers.pop(run_id, None)
            self._journals.pop(run_id, None)
            self._leases.pop(run_id, None)

    def close(self) -> None:
        """Nothing to release."""

    def _header(self, run_id: str) -> RunHeader:
        header = self._headers.get(run_id)
        if header is None:
            raise CheckpointNotFoundError(
                f"no checkpoint for run {run_id!r}",
                hint="list stored runs with checkpointer.runs()",
            )
        return header

    def _check_owner(self, run_id: str, owner: Owner) -> None:
        self._header(run_id)
        held = self._leases.get(run_id)
        if held is None or held.owner.token != owner.token:
            taker = "nobody" if held is None else held.owner.describe()
            raise RunLockedError(
                f"run {run_id!r} is no longer leased to this run ({owner.describe()}); "
                f"it is now held by {taker}",
                hint="another process took the run over after this one stopped renewing "
                "its lease; its journal was not touched",
                run_id=run_id,
                owner=None if held is None else held.owner.describe(),
            )

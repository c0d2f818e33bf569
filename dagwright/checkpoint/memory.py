"""InMemoryCheckpointer: journals in a dict, for tests and single-process use."""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from dagwright.checkpoint.protocol import RunHeader, RunStatus
from dagwright.errors import CheckpointNotFoundError


class InMemoryCheckpointer:
    """Keeps each run's header and journal in memory; thread-safe; lost with the process.

    Entries are JSON-mode dicts (the core builds them that way) and are kept as given;
    :meth:`load` returns deep copies, so no caller can change what was recorded.
    """

    def __init__(self) -> None:
        self._headers: dict[str, RunHeader] = {}
        self._journals: dict[str, list[Mapping[str, Any]]] = {}
        self._lock = threading.Lock()

    def begin(self, header: RunHeader) -> None:
        """Create a run; ``ValueError`` if its id exists."""
        with self._lock:
            if header.run_id in self._headers:
                raise ValueError(f"run {header.run_id!r} already has a checkpoint")
            self._headers[header.run_id] = header
            self._journals[header.run_id] = []

    def reopen(self, run_id: str, at: float) -> RunHeader:
        """Mark a run as running again and return its header."""
        with self._lock:
            header = self._header(run_id).with_status("running", at)
            self._headers[run_id] = header
            return header

    def append(self, run_id: str, entries: Sequence[Mapping[str, Any]]) -> None:
        """Append journal entries."""
        with self._lock:
            self._header(run_id)
            self._journals[run_id].extend(entries)

    def finish(self, run_id: str, status: RunStatus, at: float) -> None:
        """Record the run's final status."""
        with self._lock:
            self._headers[run_id] = self._header(run_id).with_status(status, at)

    def load(self, run_id: str) -> tuple[RunHeader, list[dict[str, Any]]]:
        """The run's header and journal."""
        with self._lock:
            header = self._header(run_id)
            journal = list(self._journals[run_id])
        return header, [copy.deepcopy(dict(entry)) for entry in journal]

    def runs(self, flow_name: str | None = None) -> list[RunHeader]:
        """Stored run headers, oldest first."""
        with self._lock:
            headers = list(self._headers.values())
        chosen = [h for h in headers if flow_name is None or h.flow_name == flow_name]
        return sorted(chosen, key=lambda h: (h.started_at, h.run_id))

    def delete(self, run_id: str) -> None:
        """Forget a run."""
        with self._lock:
            self._headers.pop(run_id, None)
            self._journals.pop(run_id, None)

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

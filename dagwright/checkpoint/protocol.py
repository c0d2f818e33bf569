"""The checkpointer protocol: an append-only journal per run, plus a header.

A checkpointer stores, per run, one :class:`RunHeader` and an ordered list of journal
entries (JSON objects, see ``dagwright/_execution/journal.py``). The core decides what
goes in the journal; lanes hand entries to :meth:`Checkpointer.append` before they start
new work; resume reads them back with :meth:`Checkpointer.load`. Only JSON is stored:
no pickle, anywhere.

A run costs one small entry per completed step and per completed map instance, so
checkpointing a run of n steps costs O(n), never a snapshot of the whole context.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, runtime_checkable

RunStatus = Literal["running", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class RunHeader:
    """What a checkpoint knows of a run besides its journal.

    ``flow_digest`` covers the flow definition, the schema hashes of its tools and its
    sub-flows' digests: resume refuses a run whose flow changed. ``inputs`` are the
    validated, JSON-mode run inputs. Times are wall-clock seconds since the epoch.
    """

    run_id: str
    flow_name: str
    flow_version: str
    flow_digest: str
    inputs: Mapping[str, Any]
    status: RunStatus
    started_at: float
    updated_at: float

    def with_status(self, status: RunStatus, at: float) -> RunHeader:
        """A copy with ``status`` set at time ``at``."""
        return replace(self, status=status, updated_at=at)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "run_id": self.run_id,
            "flow_name": self.flow_name,
            "flow_version": self.flow_version,
            "flow_digest": self.flow_digest,
            "inputs": dict(self.inputs),
            "status": self.status,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunHeader:
        """The inverse of :meth:`to_dict`."""
        return cls(
            data["run_id"],
            data["flow_name"],
            data["flow_version"],
            data["flow_digest"],
            data["inputs"],
            data["status"],
            data["started_at"],
            data["updated_at"],
        )


@runtime_checkable
class Checkpointer(Protocol):
    """Stores run headers and append-only journals. Implementations must be safe to
    share between threads (one executor serves many runs at once)."""

    def begin(self, header: RunHeader) -> None:
        """Create a run; raise ``ValueError`` if ``header.run_id`` already exists."""

    def reopen(self, run_id: str, at: float) -> RunHeader:
        """Mark an existing run as running again (for resume) and return its header.

        Raises :class:`~dagwright.errors.CheckpointNotFoundError` for an unknown run.
        """

    def append(self, run_id: str, entries: Sequence[Mapping[str, Any]]) -> None:
        """Append journal entries, in order; each becomes durable atomically (or, when
        the checkpointer batches, with the batch it belongs to)."""

    def finish(self, run_id: str, status: RunStatus, at: float) -> None:
        """Make everything appended durable and record the run's final ``status``."""

    def load(self, run_id: str) -> tuple[RunHeader, list[dict[str, Any]]]:
        """The run's header and journal, in append order.

        Raises :class:`~dagwright.errors.CheckpointNotFoundError` for an unknown run.
        """

    def runs(self, flow_name: str | None = None) -> list[RunHeader]:
        """Headers of the stored runs (of one flow, if given), oldest first."""

    def delete(self, run_id: str) -> None:
        """Forget a run (no error if it is unknown)."""

    def close(self) -> None:
        """Release resources (connections); the checkpointer is unusable afterwards."""

"""The checkpointer protocol: an append-only journal per run, plus a header.

A checkpointer stores, per run, one :class:`RunHeader` and an ordered list of journal
entries (JSON objects, see ``dagwright/_execution/journal.py``). The core decides what
goes in the journal; lanes hand entries to :meth:`Checkpointer.append` before they start
new work; resume reads them back with :meth:`Checkpointer.load`. Only JSON is stored:
no pickle, anywhere.

A run costs one small entry per step and per map instance that ended (completed, or
failed or cancelled: a failure entry, which resume does not replay), so checkpointing a
run of n steps costs O(n), never a snapshot of the whole context.

One owner per run: ``begin`` and ``acquire`` take the run's lease (see
:mod:`dagwright.checkpoint.lease`), ``renew`` extends it, and ``append`` and ``finish``
are refused with ``RunLockedError`` unless the caller still holds it. No sequence number
or other per-run state may be cached between calls: several checkpointer instances, in
one process or many, share one store.

A checkpointer may also have ``acquire_if(run_id, owner, at, statuses)``: ``acquire``,
but only while the run's status is one of ``statuses``, checked and taken in the one
atomic step (``RunLockedError``, with nothing written, otherwise; build it with
:func:`status_refused`). ``FlowExecutor.recover`` takes runs with it, so that a run
another recoverer finished, failed or marked ``dead`` since it was listed is never taken
again. Both stores of dagwright have it; for a checkpointer without it, ``recover``
reads the status and then acquires, two steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, runtime_checkable

from dagwright.checkpoint.lease import Lease, Owner
from dagwright.errors import RunLockedError

RunStatus = Literal["running", "succeeded", "failed", "interrupted", "dead"]
"""``interrupted``: a ``KeyboardInterrupt``/``SystemExit`` (or a stream left early)
stopped the run; it can be resumed like a crashed one. ``dead``: ``recover`` resumed the
run its ``max_attempts`` times and it never finished; ``recover`` leaves it alone (a
``resume`` by hand still finishes it)."""

RUN_STATUSES: tuple[RunStatus, ...] = ("running", "succeeded", "failed", "interrupted", "dead")


def status_refused(
    run_id: str, status: RunStatus, statuses: Sequence[RunStatus], *, path: str | None = None
) -> RunLockedError:
    """What ``acquire_if`` raises for a run whose status is ``status``, not one of
    ``statuses``: another owner ended the run (or marked it ``dead``) since it was read."""
    where = f" in {path}" if path is not None else ""
    return RunLockedError(
        f"run {run_id!r}{where} is {status} now, not {' or '.join(statuses)}: another owner "
        "ended it since it was listed",
        hint="nothing was changed; read its outcome with read_run(checkpointer, run_id)",
        path=path,
        run_id=run_id,
    )


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
        """The inverse of :meth:`to_dict`; ``ValueError`` when ``data`` is not a header."""
        try:
            header = cls(
                data["run_id"],
                data["flow_name"],
                data["flow_version"],
                data["flow_digest"],
                data["inputs"],
                data["status"],
                float(data["started_at"]),
                float(data["updated_at"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a run header: {exc!r}") from None
        texts = (header.run_id, header.flow_name, header.flow_version, header.flow_digest)
        if not all(isinstance(text, str) for text in texts):
            raise ValueError("not a run header: ids, names and digests must be strings")
        if not isinstance(header.inputs, Mapping):
            raise ValueError("not a run header: inputs must be an object")
        if header.status not in RUN_STATUSES:
            raise ValueError(f"not a run header: unknown status {header.status!r}")
        return header


@runtime_checkable
class Checkpointer(Protocol):
    """Stores run headers, leases and append-only journals. Implementations must be safe
    to share between threads (one executor serves many runs at once).

    Every error is a :class:`~dagwright.errors.CheckpointError` (or a subclass) naming
    the store and the run, never a raw driver error.
    """

    lease_s: float
    """How long a lease lasts without renewal, in seconds."""

    def begin(self, header: RunHeader, owner: Owner) -> None:
        """Create a run, leased to ``owner``, in one atomic write.

        Raises :class:`~dagwright.errors.RunExistsError` if ``header.run_id`` exists.
        """

    def acquire(self, run_id: str, owner: Owner, at: float) -> RunHeader:
        """Lease an existing run to ``owner``, mark it running, and return its header.

        The lease is taken over when it is free or gone (see
        :func:`~dagwright.checkpoint.lease.is_gone`); a live owner's lease raises
        :class:`~dagwright.errors.RunLockedError`. Check and write are one atomic step,
        so of two callers racing for a run exactly one wins. Raises
        :class:`~dagwright.errors.CheckpointNotFoundError` for an unknown run.
        """

    def renew(self, run_id: str, owner: Owner, at: float) -> bool:
        """Extend ``owner``'s lease to ``at + lease_s``; ``False`` if it no longer holds it."""

    def append(self, run_id: str, entries: Sequence[Mapping[str, Any]], owner: Owner) -> None:
        """Append journal entries, in order; each becomes durable atomically (or, when
        the checkpointer batches, with the batch it belongs to).

        Raises :class:`~dagwright.errors.RunLockedError` (nothing written) when
        ``owner`` does not hold the run's lease.
        """

    def finish(self, run_id: str, status: RunStatus, at: float, owner: Owner) -> None:
        """Make everything appended durable, record ``status`` and release the lease.

        Raises :class:`~dagwright.errors.RunLockedError` (nothing written) when
        ``owner`` does not hold the run's lease.
        """

    def lease(self, run_id: str) -> Lease | None:
        """The run's current lease, or ``None`` when nobody holds it."""

    def load(self, run_id: str) -> tuple[RunHeader, list[dict[str, Any]]]:
        """The run's header and journal, in append order.

        Raises :class:`~dagwright.errors.CheckpointNotFoundError` for an unknown run.
        """

    def header(self, run_id: str) -> RunHeader:
        """The run's header alone (``CheckpointNotFoundError`` for an unknown run)."""

    def runs(self, flow_name: str | None = None) -> RunList:
        """Headers of the stored runs (of one flow, if given), oldest first; rows that
        cannot be read are left out and reported in ``RunList.unreadable``."""

    def delete(self, run_id: str) -> None:
        """Forget a run: its header, journal and lease.

        Raises :class:`~dagwright.errors.CheckpointNotFoundError` for an unknown run and
        :class:`~dagwright.errors.RunLockedError` (nothing deleted) while a live owner
        holds its lease; a gone owner's lease does not stop it.
        """

    def close(self) -> None:
        """Release resources (connections); the checkpointer is unusable afterwards."""


class RunList(list[RunHeader]):
    """Run headers, plus the errors of the stored runs that could not be read."""

    def __init__(self, headers: Sequence[RunHeader] = (), unreadable: Sequence[Any] = ()) -> None:
        super().__init__(headers)
        self.unreadable: tuple[Any, ...] = tuple(unreadable)
        """One :class:`~dagwright.errors.CheckpointCorruptError` per unreadable run."""

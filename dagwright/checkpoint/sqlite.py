"""SQLiteCheckpointer: the embedded, durable default.

One file holds every run: a ``runs`` table of headers and a ``journal`` table of entries
(JSON text, in append order). The database is in WAL mode; every append is one
``BEGIN IMMEDIATE`` transaction, so an entry is either wholly on disk or not at all, and
several threads (one connection, a lock) and several processes (SQLite's file locks,
with a busy timeout) can write the same file at once.

Durability, by ``synchronous``:

* ``"FULL"`` (default): each transaction is fsynced before the append returns. A
  committed entry survives a process crash and a power loss.
* ``"NORMAL"``: in WAL mode SQLite does not fsync at each commit, only at checkpoints. A
  committed entry survives a crash of the process (it is in the OS's page cache), but the
  last transactions may be lost on a power loss or OS crash. Much faster.

``flush_every=N`` (default 1) lets map-instance entries wait until N are pending; any
step entry, and ``finish``, flushes them. Unflushed entries are lost on a crash and
those instances run again on resume (still counted once in the results).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic_core import to_json

from dagwright.checkpoint.protocol import RunHeader, RunStatus
from dagwright.errors import CheckpointError, CheckpointNotFoundError

SCHEMA_VERSION = 1

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS runs ("
    " run_id TEXT PRIMARY KEY, flow_name TEXT NOT NULL, started_at REAL NOT NULL,"
    " header TEXT NOT NULL)",
    # Keyed by (run, sequence) with no rowid: one B-tree write per entry, and a run's
    # journal is read back in order without a separate index.
    "CREATE TABLE IF NOT EXISTS journal ("
    " run_id TEXT NOT NULL, seq INTEGER NOT NULL, entry TEXT NOT NULL,"
    " PRIMARY KEY (run_id, seq)) WITHOUT ROWID",
)


class SQLiteCheckpointer:
    """Journals in an SQLite file (WAL); safe for many threads and processes on one file."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        flush_every: int = 1,
        busy_timeout_s: float = 30.0,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        if isinstance(flush_every, bool) or not isinstance(flush_every, int) or flush_every < 1:
            raise ValueError(f"flush_every must be an int >= 1, got {flush_every!r}")
        self.path = Path(path)
        self.synchronous = synchronous
        self.flush_every = flush_every
        self._lock = threading.Lock()
        self._pending: dict[str, list[str]] = {}
        self._next_seq: dict[str, int] = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._setup()
        except sqlite3.Error as exc:
            raise CheckpointError(f"cannot open checkpoint database {self.path}: {exc}") from exc

    def _setup(self) -> None:
        with self._transaction():
            for statement in _SCHEMA:
                self._db.execute(statement)
            row = self._db.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                self._db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise CheckpointError(
                    f"{self.path} has checkpoint schema version {row[0]}; this dagwright "
                    f"reads version {SCHEMA_VERSION}",
                    hint="use a dagwright release that matches the file, or a new file",
                )

    # ---- the protocol ---------------------------------------------------------------

    def begin(self, header: RunHeader) -> None:
        """Create a run; ``ValueError`` if its id exists."""
        with self._lock, self._transaction():
            try:
                self._db.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?)",
                    (header.run_id, header.flow_name, header.started_at, _dump(header.to_dict())),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"run {header.run_id!r} already has a checkpoint") from None

    def reopen(self, run_id: str, at: float) -> RunHeader:
        """Mark a run as running again and return its header."""
        with self._lock, self._transaction():
            header = self._header(run_id).with_status("running", at)
            self._write_header(header)
        return header

    def append(self, run_id: str, entries: Sequence[Mapping[str, Any]]) -> None:
        """Append entries in one transaction (map-instance entries may wait for a batch)."""
        with self._lock:
            pending = self._pending.setdefault(run_id, [])
            flush = self.flush_every == 1
            for entry in entries:
                pending.append(_dump(entry))
                if entry.get("kind") != "instance":
                    flush = True
            if flush or len(pending) >= self.flush_every:
                self._flush(run_id)

    def finish(self, run_id: str, status: RunStatus, at: float) -> None:
        """Flush what waits and record the run's final status."""
        with self._lock:
            self._flush(run_id)
            with self._transaction():
                self._write_header(self._header(run_id).with_status(status, at))

    def load(self, run_id: str) -> tuple[RunHeader, list[dict[str, Any]]]:
        """The run's header and journal, in append order."""
        with self._lock:
            header = self._header(run_id)
            rows = self._db.execute(
                "SELECT entry FROM journal WHERE run_id = ? ORDER BY seq", (run_id,)
            ).fetchall()
        try:
            return header, [json.loads(row[0]) for row in rows]
        except ValueError as exc:
            raise CheckpointError(f"corrupt journal entry for run {run_id!r}: {exc}") from exc

    def runs(self, flow_name: str | None = None) -> list[RunHeader]:
        """Stored run headers (of one flow, if given), oldest first."""
        query = "SELECT header FROM runs"
        args: tuple[Any, ...] = ()
        if flow_name is not None:
            query += " WHERE flow_name = ?"
            args = (flow_name,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY started_at, run_id", args).fetchall()
        return [RunHeader.from_dict(json.loads(row[0])) for row in rows]

    def delete(self, run_id: str) -> None:
        """Forget a run and its journal."""
        with self._lock, self._transaction():
            self._pending.pop(run_id, None)
            self._next_seq.pop(run_id, None)
            self._db.execute("DELETE FROM journal WHERE run_id = ?", (run_id,))
            self._db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    def close(self) -> None:
        """Flush pending entries and close the connection."""
        with self._lock:
            for run_id in list(self._pending):
                self._flush(run_id)
            self._db.close()

    def __enter__(self) -> SQLiteCheckpointer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- internals ------------------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _flush(self, run_id: str) -> None:
        pending = self._pending.get(run_id)
        if not pending:
            return
        with self._transaction():
            seq = self._next_seq.get(run_id)
            if seq is None:  # first write of this run by this process (or a resume)
                row = self._db.execute(
                    "SELECT COALESCE(MAX(seq), -1) + 1 FROM journal WHERE run_id = ?", (run_id,)
                ).fetchone()
                seq = int(row[0])
            self._db.executemany(
                "INSERT INTO journal (run_id, seq, entry) VALUES (?, ?, ?)",
                [(run_id, seq + n, text) for n, text in enumerate(pending)],
            )
        self._next_seq[run_id] = seq + len(pending)
        pending.clear()

    def _header(self, run_id: str) -> RunHeader:
        row = self._db.execute("SELECT header FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise CheckpointNotFoundError(
                f"no checkpoint for run {run_id!r} in {self.path}",
                hint="list stored runs with checkpointer.runs()",
            )
        return RunHeader.from_dict(json.loads(row[0]))

    def _write_header(self, header: RunHeader) -> None:
        self._db.execute(
            "UPDATE runs SET header = ? WHERE run_id = ?", (_dump(header.to_dict()), header.run_id)
        )


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on error: one atomic write."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                self._db.execute("ROLLBACK")
                raise CheckpointError(f"checkpoint write failed: {error}") from error
        else:
            self._db.execute("ROLLBACK")


def _dump(data: Mapping[str, Any]) -> str:
    # pydantic-core's encoder: several times faster than json.dumps on small records.
    return to_json(data).decode("utf-8")

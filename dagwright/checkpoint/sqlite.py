"""SQLiteCheckpointer: the embedded, durable default.

One file holds every run: a ``runs`` table of headers, a ``journal`` table of entries
(JSON text, in append order) and a ``leases`` table of who owns each run (the format is
described in ``dagwright/checkpoint/_sqlite_schema.py``). The database is in WAL mode;
every write is one ``BEGIN IMMEDIATE`` transaction, so an entry is either wholly on disk
or not at all, and several threads (one connection, a lock) and several processes or
instances (SQLite's file locks, with a busy timeout) can write the same file at once.
Nothing about a run is cached between calls: each journal write reads the run's next
sequence number, and checks that the writer holds the run's lease, in its own
transaction.

Durability, by ``synchronous``:

* ``"FULL"`` (default): each transaction is fsynced before the write returns. A
  committed entry survives a process crash and a power loss.
* ``"NORMAL"``: in WAL mode SQLite does not fsync at each commit, only at checkpoints. A
  committed entry survives a crash of the process (it is in the OS's page cache), but the
  last transactions may be lost on a power loss or OS crash. Much faster.

``flush_every=N`` (default 1) lets map-instance entries wait, in this instance, until N
are pending for one owner; any step entry, and ``finish``, flushes them, with the same
ownership check. Unflushed entries are lost on a crash and those instances run again on
resume (still counted once in the results).

Every fault raises a :class:`~dagwright.errors.CheckpointError` (or a subclass) naming
the file and the run: ``CheckpointBusyError`` for a lock held past ``busy_timeout_s``,
``CheckpointCorruptError`` for a file that is not a dagwright store or a row that cannot
be read back. A lease row whose owner cannot be read is held until its ``expires_at``
passes (``acquire`` raises ``RunLockedError`` saying it is unreadable) and is taken over
after that, or at once when ``expires_at`` cannot be read either; ``lease()`` raises
``CheckpointCorruptError`` for it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic_core import to_json

from dagwright._logging import get_logger
from dagwright.checkpoint._sqlite_schema import SCHEMA_VERSION, open_store, store_fault
from dagwright.checkpoint.lease import DEFAULT_LEASE_S, Lease, Owner, is_gone
from dagwright.checkpoint.protocol import RunHeader, RunList, RunStatus, status_refused
from dagwright.errors import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointNotFoundError,
    RunExistsError,
    RunLockedError,
)

__all__ = ["SCHEMA_VERSION", "SQLiteCheckpointer"]

_BEGIN = "BEGIN IMMEDIATE"
# An append, guarded by the writer's lease: one statement that inserts the entry at the
# run's next sequence number only when the lease row names the writer's token (two
# primary-key seeks), so a writer that lost its lease inserts nothing.
_APPEND = (
    "INSERT INTO journal (run_id, seq, entry)"
    " SELECT ?1, (SELECT COALESCE(MAX(seq), -1) + 1 FROM journal WHERE run_id = ?1), ?2"
    " WHERE EXISTS (SELECT 1 FROM leases WHERE run_id = ?1 AND token = ?3)"
)
_HOLDS = "SELECT 1 FROM leases WHERE run_id = ? AND token = ?"
_PUT_LEASE = "INSERT OR REPLACE INTO leases (run_id, token, owner, expires_at) VALUES (?, ?, ?, ?)"


class SQLiteCheckpointer:
    """Journals in an SQLite file (WAL); safe for many threads, processes and instances
    on one file. The file's directory must exist.

    ``create=True`` (the default) makes the store when the file is missing or empty.
    ``create=False`` opens an existing store only, as a reader of stored runs wants: a
    missing file, a zero-byte file or an SQLite database with no tables raises
    :class:`~dagwright.errors.CheckpointError` (naming the path) and a file that is not
    a dagwright store :class:`~dagwright.errors.CheckpointCorruptError`, and in each case
    the file is neither created nor written. A store opened either way can be written
    (runs deleted, resumed); a store of an older format is migrated in place either way.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        flush_every: int = 1,
        busy_timeout_s: float = 30.0,
        lease_s: float = DEFAULT_LEASE_S,
        create: bool = True,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        if isinstance(flush_every, bool) or not isinstance(flush_every, int) or flush_every < 1:
            raise ValueError(f"flush_every must be an int >= 1, got {flush_every!r}")
        _check_number("busy_timeout_s", busy_timeout_s, zero_ok=True)
        _check_number("lease_s", lease_s, zero_ok=False)
        self.path = Path(path)
        self.synchronous = synchronous
        self.flush_every = flush_every
        self.busy_timeout_s = float(busy_timeout_s)
        self.lease_s = float(lease_s)
        self._lock = threading.Lock()
        # Map-instance entries waiting for a batch, per (run, owner token).
        self._pending: dict[tuple[str, str], list[str]] = {}
        self._db: sqlite3.Connection | None = open_store(
            self.path, synchronous=synchronous, busy_timeout_s=self.busy_timeout_s, create=create
        )

    # ---- the protocol ---------------------------------------------------------------

    def begin(self, header: RunHeader, owner: Owner) -> None:
        """Create a run leased to ``owner``; ``RunExistsError`` if its id exists."""
        run_id = header.run_id
        text = self._encode([header.to_dict()], run_id)[0]
        with self._use("starting the run", run_id) as db:
            row = (run_id, header.flow_name, header.started_at, text)
            if not db.execute("INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?)", row).rowcount:
                raise RunExistsError(
                    f"run {run_id!r} already has a checkpoint in {self.path}",
                    hint="resume it with executor.resume(run_id), or pick another run_id",
                    path=str(self.path),
                    run_id=run_id,
                )
            expires = header.started_at + self.lease_s
            db.execute(_PUT_LEASE, (run_id, owner.token, owner.to_json(), expires))

    def acquire(self, run_id: str, owner: Owner, at: float) -> RunHeader:
        """Lease a run to ``owner`` (``RunLockedError`` if a live owner holds it) and
        mark it running."""
        return self._take(run_id, owner, at, None)

    def acquire_if(
        self, run_id: str, owner: Owner, at: float, statuses: Sequence[RunStatus]
    ) -> RunHeader:
        """:meth:`acquire`, only while the run's status is one of ``statuses`` (read in
        the same transaction; ``RunLockedError`` otherwise, nothing written)."""
        return self._take(run_id, owner, at, statuses)

    def _take(
        self, run_id: str, owner: Owner, at: float, statuses: Sequence[RunStatus] | None
    ) -> RunHeader:
        with self._use("taking the run's lease", run_id) as db:
            header = self._read_header(db, run_id)
            if statuses is not None and header.status not in statuses:
                raise status_refused(run_id, header.status, statuses, path=str(self.path))
            row = db.execute(
                "SELECT token, owner, expires_at FROM leases WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is not None and row[0] != owner.token:
                self._refuse_if_held(run_id, row, at)
            db.execute(_PUT_LEASE, (run_id, owner.token, owner.to_json(), at + self.lease_s))
            header = header.with_status("running", at)
            self._write_header(db, header)
        with self._lock:  # entries other owners left waiting can never be written now
            for key in [k for k in self._pending if k[0] == run_id and k[1] != owner.token]:
                del self._pending[key]
        return header

    def renew(self, run_id: str, owner: Owner, at: float) -> bool:
        """Extend ``owner``'s lease; ``False`` if it does not hold it."""
        with self._use("renewing the run's lease", run_id) as db:
            cursor = db.execute(
                "UPDATE leases SET expires_at = ? WHERE run_id = ? AND token = ?",
                (at + self.lease_s, run_id, owner.token),
            )
            return cursor.rowcount == 1

    def append(self, run_id: str, entries: Sequence[Mapping[str, Any]], owner: Owner) -> None:
        """Append entries in one transaction (map-instance entries may wait for a batch);
        ``RunLockedError``, with nothing written, unless ``owner`` holds the run."""
        texts = self._encode(entries, run_id)
        if self.flush_every == 1:
            with self._use("appending to the journal", run_id) as db:
                self._insert(db, run_id, owner.token, texts)
            return
        flush = any(entry.get("kind") != "instance" for entry in entries)
        with self._use("appending to the journal", run_id, begin=None) as db:
            pending = self._pending.setdefault((run_id, owner.token), [])
            pending.extend(texts)
            if flush or len(pending) >= self.flush_every:
                self._flush(db, run_id, owner.token)

    def finish(self, run_id: str, status: RunStatus, at: float, owner: Owner) -> None:
        """Flush what waits, record the run's final status and release its lease, in one
        transaction (``RunLockedError`` unless ``owner`` holds the run)."""
        key = (run_id, owner.token)
        with self._use("finishing the run", run_id) as db:
            try:
                self._insert(db, run_id, owner.token, self._pending.get(key, ()))
            except RunLockedError:
                self._pending.pop(key, None)
                raise
            self._write_header(db, self._read_header(db, run_id).with_status(status, at))
            db.execute("DELETE FROM leases WHERE run_id = ?", (run_id,))
            db.execute("COMMIT")
            self._pending.pop(key, None)

    def lease(self, run_id: str) -> Lease | None:
        """The run's current lease, if anyone holds it (``CheckpointCorruptError`` if its
        row cannot be read)."""
        with self._use("reading the run's lease", run_id, begin=None) as db:
            row = db.execute(
                "SELECT owner, expires_at FROM leases WHERE run_id = ?", (run_id,)
            ).fetchone()
        if row is None:
            return None
        owner, expires = _owner(row[0]), _expiry(row[1])
        if owner is None or expires is None:
            raise self._corrupt(run_id, f"its lease row cannot be read: {row!r:.200}")
        return Lease(owner, expires)

    def header(self, run_id: str) -> RunHeader:
        """The run's header."""
        with self._use("reading the run's header", run_id, begin=None) as db:
            return self._read_header(db, run_id)

    def load(self, run_id: str) -> tuple[RunHeader, list[dict[str, Any]]]:
        """The run's header and journal, in append order (one consistent snapshot)."""
        with self._use("reading the run", run_id, begin="BEGIN") as db:
            header = self._read_header(db, run_id)
            rows = db.execute(
                "SELECT seq, entry FROM journal WHERE run_id = ? ORDER BY seq", (run_id,)
            ).fetchall()
        entries: list[dict[str, Any]] = []
        for seq, text in rows:
            try:
                entry = json.loads(text)
            except (TypeError, ValueError) as exc:
                raise self._corrupt(run_id, f"journal entry {seq} cannot be read: {exc}") from exc
            if not isinstance(entry, dict):
                raise self._corrupt(run_id, f"journal entry {seq} is not a JSON object")
            entries.append(entry)
        return header, entries

    def runs(self, flow_name: str | None = None) -> RunList:
        """Stored run headers (of one flow, if given), oldest first; unreadable rows are
        logged (``checkpoint_row_unreadable``) and reported in ``RunList.unreadable``."""
        query = "SELECT run_id, header FROM runs"
        args: tuple[Any, ...] = ()
        if flow_name is not None:
            query += " WHERE flow_name = ?"
            args = (flow_name,)
        with self._use("listing runs", None, begin=None) as db:
            rows = db.execute(query + " ORDER BY started_at, run_id", args).fetchall()
        headers: list[RunHeader] = []
        unreadable: list[CheckpointCorruptError] = []
        for run_id, text in rows:
            try:
                headers.append(self._parse_header(str(run_id), text))
            except CheckpointCorruptError as error:
                unreadable.append(error)
                get_logger().warning(
                    "checkpoint_row_unreadable",
                    path=str(self.path),
                    run_id=error.run_id,
                    error=error.message,
                )
        return RunList(headers, unreadable)

    def delete(self, run_id: str) -> None:
        """Forget a run, its journal and its lease, in one transaction; a run whose
        header cannot be read can be deleted too. ``CheckpointNotFoundError`` for an
        unknown run, ``RunLockedError`` (nothing deleted) while a live owner holds it."""
        with self._use("deleting the run", run_id) as db:
            if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
                raise CheckpointNotFoundError(
                    f"no checkpoint for run {run_id!r} in {self.path}",
                    hint="list stored runs with checkpointer.runs()",
                )
            row = db.execute(
                "SELECT token, owner, expires_at FROM leases WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is not None:
                self._refuse_if_held(run_id, row, time.time(), verb="delete")
            for table in ("journal", "leases", "runs"):
                db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            for key in [k for k in self._pending if k[0] == run_id]:
                del self._pending[key]

    def close(self) -> None:
        """Flush the entries whose owner still holds its run, and close the connection;
        using the store afterwards raises ``CheckpointError``. Closing twice is a no-op."""
        first: CheckpointError | CheckpointNotFoundError | None = None
        with self._lock:
            keys = list(self._pending) if self._db is not None else []
        for run_id, token in keys:
            try:
                with self._use("flushing the journal", run_id, begin=None) as db:
                    self._flush(db, run_id, token)
            except RunLockedError:
                pass  # the run was taken over: these entries can never be written
            except (CheckpointError, CheckpointNotFoundError) as error:
                first = first or error
        with self._lock:
            connection, self._db = self._db, None
            self._pending.clear()
        if connection is not None:
            try:
                connection.close()
            except sqlite3.Error as exc:
                raise self._fault(exc, None, "closing it") from exc
        if first is not None:
            raise first

    def __enter__(self) -> SQLiteCheckpointer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- internals ------------------------------------------------------------------

    def _use(self, doing: str, run_id: str | None, begin: str | None = _BEGIN) -> _Use:
        return _Use(self, doing, run_id, begin)

    def _fault(self, exc: BaseException, run_id: str | None, doing: str) -> CheckpointError:
        return store_fault(
            exc, path=self.path, run_id=run_id, doing=doing, busy_timeout_s=self.busy_timeout_s
        )

    def _flush(self, db: sqlite3.Connection, run_id: str, token: str) -> None:
        """Write the entries waiting for ``(run_id, token)`` in one transaction."""
        key = (run_id, token)
        pending = self._pending.get(key)
        if not pending:
            return
        db.execute(_BEGIN)
        try:
            self._insert(db, run_id, token, pending)
        except RunLockedError:
            del self._pending[key]
            raise
        db.execute("COMMIT")
        del self._pending[key]

    def _insert(
        self, db: sqlite3.Connection, run_id: str, token: str, texts: Sequence[str]
    ) -> None:
        """In the open transaction: append ``texts`` if ``token`` holds the run, else
        raise ``RunLockedError`` (the caller's transaction is then rolled back)."""
        if len(texts) == 1:
            written = db.execute(_APPEND, (run_id, texts[0], token)).rowcount
        elif texts:
            written = db.executemany(_APPEND, [(run_id, text, token) for text in texts]).rowcount
        else:
            written = -1 if db.execute(_HOLDS, (run_id, token)).fetchone() is None else 0
        if written < 0 or written < len(texts):
            raise self._lost(db, run_id, token)

    def _lost(self, db: sqlite3.Connection, run_id: str, token: str) -> RunLockedError:
        self._read_header(db, run_id)  # an unknown run is CheckpointNotFoundError
        row = db.execute("SELECT owner FROM leases WHERE run_id = ?", (run_id,)).fetchone()
        held = None if row is None else _owner(row[0])
        taker = (
            "nobody"
            if row is None
            else "an unreadable lease record"
            if held is None
            else held.describe()
        )
        return RunLockedError(
            f"run {run_id!r} in {self.path} is no longer leased to this run (lease "
            f"{token}); it is now held by {taker}",
            hint=(
                "the run was finished or its lease released; acquire it again to go on"
                if row is None
                else "another owner took the run over after this one stopped renewing its lease"
            )
            + "; nothing was written",
            path=str(self.path),
            run_id=run_id,
            owner=None if row is None else taker,
        )

    def _refuse_if_held(
        self, run_id: str, row: tuple[Any, Any, Any], at: float, verb: str = "resume"
    ) -> None:
        """Raise ``RunLockedError`` unless the lease ``row`` of another owner is gone;
        ``verb`` is what the refused caller wanted to do with the run."""
        held, expires = _owner(row[1]), _expiry(row[2])
        if expires is None or (held is not None and is_gone(Lease(held, expires), at)):
            return
        if held is None:
            if expires <= at:
                return
            owner = f"an unreadable lease record (token {row[0]!r:.40})"
            hint = (
                f"it is taken over once it expires (at {expires:.3f}, Unix time); or "
                "delete the run's row in the leases table to take it now"
            )
        else:
            owner = held.describe()
            hint = f"wait for it to finish, or {verb} it once its owner has stopped"
        cannot = "" if verb == "resume" else f"cannot be {verb}d: it "
        raise RunLockedError(
            f"run {run_id!r} in {self.path} {cannot}is being run by {owner}",
            hint=hint,
            path=str(self.path),
            run_id=run_id,
            owner=owner,
        )

    def _read_header(self, db: sqlite3.Connection, run_id: str) -> RunHeader:
        row = db.execute("SELECT header FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise CheckpointNotFoundError(
                f"no checkpoint for run {run_id!r} in {self.path}",
                hint="list stored runs with checkpointer.runs()",
            )
        return self._parse_header(run_id, row[0])

    def _parse_header(self, run_id: str, text: Any) -> RunHeader:
        try:
            header = RunHeader.from_dict(json.loads(text))
        except (TypeError, ValueError) as exc:
            raise self._corrupt(run_id, f"its header cannot be read: {exc}") from exc
        if header.run_id != run_id:
            raise self._corrupt(run_id, f"its header is the header of run {header.run_id!r}")
        return header

    def _write_header(self, db: sqlite3.Connection, header: RunHeader) -> None:
        text = self._encode([header.to_dict()], header.run_id)[0]
        db.execute("UPDATE runs SET header = ? WHERE run_id = ?", (text, header.run_id))

    def _encode(self, entries: Sequence[Mapping[str, Any]], run_id: str) -> list[str]:
        try:
            # pydantic-core's encoder: several times faster than json.dumps on small records.
            return [to_json(entry).decode("utf-8") for entry in entries]
        except (TypeError, ValueError) as exc:
            raise CheckpointError(
                f"a record of run {run_id!r} cannot be stored in {self.path}: it is not "
                f"JSON data ({exc})",
                hint="headers and journal entries hold JSON-mode values only",
                path=str(self.path),
                run_id=run_id,
            ) from exc

    def _corrupt(self, run_id: str, why: str) -> CheckpointCorruptError:
        return CheckpointCorruptError(
            f"run {run_id!r} in {self.path} is unreadable: {why}",
            hint="the row was changed outside dagwright or damaged; delete the run "
            "(checkpointer.delete(run_id)) or restore the file from a backup",
            path=str(self.path),
            run_id=run_id,
        )


class _Use:
    """One use of the connection: the store's lock, a transaction opened with ``begin``
    (or by the body, or none), committed at the end or rolled back on any exception, and
    every driver error turned into a coded :class:`CheckpointError`."""

    __slots__ = ("_begin", "_db", "_doing", "_run_id", "_store")

    def __init__(
        self, store: SQLiteCheckpointer, doing: str, run_id: str | None, begin: str | None
    ) -> None:
        self._store = store
        self._doing = doing
        self._run_id = run_id
        self._begin = begin

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        store._lock.acquire()
        db = store._db
        try:
            if db is None:
                raise CheckpointError(
                    f"cannot use checkpoint store {store.path} while {self._doing}: it is closed",
                    hint="open a new SQLiteCheckpointer on the file",
                    path=str(store.path),
                    run_id=self._run_id,
                )
            if self._begin is not None:
                db.execute(self._begin)
        except BaseException as exc:
            store._lock.release()
            if isinstance(exc, sqlite3.Error):
                raise store._fault(exc, self._run_id, self._doing) from exc
            raise
        self._db = db
        return db

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        db = self._db
        try:
            error = exc if isinstance(exc, sqlite3.Error) else None
            if db.in_transaction:
                try:
                    db.execute("COMMIT" if exc_type is None else "ROLLBACK")
                except sqlite3.Error as end_error:
                    error = error or end_error
                    if db.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            db.execute("ROLLBACK")
            if error is not None and (exc_type is None or error is exc):
                raise self._store._fault(error, self._run_id, self._doing) from error
        finally:
            self._store._lock.release()


def _owner(text: Any) -> Owner | None:
    try:
        return Owner.from_json(text)
    except (TypeError, ValueError, KeyError):
        return None


def _expiry(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _check_number(name: str, value: object, *, zero_ok: bool) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value < 0
        or (value == 0 and not zero_ok)
    ):
        bound = ">= 0" if zero_ok else "> 0"
        raise ValueError(f"{name} must be a number {bound}, got {value!r}")

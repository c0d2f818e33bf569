"""The file format of :class:`~dagwright.SQLiteCheckpointer`: opening a store, checking
that it is one, creating and migrating it, and turning driver errors into coded
:class:`~dagwright.errors.CheckpointError`\\ s.

Version 2 (this one) has four tables:

* ``schema_version(version)``: one row, the format version;
* ``runs(run_id PRIMARY KEY, flow_name, started_at, header)``: the header as JSON text;
* ``journal(run_id, seq, entry) PRIMARY KEY (run_id, seq) WITHOUT ROWID``: entries as
  JSON text, ``seq`` counting from 0 per run;
* ``leases(run_id PRIMARY KEY, token, owner, expires_at) WITHOUT ROWID``: the run's
  current lease; ``token`` repeats the owner's token so the ownership check of a journal
  write is a single string comparison, ``owner`` is :meth:`Owner.to_json` text.

The database header's ``application_id`` is :data:`APPLICATION_ID`. Version 1 (before
leases) had the first three tables and ``application_id`` 0; opening one migrates it in
place, in one transaction. A database with tables but no dagwright ``schema_version``
table, or with another ``application_id``, is refused untouched.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from dagwright.errors import (
    CheckpointBusyError,
    CheckpointCorruptError,
    CheckpointError,
    DagwrightError,
)

SCHEMA_VERSION = 2

APPLICATION_ID = 0x44577267
"""``PRAGMA application_id`` of a dagwright store (the bytes ``DWrg``)."""

_RUNS = (
    "CREATE TABLE runs ("
    " run_id TEXT PRIMARY KEY, flow_name TEXT NOT NULL, started_at REAL NOT NULL,"
    " header TEXT NOT NULL)"
)
# Keyed by (run, sequence) with no rowid: one B-tree write per entry, a run's journal is
# read back in order, and its next sequence number is one index seek.
_JOURNAL = (
    "CREATE TABLE journal ("
    " run_id TEXT NOT NULL, seq INTEGER NOT NULL, entry TEXT NOT NULL,"
    " PRIMARY KEY (run_id, seq)) WITHOUT ROWID"
)
_LEASES = (
    "CREATE TABLE leases ("
    " run_id TEXT PRIMARY KEY, token TEXT NOT NULL, owner TEXT NOT NULL,"
    " expires_at REAL NOT NULL) WITHOUT ROWID"
)

# The tables each known version has.
_TABLES = {
    1: {"schema_version", "runs", "journal"},
    2: {"schema_version", "runs", "journal", "leases"},
}


def open_store(
    path: Path, *, synchronous: str, busy_timeout_s: float, create: bool = True
) -> sqlite3.Connection:
    """A connection to the store at ``path``, created (``create=True``) or migrated to the
    current version.

    With ``create=False`` the store must exist: a missing file, an empty one, or an SQLite
    database with no tables raises :class:`CheckpointError` (see :func:`check_existing`)
    and no file is created or written. Raises a :class:`CheckpointError` (or a subclass)
    naming ``path`` for every fault.
    """
    if create:
        check_path(path)
        target: str | Path = path
    else:
        check_existing(path)
        # mode=rw: SQLite opens the file but never creates it, even if it vanished since.
        target = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=rw"
    db: sqlite3.Connection | None = None
    try:
        db = sqlite3.connect(
            target,
            timeout=busy_timeout_s,
            isolation_level=None,
            check_same_thread=False,
            uri=not create,
        )
        _prepare(db, path, create)
        # After the check: a foreign database's journal mode is never changed.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
    except BaseException as exc:
        if db is not None:
            db.close()
        if isinstance(exc, sqlite3.Error):
            raise store_fault(
                exc, path=path, run_id=None, doing="opening it", busy_timeout_s=busy_timeout_s
            ) from exc
        raise
    return db


StoreError = Callable[..., DagwrightError]
"""How a path check builds its error: ``error(message, hint=..., path=...)``."""


def check_path(
    path: Path, *, kind: str = "checkpoint store", error: StoreError = CheckpointError
) -> None:
    """Refuse, before SQLite sees it, a path that cannot name a store file.

    ``kind`` names the store in messages and ``error`` builds the coded error (the
    checkpointer's by default; the step cache passes its own).
    """
    text = str(path)
    if "\x00" in text:
        raise error(
            f"{kind} path {text!r} contains a NUL character",
            hint="pass a file path without NUL bytes",
            path=text,
        )
    if os.path.isdir(path):
        raise error(
            f"{kind} path {text} is a directory, not a file",
            hint=f"name a file inside it, e.g. {path / 'runs.sqlite'}",
            path=text,
        )
    parent = path.parent
    if os.path.isdir(parent):
        return
    for ancestor in (parent, *parent.parents):
        if os.path.exists(ancestor):
            if not os.path.isdir(ancestor):
                raise error(
                    f"cannot create {kind} {text}: {ancestor} is a file, not a directory",
                    hint="choose a path whose every parent is a directory",
                    path=text,
                )
            break
    raise error(
        f"cannot create {kind} {text}: directory {parent} does not exist (or cannot be reached)",
        hint="create the directory first; dagwright does not create it",
        path=text,
    )


def check_existing(
    path: Path, *, kind: str = "checkpoint store", error: StoreError = CheckpointError
) -> None:
    """Refuse, before SQLite sees it, a path with no store to open: a NUL in it, a
    directory, no file, or an empty file (nothing dagwright wrote is there)."""
    text = str(path)
    if "\x00" in text or os.path.isdir(path):
        check_path(path, kind=kind, error=error)  # its errors say what is wrong with the path
    if not os.path.exists(path):
        raise _missing(path, "the file does not exist", kind, error)
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise _missing(path, "the file is empty", kind, error)


def _missing(
    path: Path, why: str, kind: str = "checkpoint store", error: StoreError = CheckpointError
) -> DagwrightError:
    return error(
        f"no {kind} at {path}: {why} (nothing was created)",
        hint="a store is made by the first run that uses it: run a flow with this store "
        "first, or check the path",
        path=str(path),
    )


def _prepare(db: sqlite3.Connection, path: Path, create: bool = True) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        _check_or_create(db, path, create)
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _check_or_create(db: sqlite3.Connection, path: Path, create: bool) -> None:
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    names = {
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        )
    }
    if app_id not in (0, APPLICATION_ID):
        raise _foreign(path, f"its application_id is {app_id:#010x}")
    if not names:
        if not create:
            raise _missing(path, "the SQLite database holds no tables")
        for statement in (
            "CREATE TABLE schema_version (version INTEGER NOT NULL)",
            _RUNS,
            _JOURNAL,
            _LEASES,
        ):
            db.execute(statement)
        db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        return
    if "schema_version" not in names:
        raise _foreign(path, "it holds tables but no dagwright schema_version table")
    rows = db.execute("SELECT version FROM schema_version").fetchall()
    version = rows[0][0] if len(rows) == 1 else None
    if not isinstance(version, int) or (version < SCHEMA_VERSION and version not in _TABLES):
        raise _foreign(path, f"its schema_version table holds {rows!r}")
    if version > SCHEMA_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint schema version {version}; this dagwright reads "
            f"version {SCHEMA_VERSION} (and migrates version 1)",
            hint="use a dagwright release that matches the file, or a new file",
            path=str(path),
        )
    missing = _TABLES[version] - names
    if missing:
        raise _foreign(path, f"schema version {version} but no {', '.join(sorted(missing))}")
    if version == 1:
        db.execute(_LEASES)
        db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
    if app_id == 0:  # version 1, or a version 2 copy restored without its header
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")


def _foreign(path: Path, why: str) -> CheckpointCorruptError:
    return CheckpointCorruptError(
        f"{path} is not a dagwright store: {why}",
        hint="point the checkpointer at a dagwright store or at a new file; "
        "dagwright never adds its tables to another database",
        path=str(path),
    )


def store_fault(
    exc: BaseException, *, path: Path, run_id: str | None, doing: str, busy_timeout_s: float
) -> CheckpointError:
    """The coded error for a driver error ``exc`` met while ``doing`` something."""
    text = str(exc)
    low = text.lower()
    where = str(path) if run_id is None else f"{path} (run {run_id!r})"
    if "locked" in low or "busy" in low:
        return CheckpointBusyError(
            f"checkpoint store {where} stayed locked by another connection for more than "
            f"busy_timeout_s={busy_timeout_s:g}s while {doing}",
            hint="another process or thread holds a write transaction on the file; "
            "retry later, or raise busy_timeout_s",
            path=str(path),
            run_id=run_id,
        )
    if "not a database" in low or "malformed" in low:
        return CheckpointCorruptError(
            f"checkpoint store {where} is not an SQLite database or is damaged "
            f"({text}), met while {doing}",
            hint="point the checkpointer at a dagwright store or at a new file; "
            "restore a damaged store from a backup",
            path=str(path),
            run_id=run_id,
        )
    if "readonly" in low or "read-only" in low:
        hint = (
            f"make {path} and its directory writable by this user (SQLite keeps "
            f"{path.name}-wal and {path.name}-shm next to it)"
        )
    elif "unable to open" in low or "cannot open" in low:
        hint = (
            f"check that {path.parent} is a directory this user can write to and that "
            f"{path.name} is a readable, writable file"
        )
    elif "disk i/o" in low or "full" in low:
        hint = "check the disk that holds the store: free space, permissions, file-system errors"
    else:
        hint = "the driver's error is chained as the cause"
    return CheckpointError(
        f"checkpoint store {where} failed while {doing}: {text}",
        hint=hint,
        path=str(path),
        run_id=run_id,
    )

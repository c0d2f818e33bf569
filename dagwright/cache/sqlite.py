"""SQLiteStepCache: tool results in an SQLite file, shared by threads and processes.

The file has two tables: ``schema_version(version)`` (one row) and
``entries(tool, schema_hash, input_digest, outputs, created_at)`` keyed by the first
three (``WITHOUT ROWID``), ``outputs`` being canonical JSON text. The database header's
``application_id`` is :data:`APPLICATION_ID`, so neither a checkpoint store nor another
program's database is ever taken for a cache (nor a cache for a checkpoint store).

The database is in WAL mode: readers never wait for a writer, and every ``put`` is one
statement, so an entry is wholly stored or not at all, whatever the processes writing
the same keys at once do (the last write of a key wins; for a cacheable tool, whose
result is a function of its input, they agree). ``synchronous`` is ``NORMAL`` by
default: an entry survives a crash of the process, but the last ones may be lost on a
power loss. For a cache that costs a recomputation, never a wrong result; pass
``synchronous="FULL"`` to fsync every write.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from dagwright._execution.canonical import NotJSONError, canonical_json
from dagwright.cache.protocol import CacheEntry, CacheKey, CacheStats
from dagwright.checkpoint._sqlite_schema import check_existing, check_path
from dagwright.errors import CacheError, UsageError

FORMAT_VERSION = 1

APPLICATION_ID = 0x44576361
"""``PRAGMA application_id`` of a dagwright step cache (the bytes ``DWca``)."""

_ENTRIES = (
    "CREATE TABLE entries ("
    " tool TEXT NOT NULL, schema_hash TEXT NOT NULL, input_digest TEXT NOT NULL,"
    " outputs TEXT NOT NULL, created_at REAL NOT NULL,"
    " PRIMARY KEY (tool, schema_hash, input_digest)) WITHOUT ROWID"
)
_GET = (
    "SELECT outputs, created_at FROM entries"
    " WHERE tool = ? AND schema_hash = ? AND input_digest = ?"
)
_PUT = (
    "INSERT OR REPLACE INTO entries (tool, schema_hash, input_digest, outputs, created_at)"
    " VALUES (?, ?, ?, ?, ?)"
)
_KIND = "step cache"


class SQLiteStepCache:
    """A step cache in the SQLite file at ``path`` (its directory must exist).

    Several threads (one connection, a lock), several instances and several processes
    may use one file at once. ``create=True`` (the default) makes the cache when the
    file is missing or empty; ``create=False`` opens an existing cache only (what a
    reader such as ``dagwright cache stats`` wants), and creates or writes nothing when
    it refuses. Every fault is a :class:`~dagwright.errors.CacheError` naming the path:
    a missing or unwritable directory, a file that is not a dagwright cache, a cache of
    a newer format, a lock held past ``busy_timeout_s``, a stored row that cannot be
    read back.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "NORMAL",
        busy_timeout_s: float = 5.0,
        create: bool = True,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise UsageError(
                f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}",
                hint="NORMAL survives a process crash; FULL also a power loss",
            )
        number = isinstance(busy_timeout_s, int | float) and not isinstance(busy_timeout_s, bool)
        if not number or not math.isfinite(busy_timeout_s) or busy_timeout_s < 0:
            raise UsageError(
                f"busy_timeout_s must be a finite number of seconds >= 0, got {busy_timeout_s!r}",
                hint="how long to wait for another process's write, e.g. 5.0",
            )
        self.path = Path(path)
        self.synchronous = synchronous
        self.busy_timeout_s = float(busy_timeout_s)
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._db: sqlite3.Connection | None = self._open(create)

    # ---- the protocol ---------------------------------------------------------------

    def get(self, key: CacheKey) -> CacheEntry | None:
        """The entry under ``key``, or ``None``; a row that cannot be read back raises
        :class:`~dagwright.errors.CacheError` (a later ``put`` of the key replaces it)."""
        with self._use("reading an entry") as db:
            row = db.execute(_GET, key).fetchone()
            if row is None:
                self._misses += 1
                return None
            self._hits += 1
        text, created_at = row
        try:
            outputs = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise self._corrupt(key, f"its outputs are not JSON ({exc})") from None
        if type(outputs) is not dict or not isinstance(created_at, int | float):
            raise self._corrupt(key, "its outputs are not a JSON object")
        return CacheEntry(outputs, float(created_at))

    def put(self, key: CacheKey, entry: CacheEntry) -> None:
        """Store ``entry`` under ``key`` in one statement (replacing any entry there)."""
        try:
            text = canonical_json(dict(entry.outputs))
        except (NotJSONError, TypeError, ValueError) as exc:
            raise CacheError(
                f"cannot cache the outputs of tool {key.tool!r}: they are not JSON ({exc})",
                hint="a cache stores validated JSON-mode outputs, as a run's context holds",
                path=str(self.path),
            ) from None
        with self._use("writing an entry") as db:
            db.execute(_PUT, (*key, text, float(entry.created_at)))

    # ---- maintenance ----------------------------------------------------------------

    def delete(self, *, tool: str, schema_hash: str | None = None) -> int:
        """Drop the entries of ``tool`` (only those of one ``schema_hash`` when given);
        returns how many were dropped."""
        with self._use("deleting entries") as db:
            if schema_hash is None:
                cursor = db.execute("DELETE FROM entries WHERE tool = ?", (tool,))
            else:
                cursor = db.execute(
                    "DELETE FROM entries WHERE tool = ? AND schema_hash = ?", (tool, schema_hash)
                )
            return cursor.rowcount

    def clear(self) -> int:
        """Drop every entry and reset this object's hit and miss counts; returns how
        many entries were dropped."""
        with self._use("clearing it") as db:
            count = db.execute("DELETE FROM entries").rowcount
            self._hits = self._misses = 0
        return count

    def stats(self) -> CacheStats:
        """Entries in the file (in total and per tool), the size of its files, and this
        object's hits and misses."""
        with self._use("counting entries") as db:
            rows = db.execute("SELECT tool, COUNT(*) FROM entries GROUP BY tool").fetchall()
            hits, misses = self._hits, self._misses
        tools = {str(tool): int(count) for tool, count in rows}
        size = sum(
            os.path.getsize(name)
            for name in (self.path, Path(f"{self.path}-wal"))
            if os.path.exists(name)
        )
        return CacheStats(sum(tools.values()), tools, hits, misses, size)

    def __len__(self) -> int:
        with self._use("counting entries") as db:
            return int(db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def close(self) -> None:
        """Close the connection; later use raises :class:`CacheError`. Idempotent."""
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def __enter__(self) -> SQLiteStepCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStepCache({str(self.path)!r})"

    # ---- internals ------------------------------------------------------------------

    def _open(self, create: bool) -> sqlite3.Connection:
        path = self.path
        if create:
            check_path(path, kind=_KIND, error=CacheError)
            target = str(path)
        else:
            check_existing(path, kind=_KIND, error=CacheError)
            target = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=rw"
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(
                target,
                timeout=self.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
                uri=not create,
            )
            db.execute("BEGIN IMMEDIATE")
            try:
                self._check_or_create(db, create)
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.synchronous}")
        except BaseException as exc:
            if db is not None:
                db.close()
            if isinstance(exc, sqlite3.Error):
                raise self._fault(exc, "opening it") from exc
            raise
        return db

    def _check_or_create(self, db: sqlite3.Connection, create: bool) -> None:
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        names = {
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            )
        }
        if not names and app_id == 0:
            if not create:
                raise CacheError(
                    f"no step cache at {self.path}: the SQLite database holds no tables "
                    "(nothing was created)",
                    hint="a cache is made by the first run that uses it; check the path",
                    path=str(self.path),
                )
            db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            db.execute(_ENTRIES)
            db.execute("INSERT INTO schema_version VALUES (?)", (FORMAT_VERSION,))
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            return
        if app_id != APPLICATION_ID or "schema_version" not in names:
            raise self._foreign(f"its application_id is {app_id:#010x}, a cache's is "
                                f"{APPLICATION_ID:#010x}")  # fmt: skip
        rows = db.execute("SELECT version FROM schema_version").fetchall()
        version = rows[0][0] if len(rows) == 1 else None
        if not isinstance(version, int) or version < 1:
            raise self._foreign(f"its schema_version table holds {rows!r}")
        if version > FORMAT_VERSION:
            raise CacheError(
                f"{self.path} is a step cache of format version {version}; this dagwright "
                f"reads version {FORMAT_VERSION}",
                hint="use a dagwright release that matches the file, or a new file",
                path=str(self.path),
            )
        if "entries" not in names:
            raise self._foreign("it has no entries table")

    def _foreign(self, why: str) -> CacheError:
        return CacheError(
            f"{self.path} is not a dagwright step cache: {why}",
            hint="point the cache at a cache file or at a new file; a checkpoint store "
            "and a cache are separate files",
            path=str(self.path),
        )

    def _corrupt(self, key: CacheKey, why: str) -> CacheError:
        return CacheError(
            f"step cache {self.path} holds an unreadable entry for tool {key.tool!r}: {why}",
            hint="delete the tool's entries (cache.delete(tool=...) or `dagwright cache "
            "clear --tool`); the next call stores a good one",
            path=str(self.path),
        )

    def _fault(self, exc: sqlite3.Error, doing: str) -> CacheError:
        text = str(exc)
        low = text.lower()
        if "locked" in low or "busy" in low:
            hint = (
                f"another connection held a write lock for more than "
                f"busy_timeout_s={self.busy_timeout_s:g}s; retry, or raise busy_timeout_s"
            )
        elif "not a database" in low or "malformed" in low:
            hint = "the file is not an SQLite database or is damaged: delete it or use a new path"
        elif "readonly" in low or "read-only" in low or "unable to open" in low:
            hint = f"make {self.path} and its directory writable by this user"
        else:
            hint = "the driver's error is chained as the cause"
        return CacheError(
            f"step cache {self.path} failed while {doing}: {text}", hint=hint, path=str(self.path)
        )

    @contextlib.contextmanager
    def _use(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._db
            if db is None:
                raise CacheError(
                    f"cannot use step cache {self.path} while {doing}: it is closed",
                    hint="open a new SQLiteStepCache on the file",
                    path=str(self.path),
                )
            try:
                yield db
            except sqlite3.Error as exc:
                raise self._fault(exc, doing) from exc

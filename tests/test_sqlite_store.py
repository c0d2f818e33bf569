"""SQLiteCheckpointer: several instances on one file, batching, the file format and its
migration, and coded store faults (paths, foreign files, locks, corrupt rows)."""

from __future__ import annotations

import json
import logging
import os
import select
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dagwright.checkpoint import Lease, Owner, RunHeader, SQLiteCheckpointer
from dagwright.checkpoint._sqlite_schema import APPLICATION_ID, SCHEMA_VERSION
from dagwright.errors import (
    CheckpointBusyError,
    CheckpointCorruptError,
    CheckpointError,
    CheckpointNotFoundError,
    RunLockedError,
)

NOW = 1_000_000.0


def header(run_id: str = "r1", at: float = NOW) -> RunHeader:
    return RunHeader(run_id, "flow", "1", "digest", {"x": 1}, "running", at, at)


def step(n: int) -> dict[str, Any]:
    return {"kind": "step", "n": n}


def instance(n: int) -> dict[str, Any]:
    return {"kind": "instance", "n": n}


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection to the file, as another program would open it."""
    return sqlite3.connect(path, isolation_level=None)


def seqs(path: Path, run_id: str = "r1") -> list[int]:
    db = raw(path)
    try:
        return [r[0] for r in db.execute("SELECT seq FROM journal WHERE run_id = ?", (run_id,))]
    finally:
        db.close()


def execute(path: Path, *statements: str) -> None:
    db = raw(path)
    try:
        for statement in statements:
            db.execute(statement)
    finally:
        db.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "runs.sqlite"


@pytest.fixture
def opened(db_path: Path) -> Iterator[Callable[..., SQLiteCheckpointer]]:
    """Opens checkpointers on ``db_path`` (closed after the test)."""
    stores: list[SQLiteCheckpointer] = []

    def open_one(**options: Any) -> SQLiteCheckpointer:
        options.setdefault("synchronous", "NORMAL")
        options.setdefault("busy_timeout_s", 10.0)
        store = SQLiteCheckpointer(db_path, **options)
        stores.append(store)
        return store

    yield open_one
    for store in stores:
        store.close()


def assert_names(error: CheckpointError, path: Path, run_id: str | None) -> None:
    assert (error.path, error.run_id) == (str(path), run_id)
    assert str(path) in str(error)
    assert error.hint


# ---- several instances on one file --------------------------------------------------


def test_instances_on_one_file_never_collide(
    db_path: Path, opened: Callable[..., SQLiteCheckpointer]
) -> None:
    a, b = opened(), opened()
    first = Owner.new()
    a.begin(header(), first)
    a.append("r1", [step(0), step(1)], first)
    a.finish("r1", "failed", NOW + 1, first)
    second = Owner.new()
    b.acquire("r1", second, NOW + 2)
    b.append("r1", [step(2)], second)
    b.finish("r1", "failed", NOW + 3, second)
    third = Owner.new()
    a.acquire("r1", third, NOW + 4)  # the instance that wrote first goes on
    a.append("r1", [step(3)], third)
    a.append("r1", [step(4)], third)
    a.finish("r1", "succeeded", NOW + 5, third)
    run, journal = b.load("r1")
    assert journal == [step(n) for n in range(5)]
    assert run.status == "succeeded"
    assert seqs(db_path) == [0, 1, 2, 3, 4]


HOLDER = """
import sys, time
from dagwright.checkpoint import Owner, RunHeader, SQLiteCheckpointer, lease
store = SQLiteCheckpointer(sys.argv[1], synchronous="NORMAL")
owner = Owner.new()
lease.hold(owner)
now = time.time()
store.begin(RunHeader("r1", "flow", "1", "digest", {}, "running", now, now), owner)
store.append("r1", [{"kind": "step", "n": 0}], owner)
print(owner.to_json(), flush=True)
sys.stdin.read()
"""


def test_a_run_held_by_a_live_process_is_locked_until_that_process_dies(
    opened: Callable[..., SQLiteCheckpointer], db_path: Path, live: Callable[[], Owner]
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        ready, _, _ = select.select([holder.stdout], [], [], 60)
        assert ready, "the holder process did not start"
        owner = Owner.from_json(holder.stdout.readline())
        assert owner.pid == holder.pid
        store, taker = opened(), live()
        with pytest.raises(RunLockedError) as caught:
            store.acquire("r1", taker, time.time())
        assert caught.value.owner == owner.describe()
        holder.kill()
        holder.wait(timeout=30)
        store.acquire("r1", taker, time.time())  # long before the lease would expire
        store.append("r1", [step(1)], taker)
        assert store.load("r1")[1] == [step(0), step(1)]
    finally:
        holder.kill()
        holder.wait(timeout=30)


WRITER = """
import sys, time
from dagwright.checkpoint import Owner, RunHeader, SQLiteCheckpointer
run_id = sys.argv[2]
with SQLiteCheckpointer(sys.argv[1], synchronous="NORMAL") as store:
    owner = Owner.new()
    now = time.time()
    store.begin(RunHeader(run_id, "flow", "1", "digest", {}, "running", now, now), owner)
    for n in range(150):
        store.append(run_id, [{"kind": "step", "n": n}], owner)
    store.finish(run_id, "succeeded", time.time(), owner)
"""


def test_processes_writing_one_file_at_once_keep_every_journal_whole(
    db_path: Path, opened: Callable[..., SQLiteCheckpointer]
) -> None:
    opened().close()  # create the file before the writers race for it
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db_path), f"run{i}"]) for i in range(3)
    ]
    try:
        for writer in writers:
            assert writer.wait(timeout=120) == 0
    finally:
        for writer in writers:
            writer.kill()
            writer.wait(timeout=30)
    store = opened()
    for i in range(3):
        run, journal = store.load(f"run{i}")
        assert run.status == "succeeded"
        assert journal == [step(n) for n in range(150)]
        assert seqs(db_path, f"run{i}") == list(range(150))


def test_flush_every_batches_instance_entries_with_the_lease_check(
    db_path: Path, opened: Callable[..., SQLiteCheckpointer], live: Callable[[], Owner]
) -> None:
    store, reader = opened(flush_every=3), opened()
    owner = live()
    store.begin(header(), owner)
    store.append("r1", [instance(0), instance(1)], owner)
    assert reader.load("r1")[1] == []  # waiting for a batch
    store.append("r1", [instance(2)], owner)
    assert reader.load("r1")[1] == [instance(0), instance(1), instance(2)]
    store.append("r1", [instance(3)], owner)
    store.append("r1", [step(4)], owner)  # a step entry flushes what waits
    assert len(reader.load("r1")[1]) == 5
    store.append("r1", [instance(5)], owner)
    store.finish("r1", "succeeded", NOW + 1, owner)  # finish flushes too
    assert reader.load("r1")[1][-1] == instance(5)
    assert seqs(db_path) == list(range(6))


def test_batched_entries_of_a_lost_lease_are_never_written(
    opened: Callable[..., SQLiteCheckpointer], live: Callable[[], Owner]
) -> None:
    store, other = opened(flush_every=10), opened()
    old = Owner.new()  # not held: gone as soon as someone else asks
    store.begin(header(), old)
    store.append("r1", [instance(0)], old)
    new = live()
    other.acquire("r1", new, NOW + 1)
    with pytest.raises(RunLockedError):
        store.append("r1", [step(1)], old)
    other.append("r1", [step(2)], new)
    with pytest.raises(RunLockedError):
        store.finish("r1", "failed", NOW + 2, old)
    store.close()  # nothing of the old owner is left to flush
    assert other.load("r1")[1] == [step(2)]


def test_close_flushes_entries_that_wait(
    opened: Callable[..., SQLiteCheckpointer], live: Callable[[], Owner]
) -> None:
    store, reader = opened(flush_every=10), opened()
    owner = live()
    store.begin(header(), owner)
    store.append("r1", [instance(0), instance(1)], owner)
    store.close()
    assert reader.load("r1")[1] == [instance(0), instance(1)]


def test_a_closed_store_raises_checkpoint_error(
    db_path: Path, opened: Callable[..., SQLiteCheckpointer]
) -> None:
    store, owner = opened(), Owner.new()
    store.begin(header(), owner)
    store.close()
    store.close()  # closing twice is fine
    calls: dict[str, Callable[[], object]] = {
        "begin": lambda: store.begin(header("r2"), owner),
        "acquire": lambda: store.acquire("r1", owner, NOW),
        "renew": lambda: store.renew("r1", owner, NOW),
        "append": lambda: store.append("r1", [step(0)], owner),
        "finish": lambda: store.finish("r1", "failed", NOW, owner),
        "lease": lambda: store.lease("r1"),
        "header": lambda: store.header("r1"),
        "load": lambda: store.load("r1"),
        "runs": store.runs,
        "delete": lambda: store.delete("r1"),
    }
    for name, call in calls.items():
        with pytest.raises(CheckpointError, match="closed") as caught:
            call()
        assert type(caught.value) is CheckpointError, name
        assert caught.value.code == "DW-E011"
        assert caught.value.path == str(db_path)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("synchronous", "OFF"),
        ("flush_every", 0),
        ("flush_every", True),
        ("busy_timeout_s", -1),
        ("lease_s", 0),
        ("lease_s", "30"),
    ],
)
def test_bad_options_are_refused(db_path: Path, option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        SQLiteCheckpointer(db_path, **{option: value})  # type: ignore[arg-type]
    assert not db_path.exists()


def test_an_entry_that_is_not_json_data_is_refused(
    db_path: Path, opened: Callable[..., SQLiteCheckpointer]
) -> None:
    store, owner = opened(), Owner.new()
    store.begin(header(), owner)
    with pytest.raises(CheckpointError, match="not JSON data") as caught:
        store.append("r1", [step(0), {"kind": "step", "value": object()}], owner)
    assert_names(caught.value, db_path, "r1")
    assert store.load("r1")[1] == []


# ---- the file format --------------------------------------------------------------

V1_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "INSERT INTO schema_version VALUES (1)",
    "CREATE TABLE runs (run_id TEXT PRIMARY KEY, flow_name TEXT NOT NULL,"
    " started_at REAL NOT NULL, header TEXT NOT NULL)",
    "CREATE TABLE journal (run_id TEXT NOT NULL, seq INTEGER NOT NULL, entry TEXT NOT NULL,"
    " PRIMARY KEY (run_id, seq)) WITHOUT ROWID",
)


def tables(path: Path) -> set[str]:
    db = raw(path)
    try:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {row[0] for row in rows}
    finally:
        db.close()


def pragma(path: Path, name: str) -> Any:
    db = raw(path)
    try:
        return db.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        db.close()


def test_a_new_store_is_marked_and_versioned(
    db_path: Path, opened: Callable[..., SQLiteCheckpointer]
) -> None:
    opened().close()
    assert pragma(db_path, "application_id") == APPLICATION_ID
    assert pragma(db_path, "journal_mode") == "wal"
    assert tables(db_path) == {"schema_version", "runs", "journal", "leases"}
    db = raw(db_path)
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    db.close()
    assert SCHEMA_VERSION == 2
    opened().close()  # opening it again changes nothing
    assert tables(db_path) == {"schema_version", "runs", "journal", "leases"}


def test_an_empty_file_becomes_a_store(
    db_path: Path, opened: Callable[..., SQLiteCheckpointer]
) -> None:
    db_path.touch()
    opened().begin(header(), Owner.new())
    assert pragma(db_path, "application_id") == APPLICATION_ID


def test_a_version_1_store_is_migrated_in_place(
    db_path: Path, opened: Callable[..., SQLiteCheckpointer], live: Callable[[], Owner]
) -> None:
    old = header().with_status("running", NOW + 1)
    execute(
        db_path,
        *V1_SCHEMA,
        f"INSERT INTO runs VALUES ('r1', 'flow', {NOW}, '{json.dumps(old.to_dict())}')",
        """INSERT INTO journal VALUES ('r1', 0, '{"kind": "step", "n": 0}')""",
        """INSERT INTO journal VALUES ('r1', 1, '{"kind": "step", "n": 1}')""",
    )
    store = opened()
    assert pragma(db_path, "application_id") == APPLICATION_ID
    assert "leases" in tables(db_path)
    db = raw(db_path)
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
    db.close()
    assert store.lease("r1") is None  # a version 1 run is free to resume
    owner = live()
    assert store.acquire("r1", owner, NOW + 2).status == "running"
    store.append("r1", [step(2)], owner)
    assert store.load("r1")[1] == [step(0), step(1), step(2)]
    assert seqs(db_path) == [0, 1, 2]


def test_a_damaged_version_1_store_is_refused_untouched(db_path: Path) -> None:
    execute(db_path, *V1_SCHEMA[:3])  # no journal table
    with pytest.raises(CheckpointCorruptError, match="not a dagwright store") as caught:
        SQLiteCheckpointer(db_path)
    assert_names(caught.value, db_path, None)
    assert tables(db_path) == {"schema_version", "runs"}
    assert pragma(db_path, "application_id") == 0


def test_a_newer_schema_version_is_refused(db_path: Path) -> None:
    SQLiteCheckpointer(db_path).close()
    execute(db_path, "UPDATE schema_version SET version = 99")
    with pytest.raises(CheckpointError, match="schema version 99") as caught:
        SQLiteCheckpointer(db_path)
    assert_names(caught.value, db_path, None)
    assert "release" in str(caught.value.hint)


def test_a_foreign_database_is_refused_untouched(db_path: Path) -> None:
    execute(
        db_path,
        "CREATE TABLE users (name TEXT)",
        "INSERT INTO users VALUES ('ada')",
    )
    before = db_path.read_bytes()
    with pytest.raises(CheckpointCorruptError, match="not a dagwright store") as caught:
        SQLiteCheckpointer(db_path)
    assert caught.value.code == "DW-E015"
    assert_names(caught.value, db_path, None)
    assert db_path.read_bytes() == before
    assert tables(db_path) == {"users"}
    assert pragma(db_path, "journal_mode") == "delete"


def test_a_database_of_another_application_is_refused(db_path: Path) -> None:
    execute(db_path, "PRAGMA application_id = 305419896")
    with pytest.raises(CheckpointCorruptError, match="application_id is 0x12345678") as caught:
        SQLiteCheckpointer(db_path)
    assert_names(caught.value, db_path, None)
    assert tables(db_path) == set()


@pytest.mark.parametrize(
    "content",
    [b"name,count\nada,1\n" * 40, os.urandom(4096), b"\x00" * 50],
    ids=["text", "random", "short"],
)
def test_a_file_that_is_not_sqlite_is_refused(db_path: Path, content: bytes) -> None:
    db_path.write_bytes(content)
    with pytest.raises(CheckpointCorruptError) as caught:
        SQLiteCheckpointer(db_path)
    assert_names(caught.value, db_path, None)
    assert db_path.read_bytes() == content


# ---- paths ------------------------------------------------------------------------


def test_a_missing_directory_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "deeper" / "runs.sqlite"
    with pytest.raises(CheckpointError, match="does not exist") as caught:
        SQLiteCheckpointer(path)
    assert_names(caught.value, path, None)
    assert "create the directory first" in str(caught.value.hint)
    assert not (tmp_path / "missing").exists()


def test_a_path_through_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("x")
    path = tmp_path / "plain.txt" / "sub" / "runs.sqlite"
    with pytest.raises(CheckpointError, match=r"plain\.txt is a file") as caught:
        SQLiteCheckpointer(path)
    assert_names(caught.value, path, None)


def test_a_directory_is_not_a_store_path(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is a directory") as caught:
        SQLiteCheckpointer(tmp_path)
    assert_names(caught.value, tmp_path, None)


def test_a_path_with_a_nul_character_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ru\x00ns.sqlite"
    with pytest.raises(CheckpointError, match="NUL") as caught:
        SQLiteCheckpointer(path)
    assert caught.value.path == str(path)


def test_a_directory_nobody_may_write_to_is_reported() -> None:
    path = Path("/proc/dagwright-test.sqlite")  # not even root can create files here
    with pytest.raises(CheckpointError, match="unable to open") as caught:
        SQLiteCheckpointer(path)
    assert type(caught.value) is CheckpointError
    assert_names(caught.value, path, None)
    assert "write" in str(caught.value.hint)


NOBODY = 65534


def as_unprivileged(check: Callable[[], None]) -> None:
    """Run ``check`` as a user the mode bits apply to: this process, unless it is root;
    then a forked child that drops to ``nobody`` (root writes whatever the bits say)."""
    if os.geteuid() != 0:
        check()
        return
    pid = os.fork()
    if pid == 0:  # the child: report by exit status only, never return into pytest
        code = 1
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            check()
            code = 0
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the unprivileged check did not finish")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0, "the check failed as an unprivileged user"


def shared_folder() -> Path:
    """A fresh folder that an unprivileged user may enter (pytest's tmp_path is 0700)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="dagwright-ro-"))
    folder.chmod(0o755)
    return folder


def test_a_read_only_store_file() -> None:
    folder = shared_folder()
    path = folder / "runs.sqlite"
    SQLiteCheckpointer(path).close()
    path.chmod(0o444)

    def check() -> None:
        # It may be opened; the first write fails, coded, naming the file.
        with pytest.raises(CheckpointError) as caught, SQLiteCheckpointer(path) as store:
            store.begin(header(), Owner.new())
        assert caught.value.path == str(path)
        assert "writ" in str(caught.value.hint)

    try:
        as_unprivileged(check)
    finally:
        shutil.rmtree(folder)


def test_a_read_only_directory() -> None:
    folder = shared_folder() / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH
                 | stat.S_IXOTH)  # fmt: skip

    def check() -> None:
        with pytest.raises(CheckpointError) as caught:
            SQLiteCheckpointer(folder / "runs.sqlite")
        assert_names(caught.value, folder / "runs.sqlite", None)

    try:
        as_unprivileged(check)
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder.parent)


# ---- locks ------------------------------------------------------------------------


def test_a_lock_held_past_the_busy_timeout_is_checkpoint_busy(
    db_path: Path, opened: Callable[..., SQLiteCheckpointer], live: Callable[[], Owner]
) -> None:
    store, owner = opened(busy_timeout_s=0.1), live()
    store.begin(header(), owner)
    store.append("r1", [step(0)], owner)
    store.finish("r1", "failed", NOW + 1, owner)
    blocker = raw(db_path)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        calls: dict[str, tuple[str | None, Callable[[], object]]] = {
            "begin": ("r2", lambda: store.begin(header("r2"), owner)),
            "acquire": ("r1", lambda: store.acquire("r1", owner, NOW + 2)),
            "append": ("r1", lambda: store.append("r1", [step(1)], owner)),
            "open": (None, lambda: SQLiteCheckpointer(db_path, busy_timeout_s=0.1)),
        }
        for name, (run_id, call) in calls.items():
            with pytest.raises(CheckpointBusyError) as caught:
                call()
            assert caught.value.code == "DW-E014", name
            assert_names(caught.value, db_path, run_id)
            assert "busy_timeout_s=0.1" in str(caught.value)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    # every refused write was rolled back; the store works again
    assert store.lease("r1") is None
    store.acquire("r1", owner, NOW + 3)
    store.append("r1", [step(1)], owner)
    assert store.load("r1")[1] == [step(0), step(1)]
    with pytest.raises(CheckpointNotFoundError):
        store.header("r2")


class FaultyConnection:
    """Passes statements to a real connection, failing those that start with ``fail_on``."""

    def __init__(self, real: sqlite3.Connection, fail_on: str, message: str) -> None:
        self.real, self.fail_on, self.message = real, fail_on, message

    @property
    def in_transaction(self) -> bool:
        return self.real.in_transaction

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql.startswith(self.fail_on):
            raise sqlite3.OperationalError(self.message)
        return self.real.execute(sql, *args)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        if sql.startswith(self.fail_on):
            raise sqlite3.OperationalError(self.message)
        return self.real.executemany(sql, rows)

    def close(self) -> None:
        self.real.close()


@pytest.mark.parametrize("fail_on", ["INSERT INTO journal", "COMMIT"])
@pytest.mark.parametrize(
    ("message", "error_class", "hint"),
    [
        ("attempt to write a readonly database", CheckpointError, "writable"),
        ("disk I/O error", CheckpointError, "free space"),
        ("database or disk is full", CheckpointError, "free space"),
        ("unable to open database file", CheckpointError, "write to"),
        ("database disk image is malformed", CheckpointCorruptError, "backup"),
        ("database is locked", CheckpointBusyError, "busy_timeout_s"),
        ("something new", CheckpointError, "cause"),
    ],
)
def test_driver_errors_during_a_write_are_coded_and_rolled_back(
    db_path: Path,
    opened: Callable[..., SQLiteCheckpointer],
    live: Callable[[], Owner],
    fail_on: str,
    message: str,
    error_class: type[CheckpointError],
    hint: str,
) -> None:
    store, owner = opened(), live()
    store.begin(header(), owner)
    store.append("r1", [step(0)], owner)
    real = store._db
    assert real is not None
    store._db = FaultyConnection(real, fail_on, message)  # type: ignore[assignment]
    try:
        with pytest.raises(CheckpointError) as caught:
            store.append("r1", [step(1), step(2)], owner)
    finally:
        store._db = real
    error = caught.value
    assert type(error) is error_class
    assert_names(error, db_path, "r1")
    assert message in str(error) or error_class is CheckpointBusyError
    assert hint in str(error)
    assert isinstance(error.__cause__, sqlite3.Error)
    assert not real.in_transaction
    store.append("r1", [step(3)], owner)
    assert store.load("r1")[1] == [step(0), step(3)]


# ---- corrupt rows -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "cannot be read"),
        ('{"run_id": "bad"}', "not a run header"),
        ("[1, 2]", "not a run header"),
        (json.dumps(header("bad").to_dict() | {"status": "paused"}), "unknown status"),
        (json.dumps(header("other").to_dict()), "header of run 'other'"),
    ],
    ids=["not-json", "missing-keys", "list", "bad-status", "other-run"],
)
def test_an_unreadable_header_is_reported_and_skipped_by_runs(
    db_path: Path,
    opened: Callable[..., SQLiteCheckpointer],
    live: Callable[[], Owner],
    caplog: pytest.LogCaptureFixture,
    text: str,
    why: str,
) -> None:
    store, owner = opened(), live()
    store.begin(header("good"), owner)
    store.begin(header("bad", NOW + 1), owner)
    store.begin(header("later", NOW + 2), owner)
    db = raw(db_path)
    db.execute("UPDATE runs SET header = ? WHERE run_id = 'bad'", (text,))
    db.close()
    calls: dict[str, Callable[[], object]] = {
        "header": lambda: store.header("bad"),
        "load": lambda: store.load("bad"),
        "acquire": lambda: store.acquire("bad", owner, NOW + 3),
        "finish": lambda: store.finish("bad", "failed", NOW + 3, owner),
    }
    for name, call in calls.items():
        with pytest.raises(CheckpointCorruptError, match=why) as caught:
            call()
        assert caught.value.code == "DW-E015", name
        assert_names(caught.value, db_path, "bad")
    caplog.set_level(logging.WARNING, logger="dagwright")
    listed = store.runs()
    assert [h.run_id for h in listed] == ["good", "later"]
    [unreadable] = listed.unreadable
    assert isinstance(unreadable, CheckpointCorruptError)
    assert_names(unreadable, db_path, "bad")
    [record] = [r for r in caplog.records if "checkpoint_row_unreadable" in r.getMessage()]
    assert record.levelno == logging.WARNING and "bad" in record.getMessage()
    store.delete("bad")  # an unreadable run can still be deleted
    assert store.runs().unreadable == ()


@pytest.mark.parametrize(
    ("text", "why"),
    [("{oops", "journal entry 1 cannot be read"), ("[1]", "journal entry 1 is not a JSON object")],
)
def test_an_unreadable_journal_entry_names_its_sequence_number(
    db_path: Path, opened: Callable[..., SQLiteCheckpointer], text: str, why: str
) -> None:
    store, owner = opened(), Owner.new()
    store.begin(header(), owner)
    store.append("r1", [step(0), step(1), step(2)], owner)
    db = raw(db_path)
    db.execute("UPDATE journal SET entry = ? WHERE seq = 1", (text,))
    db.close()
    with pytest.raises(CheckpointCorruptError, match=why) as caught:
        store.load("r1")
    assert_names(caught.value, db_path, "r1")
    assert store.runs() == [header()]  # the header is still listed


def test_an_unreadable_lease_is_held_until_it_expires(
    db_path: Path, opened: Callable[..., SQLiteCheckpointer], live: Callable[[], Owner]
) -> None:
    store, holder = opened(), live()
    store.begin(header(), holder)
    execute(db_path, "UPDATE leases SET owner = 'garbage'")
    with pytest.raises(CheckpointCorruptError, match="lease") as caught:
        store.lease("r1")
    assert_names(caught.value, db_path, "r1")
    taker = live()
    with pytest.raises(RunLockedError, match="unreadable") as locked:
        store.acquire("r1", taker, NOW + 1)
    assert_names(locked.value, db_path, "r1")
    assert locked.value.owner is not None and "unreadable" in locked.value.owner
    assert "expires" in str(locked.value.hint)
    store.append("r1", [step(0)], holder)  # its holder's token still matches
    store.acquire("r1", taker, NOW + store.lease_s)  # expired: taken over
    assert store.lease("r1") == Lease(taker, NOW + 2 * store.lease_s)
    with pytest.raises(RunLockedError):
        store.append("r1", [step(1)], holder)


def test_a_lease_with_no_readable_expiry_is_taken_over_at_once(
    db_path: Path, opened: Callable[..., SQLiteCheckpointer], live: Callable[[], Owner]
) -> None:
    store = opened()
    store.begin(header(), live())
    execute(db_path, "UPDATE leases SET owner = '{', expires_at = 'soon'")
    taker = live()
    store.acquire("r1", taker, NOW + 1)
    assert store.lease("r1") == Lease(taker, NOW + 1 + store.lease_s)

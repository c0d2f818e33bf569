"""``SQLiteCheckpointer(path, create=False)``: open a store that exists, never make one.

Every refused open leaves the file exactly as it was: its bytes, its modification time,
and no file added next to it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dagwright import Flow, FlowExecutor, Step
from dagwright.checkpoint import SQLiteCheckpointer
from dagwright.errors import CheckpointCorruptError, CheckpointError
from tests.cli.flows import SUMS, write
from tests.conftest import double, square

TWO = Flow("two", [Step(tool="double")])


def _zero(path: Path) -> None:
    path.write_bytes(b"")


def _text(path: Path) -> None:
    path.write_text("not a database at all\n", encoding="utf-8")


def _sqlite(*statements: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        db = sqlite3.connect(path)
        for statement in statements:
            db.execute(statement)
        db.commit()
        db.close()

    return make


CASES: dict[str, tuple[Callable[[Path], None], type[CheckpointError], str]] = {
    "zero-byte": (_zero, CheckpointError, "the file is empty"),
    "no tables": (_sqlite("PRAGMA user_version = 7"), CheckpointError, "holds no tables"),
    "text": (_text, CheckpointCorruptError, "not an SQLite database"),
    "foreign tables": (
        _sqlite("CREATE TABLE notes (body TEXT)", "INSERT INTO notes VALUES ('mine')"),
        CheckpointCorruptError,
        "is not a dagwright store",
    ),
    "foreign WAL database": (
        _sqlite("PRAGMA journal_mode = WAL", "CREATE TABLE notes (body TEXT)"),
        CheckpointCorruptError,
        "is not a dagwright store",
    ),
    "foreign application id": (
        _sqlite("PRAGMA application_id = 1234"),
        CheckpointCorruptError,
        "application_id",
    ),
}


def _state(path: Path) -> tuple[bytes, int, list[str]]:
    return path.read_bytes(), os.stat(path).st_mtime_ns, sorted(os.listdir(path.parent))


@pytest.mark.parametrize("case", list(CASES))
def test_a_file_that_is_no_store_is_refused_and_left_untouched(tmp_path: Path, case: str) -> None:
    make, error_type, words = CASES[case]
    path = tmp_path / "runs.sqlite"
    make(path)
    past = time.time_ns() - 10**10  # an mtime any write would move
    os.utime(path, ns=(past, past))
    before = _state(path)
    with pytest.raises(error_type) as caught:
        SQLiteCheckpointer(path, create=False)
    error = caught.value
    assert type(error) is error_type
    assert words in error.message
    assert str(path) in error.message
    assert error.path == str(path)
    assert error.hint
    assert _state(path) == before


def test_a_missing_file_is_refused_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    with pytest.raises(CheckpointError) as caught:
        SQLiteCheckpointer(path, create=False)
    error = caught.value
    assert type(error) is CheckpointError
    assert error.code == "DW-E011"
    assert error.message == (
        f"no checkpoint store at {path}: the file does not exist (nothing was created)"
    )
    assert error.hint is not None and "run a flow with this store first" in error.hint
    assert error.path == str(path)
    assert os.listdir(tmp_path) == []
    with pytest.raises(CheckpointError, match="does not exist"):
        SQLiteCheckpointer(tmp_path / "no" / "runs.sqlite", create=False)
    assert os.listdir(tmp_path) == []


def test_a_path_with_odd_characters_is_opened_as_itself(tmp_path: Path) -> None:
    path = tmp_path / "a dir?#%" / "runs 1?.sqlite"
    path.parent.mkdir()
    with pytest.raises(CheckpointError, match="does not exist"):
        SQLiteCheckpointer(path, create=False)
    assert os.listdir(path.parent) == []
    with FlowExecutor([double, square], checkpointer=SQLiteCheckpointer(path)) as ex:
        ex.run(TWO, {"n": 2}, run_id="r1")
    with SQLiteCheckpointer(path, create=False) as store:
        assert [h.run_id for h in store.runs()] == ["r1"]


def test_an_existing_store_opens_and_can_still_be_written(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    with FlowExecutor([double, square], checkpointer=SQLiteCheckpointer(path)) as ex:
        ex.run(TWO, {"n": 2}, run_id="r1")
    store = SQLiteCheckpointer(path, create=False)
    try:
        assert store.header("r1").status == "succeeded"
        store.delete("r1")
        assert list(store.runs()) == []
    finally:
        store.close()
    # an emptied store is still a store
    with SQLiteCheckpointer(path, create=False) as again:
        assert list(again.runs()) == []


def test_create_true_still_makes_a_store_of_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    path.write_bytes(b"")
    SQLiteCheckpointer(path).close()
    assert path.stat().st_size > 0
    SQLiteCheckpointer(path, create=False).close()


@pytest.mark.parametrize("case", ["zero-byte", "text", "foreign tables"])
def test_the_reading_commands_leave_such_a_file_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    from dagwright.cli import main

    make, error_type, _ = CASES[case]
    store = tmp_path / "store"
    store.mkdir()
    path = store / "runs.sqlite"
    make(path)
    past = time.time_ns() - 10**10
    os.utime(path, ns=(past, past))
    before = _state(path)
    flow = write(tmp_path, "sums.flow.yaml", SUMS)
    for argv in (
        ["runs", "list"],
        ["runs", "show", "r1"],
        ["runs", "delete", "r1"],
        ["graph", flow, "--run", "r1"],
    ):
        capsys.readouterr()
        assert main([*argv, "--store", str(path)]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"dagwright: error: [{error_type.code}] "), (argv, err)
        assert _state(path) == before, argv

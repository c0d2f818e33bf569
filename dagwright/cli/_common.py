"""Glue the commands share: where tools import from, opening the store, JSON inputs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagwright.errors import CheckpointError, CheckpointNotFoundError, FlowInputError

if TYPE_CHECKING:
    from dagwright.checkpoint import SQLiteCheckpointer


def use_cwd_imports() -> None:
    """Put the current directory first on ``sys.path``, as ``python -m`` does, so that
    ``--tools examples.pipeline_tools`` and ``tools:`` paths import from where the
    command runs (the console script's own directory would come first otherwise)."""
    here = os.getcwd()
    if not sys.path or sys.path[0] not in ("", here):
        sys.path.insert(0, here)


def open_store(path: str, *, create: bool, default: bool = False) -> SQLiteCheckpointer:
    """The SQLite run store at ``path``.

    Reading commands pass ``create=False``: a path with no file is an error
    (``CheckpointError``, exit 2), and no store is made. ``run`` passes ``create=True``;
    with ``default=True`` (the default ``.dagwright/runs.sqlite``) it makes the store's
    directory too. A ``--store`` whose directory is missing is refused by the store.
    """
    from dagwright.checkpoint import SQLiteCheckpointer

    if not create and not Path(path).exists():
        raise CheckpointError(
            f"no run store at {path}",
            hint="runs are stored by `dagwright run`; name another store with --store PATH",
            path=path,
        )
    if create and default:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return SQLiteCheckpointer(path)


def parse_inputs(text: str | None) -> dict[str, Any]:
    """``--input``: a JSON object given inline, or ``@path`` to a file holding one."""
    if text is None:
        return {}
    where = "--input"
    if text.startswith("@"):
        where = text[1:]
        text = Path(where).read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        prefix = f"{where}:{exc.lineno}:{exc.colno}: " if where != "--input" else ""
        raise FlowInputError(
            f"{prefix}the run's inputs are not JSON: {exc.msg} (line {exc.lineno}, "
            f"column {exc.colno})",
            hint='pass a JSON object, e.g. --input \'{"question": "why"}\', or @inputs.json',
        ) from None
    if not isinstance(value, dict):
        raise FlowInputError(
            f"the run's inputs must be a JSON object, got {type(value).__name__} ({where})",
            hint="wrap the values in an object, e.g. --input '{\"n\": 3}'",
        )
    return value


def unknown_run(error: CheckpointNotFoundError, store: str) -> CheckpointNotFoundError:
    """The library's unknown-run error, with a hint for the command line."""
    return CheckpointNotFoundError(
        error.message, hint=f"see the stored runs with `dagwright runs list --store {store}`"
    )

"""Glue the commands share: where tools import from, opening the store and the cache,
JSON inputs."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagwright.errors import FlowInputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dagwright import FlowRegistry, Tool
    from dagwright.cache import SQLiteStepCache
    from dagwright.checkpoint import SQLiteCheckpointer
    from dagwright.flows import Flow


def use_cwd_imports() -> None:
    """Put the current directory first on ``sys.path``, as ``python -m`` does, so that
    ``--tools examples.pipeline_tools`` and ``tools:`` paths import from where the
    command runs (the console script's own directory would come first otherwise)."""
    here = os.getcwd()
    if not sys.path or sys.path[0] not in ("", here):
        sys.path.insert(0, here)


def load_flow_files(
    files: Sequence[str], modules: Sequence[str]
) -> tuple[list[Flow], FlowRegistry, list[Tool]]:
    """The flows of ``files`` (in order), a registry holding them all (so sub-flows
    resolve among them), and their tools: those of ``--tools`` ``modules`` and of each
    file's ``tools:`` section, each once, imported from the current directory."""
    from dagwright import FlowRegistry
    from dagwright.errors import FlowDefinitionError
    from dagwright.io import flow_source, import_tool_paths, import_tools, load_flows
    from dagwright.io.lint import _registration_file_error

    flows = load_flows(files)
    registry = FlowRegistry()
    for each in flows:
        try:
            registry.register(each)
        except FlowDefinitionError as exc:  # a version that is not PEP 440, a clash
            raise _registration_file_error(exc, each) from None
    use_cwd_imports()
    tools = list(import_tools(modules)) if modules else []
    for each in flows:
        source = flow_source(each)
        if source is not None and source.tools:
            tools += import_tool_paths(source.tools)
    return flows, registry, list({id(item): item for item in tools}.values())


def open_store(path: str, *, create: bool, default: bool = False) -> SQLiteCheckpointer:
    """The SQLite run store at ``path``.

    Reading commands pass ``create=False``: the store must exist (``SQLiteCheckpointer``
    with ``create=False``: a missing or empty file is an error and is left as it was).
    ``run`` passes ``create=True``; with ``default=True`` (the default
    ``.dagwright/runs.sqlite``) it makes the store's directory too. A ``--store`` whose
    directory is missing is refused by the store.
    """
    from dagwright.checkpoint import SQLiteCheckpointer

    if create and default:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return SQLiteCheckpointer(path, create=create)


def open_cache(path: str | None) -> SQLiteStepCache | None:
    """The step cache of ``run --cache PATH`` (``None`` without ``--cache``). The default
    path's directory (``.dagwright``) is made; any other path's directory must exist."""
    if path is None:
        return None
    from dagwright.cache import SQLiteStepCache
    from dagwright.cli._app import DEFAULT_CACHE

    if path == DEFAULT_CACHE:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return SQLiteStepCache(path)


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


class LogLines(logging.Handler):
    """dagwright's warnings as ``dagwright: warning: ...`` lines on the current stderr
    (looked up per record, so a live display that redirects stderr keeps them tidy). A
    record that carries ``diagnostics`` (the executor's ``flow_warnings``) is printed as
    those diagnostics, one line each with its file position."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = record.levelname.lower()
            diagnostics = getattr(record, "diagnostics", None)
            if diagnostics:
                for diagnostic in diagnostics:
                    print(f"dagwright: {level}: {diagnostic.format()}", file=sys.stderr)
            else:
                print(f"dagwright: {level}: {record.getMessage()}", file=sys.stderr)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def log_lines() -> Iterator[LogLines]:
    """While the block runs, dagwright's warnings (and errors) are :class:`LogLines` on
    stderr; the ``dagwright`` logger's handlers and level are restored after."""
    logger = logging.getLogger("dagwright")
    handler = LogLines(logging.WARNING)
    level = logger.level
    logger.addHandler(handler)
    if level == logging.NOTSET:
        logger.setLevel(logging.WARNING)  # run events (DEBUG) are not even built
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

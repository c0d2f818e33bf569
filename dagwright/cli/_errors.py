"""How a failing command ends: one line on stderr and an exit code, never a traceback.

Exit codes (the same for every command):

* ``0`` success; ``1`` the command's own "no" (lint found errors, the run failed);
* ``2`` a usage error (argparse's message) or input that cannot be used: any
  :class:`~dagwright.errors.DagwrightError` (a bad flow file, an unknown run, a store that
  is not one...), or a file that cannot be read (``OSError``, ``UnicodeDecodeError``);
* ``3`` an internal error: an exception dagwright did not expect is a bug. It is reported
  in one line too; ``--debug`` (or ``DAGWRIGHT_DEBUG=1``) prints its traceback;
* ``130`` interrupted (Ctrl-C).

The line is ``dagwright: error: <path:line:col: >[DW-Exxx] message``, followed by
``  hint: ...`` when the error has a hint. A flow that does not compile lists its
diagnostics on the lines between (one per line, ``path:line:col: CODE ...``).

A few library errors carry hints that name the Python API (an unknown run: "list stored
runs with checkpointer.runs()"; a run id already stored: "resume it with
executor.resume(run_id)"). :func:`command_line_error` is the one place where the command
line trades them for the command to type instead.
"""

from __future__ import annotations

import os
import shlex
import sys
import traceback
from typing import TextIO

from dagwright.errors import (
    CheckpointNotFoundError,
    DagwrightError,
    FlowCompileError,
    FlowFileError,
    RunExistsError,
    ToolManifestError,
    TraceFileError,
)

OK = 0
FAILED = 1
BAD_INPUT = 2
INTERNAL = 3
INTERRUPTED = 130

PREFIX = "dagwright: error: "


def debug_enabled(flag: bool = False) -> bool:
    """Whether internal errors should show their traceback (``--debug`` or the env)."""
    return flag or os.environ.get("DAGWRIGHT_DEBUG", "") not in ("", "0")


def error_lines(error: DagwrightError) -> list[str]:
    """The lines that report ``error``: the error line, diagnostics if any, its hint."""
    where = ""
    if isinstance(error, FlowFileError) and (error.path is not None or error.line is not None):
        where = f"{error.position}: "
    elif isinstance(error, ToolManifestError) and error.path is not None:
        where = f"{error.path}: "
    elif isinstance(error, TraceFileError) and error.path is not None:
        where = f"{error.path}: " if error.line is None else f"{error.path}:{error.line}: "
    if isinstance(error, FlowCompileError):
        errors = [d for d in error.diagnostics if d.severity == "error"]
        lines = [f"{PREFIX}[{error.code}] flow {error.flow_name!r} has {len(errors)} error(s):"]
        lines += [f"  {d.format()}" for d in errors]
    else:
        message = " ".join(error.message.split())  # one line, whatever the message holds
        lines = [f"{PREFIX}{where}[{error.code}] {message}"]
    if error.hint:
        lines.append(f"  hint: {error.hint}")
    return lines


def command_line_error(
    error: DagwrightError, *, store: str, resume: str | None = None
) -> DagwrightError:
    """``error`` with a hint for the command line instead of the library's.

    An unknown run (``CheckpointNotFoundError``) points at ``dagwright runs list --store
    STORE``; a run id the store already holds (``RunExistsError``) at ``resume``, the
    command that finishes that run, when it is given. Any other error is returned as it
    is. The message, code and other attributes are kept.
    """
    if isinstance(error, CheckpointNotFoundError):
        return CheckpointNotFoundError(
            error.message,
            hint=f"see the stored runs with `dagwright runs list --store {shlex.quote(store)}`",
        )
    if isinstance(error, RunExistsError) and resume is not None:
        return RunExistsError(
            error.message,
            hint=f"finish it with `{resume}`, or pick another --run-id",
            path=error.path,
            run_id=error.run_id,
        )
    return error


def report_error(error: DagwrightError, stream: TextIO | None = None) -> int:
    """Print ``error`` as :func:`error_lines` to stderr; the exit code is 2."""
    out = stream if stream is not None else sys.stderr
    for line in error_lines(error):
        print(line, file=out)
    return BAD_INPUT


def report_os_error(error: OSError | UnicodeDecodeError, stream: TextIO | None = None) -> int:
    """A file that cannot be read (missing, a directory, not UTF-8...): one line, exit 2."""
    out = stream if stream is not None else sys.stderr
    if isinstance(error, UnicodeDecodeError):
        text = f"cannot decode input as {error.encoding}: {error.reason} (byte {error.start})"
    else:
        name = error.filename
        text = f"{name}: {error.strerror or error}" if name is not None else str(error)
    print(f"{PREFIX}{text}", file=out)
    return BAD_INPUT


def report_internal(error: BaseException, *, debug: bool, stream: TextIO | None = None) -> int:
    """An exception dagwright did not expect: one line (and the traceback with debug)."""
    out = stream if stream is not None else sys.stderr
    if debug:
        traceback.print_exception(error, file=out)
    message = " ".join(str(error).split())
    print(
        f"dagwright: internal error: {type(error).__name__}: {message}"
        + ("" if debug else " (run with --debug or DAGWRIGHT_DEBUG=1 for the traceback)"),
        file=out,
    )
    return INTERNAL

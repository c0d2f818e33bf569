"""What a worker runs for one call: load the tool, call it with the validated input, and
send back its outcome as one pickled envelope.

This module runs on the workers (it needs dagwright installed there, and never imports
Dask); the driver only refers to :func:`run_call` by name and reads the envelope with
:func:`read_envelope`.

Rules:

* The input arrives as the state of the model the driver validated
  (``model.__getstate__()``) and is rebuilt without validating again, so the tool gets
  exactly the values the driver checked.
* The tool comes as a :data:`ToolRef`: by reference (``module:attribute``, imported on
  the worker) or by value (cloudpickled by the driver). Either way it is loaded once per
  worker process and must have the driver's ``schema_hash``; a tool the worker cannot
  load, or whose schemas or version differ, is a ``ToolUnavailableError``.
* While the tool runs, :func:`~dagwright.current_call` gives the call's context, built
  by the driver.
* Whatever the tool raises becomes a :class:`~dagwright.lanes.calls.RemoteFailure`
  described here by the same ``describe_failure`` as in the driver, so the record is word
  for word a local one's. ``KeyboardInterrupt`` and ``SystemExit`` come back as they are
  and stop the run in the driver, as locally.
* ``timeout_s`` runs from the call's start on the worker: an async tool is cancelled at
  its deadline; a sync one is left running in its thread and its late result dropped.
* What the tool returned comes back unvalidated (the driver validates it): its output
  model as the model's state, another model as its ``model_dump()``, a mapping as a dict.
  A value that cannot be pickled is a ``ToolOutputError`` recorded for the call.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import pickle
import threading
import time
from collections.abc import Mapping
from typing import Any, TypeAlias

from pydantic import BaseModel

from dagwright._call_context import CallContext, _running
from dagwright.errors import ToolOutputError, ToolUnavailableError
from dagwright.lanes.calls import FATAL, RemoteFailure, describe_failure
from dagwright.tools import Tool

ToolRef: TypeAlias = tuple[str, str, str | None, str | None, str | None, bytes | None]
"""How a call names its tool: ``(name, schema_hash, module, attribute, digest, blob)``;
``module`` and ``attribute`` for a tool imported on the worker, or ``digest`` and
``blob`` (its cloudpickle) for a tool sent by value."""

# Envelope kinds: (kind, payload, started, ended).
RETURNED = "returned"  # payload: (MODEL, state) or (VALUE, value)
FAILED = "failed"  # payload: a RemoteFailure
FATAL_EXIT = "fatal"  # payload: the KeyboardInterrupt or SystemExit
TIMED_OUT = "timeout"  # payload: None
MODEL = "model"
VALUE = "value"

_loaded: dict[tuple[Any, ...], Tool] = {}
_loading = threading.Lock()


class _TimedOut(Exception):
    """The call overran its ``timeout_s``."""


def run_call(
    ref: ToolRef,
    state: dict[str, Any],
    timeout_s: float | None,
    context: CallContext | None = None,
) -> bytes:
    """Make one call on this worker; returns the pickled envelope (never raises).
    ``context`` is what :func:`~dagwright.current_call` gives the tool."""
    started = time.time()
    token = _running.set(context)
    try:
        tool = load_tool(ref)
        schema = tool.input_schema
        model = schema.__new__(schema)
        model.__setstate__(state)
        raw = _invoke(tool, model, timeout_s)
        envelope: tuple[Any, ...] = (RETURNED, _portable(tool, raw), started, time.time())
    except _TimedOut:
        envelope = (TIMED_OUT, None, started, time.time())
    except FATAL as exc:
        envelope = (FATAL_EXIT, bare(exc), started, time.time())
    except BaseException as exc:
        envelope = (FAILED, remote_failure(exc), started, time.time())
    finally:
        _running.reset(token)
    return _pack(ref[0], envelope)


def load_tool(ref: ToolRef) -> Tool:
    """The tool ``ref`` names, loaded once per process (``ToolUnavailableError`` if the
    worker cannot load it or its ``schema_hash`` is not the driver's)."""
    key = ref[:5]
    tool = _loaded.get(key)
    if tool is not None:
        return tool
    name, schema_hash, module, attribute, _, blob = ref
    with _loading:
        tool = _loaded.get(key)
        if tool is not None:
            return tool
        where = f"{module}:{attribute}" if blob is None else "the pickled tool"
        try:
            loaded = _by_reference(module, attribute) if blob is None else _by_value(blob)
        except Exception as exc:
            raise ToolUnavailableError(
                f"the worker cannot load tool {name!r} from {where}: {type(exc).__name__}: {exc}",
                hint="install the tools' modules (and dagwright) on every worker, with the "
                "same versions as the driver, or send them with client.upload_file",
            ) from exc
        if not isinstance(loaded, Tool) or loaded.name != name:
            raise ToolUnavailableError(
                f"{where} on the worker is not the tool {name!r} (got {type(loaded).__name__})",
                hint="install the same version of the tools' modules on the driver and workers",
            )
        if loaded.schema_hash != schema_hash:
            raise ToolUnavailableError(
                f"the worker's tool {name!r} (version {loaded.version!r}) differs from the "
                "driver's: another version or other input/output schemas",
                hint="install the same version of the tools' modules on the driver and workers",
            )
        _loaded[key] = loaded
        return loaded


def _by_reference(module: str | None, attribute: str | None) -> Any:
    assert module is not None and attribute is not None
    value: Any = importlib.import_module(module)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


def _by_value(blob: bytes) -> Any:
    import cloudpickle  # a dependency of Dask; by-value tools exist only with it

    return cloudpickle.loads(blob)


def _invoke(tool: Tool, model: BaseModel, timeout_s: float | None) -> Any:
    if tool.is_async:
        return asyncio.run(_awaited(tool, model, timeout_s))
    if timeout_s is None:
        return tool.fn(model)
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            box["value"] = tool.fn(model)
        except BaseException as exc:
            box["error"] = exc

    # A thread cannot be stopped: at the deadline the call is left running, as locally.
    thread = threading.Thread(
        target=contextvars.copy_context().run,  # the tool sees current_call() there too
        args=(call,),
        name=f"dagwright-call-{tool.name}",
        daemon=True,
    )
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise _TimedOut
    if "error" in box:
        raise box["error"]
    return box["value"]


async def _awaited(tool: Tool, model: BaseModel, timeout_s: float | None) -> Any:
    if timeout_s is None:
        return await tool.fn(model)
    scope = asyncio.timeout(timeout_s)
    try:
        async with scope:
            return await tool.fn(model)
    except TimeoutError:
        if scope.expired():
            raise _TimedOut from None
        raise


def _portable(tool: Tool, raw: Any) -> tuple[str, Any]:
    """What the tool returned, in a form that pickles without its (generated) model
    classes; the driver validates it as it validates a local call's return value."""
    if type(raw) is tool.output_schema:
        return MODEL, raw.__getstate__()
    if isinstance(raw, BaseModel):
        return VALUE, raw.model_dump()
    if isinstance(raw, Mapping):
        return VALUE, dict(raw)
    tool.output_model(raw)  # raises the ToolOutputError a local call records
    return VALUE, raw


def remote_failure(exc: BaseException) -> RemoteFailure:
    """``exc`` described here; the exception itself kept when it survives pickling."""
    info, names = describe_failure(exc)
    cause: BaseException | None
    try:
        cause = bare(pickle.loads(pickle.dumps(exc)))
    except Exception:
        cause = None
    return RemoteFailure(info, names, cause)


def bare(exc: BaseException) -> BaseException:
    """``exc`` without traceback and chained exceptions (their text is in the record).

    Dask installs tblib's pickling of tracebacks; a traceback unpickled in the driver is
    rebuilt from frames that link to the driver's own stack, and would keep it alive as
    long as the result holds the exception.
    """
    exc.__traceback__ = None
    exc.__cause__ = None
    exc.__context__ = None
    return exc


def _pack(name: str, envelope: tuple[Any, ...]) -> bytes:
    try:
        return pickle.dumps(envelope, protocol=5)
    except Exception:
        pass
    try:
        import cloudpickle  # values of classes defined in a script, sent by value

        return bytes(cloudpickle.dumps(envelope, protocol=5))
    except Exception as exc:
        failure = remote_failure(
            ToolOutputError(
                f"output of tool {name!r} cannot be sent back from the worker: "
                f"{type(exc).__name__}: {exc}",
                hint="return the tool's output model or plain values (dicts, lists, str, "
                "numbers) that pickle",
            )
        )
        return pickle.dumps((FAILED, failure, envelope[2], envelope[3]), protocol=5)


def read_envelope(blob: bytes) -> tuple[str, Any, float, float]:
    """The envelope :func:`run_call` returned (raises what unpickling raises)."""
    kind, payload, started, ended = pickle.loads(blob)
    return kind, payload, started, ended

"""One tool call: validate the input, call, validate the output; classify failures.

Both lanes use these functions. What differs between lanes is only how ``tool.fn`` is
called and awaited; validation, output projection, failure classification, the timeout
error, abandoning a call and which calls a halt cancels are here, once.

Fault rules, the same in every lane:

* A call never raises into its lane: whatever the tool raises is its outcome.
  ``KeyboardInterrupt`` and ``SystemExit`` are *fatal*: :func:`report` re-raises them in
  the thread or task driving the run, which stops the run, records nothing for that
  call and propagates. Anything else, a ``CancelledError`` or ``GeneratorExit`` the
  tool raised itself included, is a tool failure.
* A timed-out call fails with :func:`timeout_error`, word for word the same in both
  lanes; a sync call abandoned at its timeout gives its worker back to the pool.
* When a failure halts a frame, the async calls of that frame, and every call of it on
  a remote runner, are cancelled and recorded cancelled (:func:`to_cancel`); sync calls
  in this process finish and are recorded with their real outcome.
* A call made elsewhere (a remote runner's worker) is described there by the same
  :func:`describe_failure` and comes back as a :class:`RemoteFailure`, recorded as is.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from pydantic import BaseModel, ValidationError

from dagwright._call_context import _running
from dagwright._execution.canonical import NotJSONError, copy_json, model_json
from dagwright._logging import get_logger
from dagwright.cache._keys import call_key, lookup, store
from dagwright.cache.protocol import CacheKey, StepCache
from dagwright.errors import (
    DagwrightError,
    StepTimeoutError,
    ToolExecutionError,
    ToolInputError,
    ToolOutputError,
)
from dagwright.lanes.pool import Ticket, WorkerPool
from dagwright.results import ErrorInfo
from dagwright.tools import Tool, validation_summary

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from dagwright._execution.scheduler import RunMachine
    from dagwright._execution.trackers import Unit
    from dagwright.events import Event
    from dagwright.lanes.observe import Observer
    from dagwright.lanes.runner import CallRunner

Outcome: TypeAlias = tuple[dict[str, Any] | None, BaseException | None, float, float, bool]
"""What one call gave: outputs or the exception, its wall-clock start and end, and
whether the outputs came from the step cache (no call was made)."""

K = TypeVar("K")

FATAL = (KeyboardInterrupt, SystemExit)
"""What a tool may raise to stop the whole run (propagated, never recorded)."""


def prepare(tool: Tool, inputs: Mapping[str, Any]) -> BaseModel:
    """Validate bound inputs against the tool's input model (``ToolInputError`` if invalid).

    The tool gets its own copy of every dict and list: bound values are shared with the
    context, the records, the journal, later steps and the flow's literals.
    """
    schema = tool.input_schema
    if not tool.validates_afresh:
        for value in inputs.values():
            if type(value) is dict or type(value) is list:
                inputs = {field: copy_json(item) for field, item in inputs.items()}
                break
    try:
        return schema.__pydantic_validator__.validate_python(inputs)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ToolInputError(
            f"inputs of tool {tool.name!r} are invalid: {validation_summary(exc)}",
            hint="check the step's `inputs` mapping and the producers' output types",
        ) from exc


def finish(tool: Tool, raw: Any) -> dict[str, Any]:
    """Validate what the tool returned and give its JSON-mode output dict.

    Accepts an instance of the output model or a mapping of its fields; anything else, a
    mapping that does not validate, or an output with no exact JSON form (see
    ``canonical.model_json``) is a ``ToolOutputError``.
    """
    model = raw if type(raw) is tool.output_schema else tool.output_model(raw)
    try:
        return model_json(model)
    except NotJSONError as exc:
        raise ToolOutputError(
            f"output of tool {tool.name!r} has no exact JSON form: {exc}",
            hint="runs hold JSON values: finite numbers, str-keyed dicts, valid text",
        ) from exc


def begin(
    tool: Tool, inputs: Mapping[str, Any], cache: StepCache | None = None
) -> tuple[BaseModel, CacheKey | None, dict[str, Any] | None]:
    """The first half of a call, before the tool runs: the validated input
    (:func:`prepare`), its cache key and the outputs ``cache`` holds for it (see
    :func:`cached`). Both keys are ``None`` when the call is not looked up."""
    model = prepare(tool, inputs)
    if cache is None or not tool.cacheable:
        return model, None, None
    key, hit = cached(cache, tool, model)
    return model, key, hit


def end(tool: Tool, raw: Any, key: CacheKey | None, cache: StepCache | None) -> dict[str, Any]:
    """The second half, once the tool returned ``raw``: the validated outputs
    (:func:`finish`), stored in ``cache`` under ``key`` when there is one."""
    outputs = finish(tool, raw)
    if key is not None and cache is not None:
        store(cache, key, outputs)
    return outputs


def call_sync(
    tool: Tool, unit: Unit, cache: StepCache | None = None
) -> tuple[dict[str, Any], bool]:
    """Make ``unit``'s call of a synchronous tool once: validate, call, validate. Returns
    the outputs and whether they came from ``cache`` (see :func:`cached`). While the
    tool runs, :func:`~dagwright.current_call` names ``unit``."""
    key = None
    if cache is None or not tool.cacheable:
        model = prepare(tool, unit.inputs)
    else:
        model, key, hit = begin(tool, unit.inputs, cache)
        if hit is not None:
            return hit, True
    token = _running.set(unit)
    try:
        raw = tool.fn(model)
    finally:
        _running.reset(token)
    return end(tool, raw, key, cache), False


async def call_async(
    tool: Tool, unit: Unit, cache: StepCache | None = None
) -> tuple[dict[str, Any], bool]:
    """Make ``unit``'s call on an event loop: validate, call (awaiting an async tool),
    validate; the cache and the call context as in :func:`call_sync`."""
    key = None
    if cache is None or not tool.cacheable:
        model = prepare(tool, unit.inputs)
    else:
        model, key, hit = begin(tool, unit.inputs, cache)
        if hit is not None:
            return hit, True
    token = _running.set(unit)
    try:
        raw = await tool.fn(model)
    finally:
        _running.reset(token)
    return end(tool, raw, key, cache), False


def cached(
    cache: StepCache, tool: Tool, model: BaseModel
) -> tuple[CacheKey | None, dict[str, Any] | None]:
    """The key of a call with the validated input ``model`` (computed once, from the
    input validated once), and the outputs ``cache`` holds for it, if any.

    A hit's outputs are validated against the tool's output model like a call's (a
    cache shared by processes is a file anyone can write, and the context only ever
    holds validated values), unless the cache is ``trusted`` (it returns only what the
    executor stored in this process). One that does not validate is a miss.
    """
    key = call_key(tool, model)
    if key is None:
        return None, None
    entry = lookup(cache, key)
    if entry is None:
        return key, None
    outputs = entry.outputs
    if getattr(cache, "trusted", False) is True:
        return key, outputs if type(outputs) is dict else dict(outputs)
    try:
        return key, finish(tool, dict(outputs))
    except ToolOutputError:
        return key, None


# Modules whose frames lead into a tool call: left off the front of a recorded traceback.
_CALL_PATH = ("dagwright.lanes", "dagwright.tools", "dagwright.runners")


def _on_call_path(tb: TracebackType) -> bool:
    module = tb.tb_frame.f_globals.get("__name__", "")
    return any(module == name or module.startswith(name + ".") for name in _CALL_PATH)


def format_traceback(exc: BaseException) -> str:
    """``exc``'s formatted traceback (with its chained causes), from the tool's own frames.

    The frames of the lane and of the tool adapter that led into the call are left off
    the front, so the text is the same in every lane. When nothing else is left (the
    error was raised by dagwright itself, e.g. an output that does not validate), the
    whole traceback is kept.
    """
    tb = exc.__traceback__
    while tb is not None and _on_call_path(tb):
        tb = tb.tb_next
    if tb is None:
        return "".join(traceback.format_exception(exc))
    trimmed = traceback.TracebackException(type(exc), exc, tb, compact=True)
    return "".join(trimmed.format())


def describe_failure(exc: BaseException) -> tuple[ErrorInfo, tuple[str, ...]]:
    """The recorded error for ``exc`` and the class names ``retry_on`` is matched against.

    dagwright's own errors keep their code (a step error, or a coded error a tool raised,
    such as an MCP server's ``MCPToolError``); anything else a tool raised is recorded as
    ``ToolExecutionError`` (``DW-E101``) with the original exception's type and message.
    Either way the error keeps ``exc``'s traceback (:func:`format_traceback`). Names
    include each class of the MRO by ``__name__`` and fully qualified name.
    """
    if isinstance(exc, RemoteFailure):
        return exc.info, exc.names
    story = format_traceback(exc)
    if isinstance(exc, DagwrightError):
        # Any coded error keeps its code, e.g. an MCP server's tool error (DW-E023).
        info = ErrorInfo(exc.code, type(exc).__name__, exc.message, traceback=story)
    else:
        message = str(exc) or repr(exc)
        info = ErrorInfo(ToolExecutionError.code, type(exc).__name__, message, traceback=story)
    mro = type(exc).__mro__
    names = tuple(c.__name__ for c in mro) + tuple(f"{c.__module__}.{c.__qualname__}" for c in mro)
    return info, names


class RemoteFailure(Exception):
    """A call's failure described where it happened (a runner's worker), by
    :func:`describe_failure` there: the recorded error, the class names ``retry_on``
    matches, and the original exception when it survives pickling (else ``None``).

    It travels in an outcome's exception slot; :func:`report` records ``info`` as it is,
    so a remote failure is recorded word for word as the same failure in this process.
    """

    def __init__(
        self, info: ErrorInfo, names: tuple[str, ...], cause: BaseException | None
    ) -> None:
        super().__init__(info.message)
        self.info = info
        self.names = names
        self.cause = cause

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteFailure, (self.info, self.names, self.cause))


def execute(tool: Tool, unit: Unit, delay: float, cache: StepCache | None = None) -> Outcome:
    """Make one call of ``unit`` in this thread, after ``delay`` seconds; never raises.

    The sync lane's way of calling; the async lane awaits instead (``aio.execute_async``).
    """
    if delay:
        time.sleep(delay)
    started = time.time()
    try:
        outputs, hit = call_sync(tool, unit, cache)
    except BaseException as exc:
        return None, exc, started, time.time(), False
    return outputs, None, started, time.time(), hit


def pooled(
    tool: Tool,
    unit: Unit,
    on_start: Callable[[float], None] | None,
    on_end: Callable[[Outcome], None],
    delay: float,
    cache: StepCache | None = None,
) -> None:
    """A sync call as a pool worker makes it, in either lane.

    After ``delay`` (the retry delay, when the lane did not wait it out itself),
    ``on_start(monotonic_start)`` tells the lane the call starts now (a timeout runs
    from here, never from when the call was queued); then ``on_end(outcome)`` gives its
    outcome. Neither may raise into the worker.
    """
    if delay:
        time.sleep(delay)
    if on_start is not None:
        on_start(time.monotonic())
    on_end(execute(tool, unit, 0.0, cache))


def timeout_error(unit: Unit) -> StepTimeoutError:
    """The error of a call that overran its step's ``timeout_s`` (the same in both lanes)."""
    return StepTimeoutError(f"tool {unit.tool!r} did not finish within timeout_s={unit.timeout_s}")


def abandon(pool: WorkerPool, ticket: Ticket, unit: Unit, why: str) -> None:
    """Give up on a pooled sync call; its late result will be discarded.

    A call not started yet never starts. A running one keeps its thread until the tool
    returns, but the pool replaces that worker; the abandonment is logged and counted.
    """
    if pool.abandon(ticket):
        get_logger().warning(
            "call_abandoned",
            step_id=unit.step.id,
            index=unit.index,
            tool=unit.tool,
            reason=why,
            abandoned_total=pool.abandoned,
        )


def cancellable(tool: Tool, runner: CallRunner) -> bool:
    """Whether a halt cancels an in-flight call of ``tool``: an async tool on the lane's
    event loop, and every call on a remote runner (its future can be cancelled). A sync
    call in a thread of this process cannot be interrupted."""
    return runner.remote or tool.is_async


def to_cancel(
    machine: RunMachine,
    running: Iterable[tuple[K, Unit]],
    tools: Mapping[str, Tool],
    runner: CallRunner,
) -> list[K]:
    """The in-flight calls a halt cancels: the :func:`cancellable` calls of halted frames.

    Other calls are never cancelled by a halt: they finish and are recorded with their
    real outcome, in both lanes.
    """
    if not machine.halting:
        return []
    return [
        key
        for key, unit in running
        if cancellable(tools[unit.tool], runner) and machine.is_halted(unit)
    ]


def report(
    machine: RunMachine,
    unit: Unit,
    outputs: dict[str, Any] | None,
    exc: BaseException | None,
    started: float,
    ended: float,
    hit: bool = False,
) -> None:
    """Hand one call's outcome to the machine: completed (``hit``: from the step cache),
    or failed with its classification.

    A fatal exception (``KeyboardInterrupt``, ``SystemExit``) is re-raised here, in the
    driver, and nothing is recorded for the call.
    """
    if exc is None:
        assert outputs is not None
        machine.complete(unit, outputs, started, ended, hit)
    elif isinstance(exc, FATAL):
        raise exc
    else:
        info, names = describe_failure(exc)
        if isinstance(exc, RemoteFailure) and exc.cause is not None:
            exc = exc.cause
        machine.fail(unit, info, names, started, ended, cause=exc)


def next_round(
    machine: RunMachine,
    limit: int,
    in_flight: int,
    save: Callable[[RunMachine], None] | None,
    observer: Observer | None,
) -> tuple[list[Unit], bool, list[Event]]:
    """One turn of a lane's loop, before it runs anything: the same in both lanes.

    Takes the units to start now, then writes the journal entries the machine produced,
    in one write: the outcomes reported since the last round (durable before the slots
    they freed are reused) and the intents of the non-idempotent calls just taken
    (durable before those calls start). Taking starts nothing, so one write keeps both
    rules, and a linear flow of non-idempotent tools journals each intent with the
    outcome before it. Then collects the events so far. Returns the units, whether the
    single unit may run inline (the run is sequential, or it is the only call to make
    and nothing is in flight), and the events to stream.
    """
    units = machine.take(limit - in_flight)
    if save is not None:
        save(machine)
    inline = len(units) == 1 and not in_flight and (limit == 1 or not machine.queue)
    if observer is None:
        return units, inline, []
    observer.collect(machine)
    return units, inline, observer.take_pending()

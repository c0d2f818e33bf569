"""The dagwright error tree.

Every error raised by dagwright derives from :class:`DagwrightError` and carries a
stable ``code`` (``DW-E001``...). Codes never change meaning once published; the table
in ``docs/reference/errors.md`` lists them and a test keeps it in step with this module.

Errors split in two families:

* **Misuse** raises at the call: an unknown flow, a flow that does not compile, inputs
  that do not validate, a tool that cannot be built from its function, an argument a
  call cannot take (:class:`UsageError`).
* **Step failures** never raise out of ``run``: they are recorded on the
  :class:`~dagwright.results.ExecutionResult` as an ``ErrorInfo`` whose ``code`` is one of
  the ``DW-E1xx`` codes below; ``result.raise_for_error()`` turns them into
  :class:`RunFailedError`.
"""

from __future__ import annotations

import copyreg
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from dagwright.compiler.diagnostics import Diagnostic
    from dagwright.results import ExecutionResult


class DagwrightError(Exception):
    """Base of every dagwright error; ``code`` is stable and documented."""

    code: ClassVar[str] = "DW-E001"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other constructor arguments than ``args`` holds; rebuild from
        # the instance state so every error survives pickling (process pools, dask).
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[DagwrightError], message: str, state: dict[str, Any]) -> DagwrightError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


def _reduce(error: DagwrightError) -> tuple[Any, ...]:
    return error.__reduce__()


def keep_own_pickling() -> None:
    """Make every dagwright error class pickle by its own ``__reduce__`` again.

    Importing ``distributed`` registers tblib's reduction for every exception class with
    ``copyreg``, which pickles causes and tracebacks too: an error whose cause cannot be
    pickled (``RunFailedError`` holds the tool's exception) would no longer pickle.
    ``DaskRunner`` calls this once Dask is imported.
    """
    stack: list[type[DagwrightError]] = [DagwrightError]
    while stack:
        cls = stack.pop()
        copyreg.pickle(cls, _reduce)
        stack.extend(cls.__subclasses__())


class FlowCompileError(DagwrightError):
    """A flow failed static checks; ``diagnostics`` holds every finding, errors and warnings."""

    code = "DW-E002"

    def __init__(self, flow_name: str, diagnostics: Sequence[Diagnostic]) -> None:
        self.flow_name = flow_name
        self.diagnostics = tuple(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        lines = "\n".join(f"  {d.format()}" for d in errors)
        super().__init__(
            f"flow {flow_name!r} has {len(errors)} error(s):\n{lines}",
            hint="fix the listed diagnostics; `dagwright lint` shows them with positions",
        )


class FlowNotFoundError(DagwrightError):
    """No flow of that name (and version) is registered."""

    code = "DW-E003"


class FlowInputError(DagwrightError):
    """The inputs given to a run are missing keys or fail the flow's ``input_schema``.

    ``missing`` names required inputs that were not given; ``errors`` holds pydantic's
    structured details when schema validation failed.
    """

    code = "DW-E004"

    def __init__(
        self,
        message: str,
        *,
        missing: Sequence[str] = (),
        errors: Sequence[Any] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.missing = tuple(missing)
        self.errors = tuple(errors)


class ToolDefinitionError(DagwrightError):
    """A tool could not be built, e.g. ``@tool`` on a function without type annotations."""

    code = "DW-E005"


class FlowDefinitionError(DagwrightError):
    """A flow or step definition is malformed beyond what the compiler can report."""

    code = "DW-E006"


class RunFailedError(DagwrightError):
    """Raised by ``ExecutionResult.raise_for_error()`` for a failed run; ``result`` is attached."""

    code = "DW-E007"

    def __init__(self, message: str, *, result: ExecutionResult) -> None:
        super().__init__(message)
        self.result = result


class ContextCollisionError(DagwrightError):
    """Two unordered writers, or a forbidden ordered overwrite, met at run time."""

    code = "DW-E008"


class CheckpointNotFoundError(DagwrightError):
    """``resume`` named a run the checkpointer has no record of (never another run's)."""

    code = "DW-E009"


class CheckpointMismatchError(DagwrightError):
    """A run's checkpoint does not fit what is being resumed: the flow definition or its
    tools' schemas changed, or a map's item count differs from the saved one (then it is
    recorded as the map step's error type)."""

    code = "DW-E010"


class CheckpointError(DagwrightError):
    """A checkpointer could not read or write its store (I/O, corrupt data).

    ``path`` is the store's file (``None`` for a store with no file) and ``run_id`` the
    run concerned, when there is one.
    """

    code = "DW-E011"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        path: str | None = None,
        run_id: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = path
        self.run_id = run_id


class RunLockedError(CheckpointError):
    """Another live owner holds the run's lease (``owner`` describes it), or this process
    lost the lease it held: the run is not touched."""

    code = "DW-E012"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        path: str | None = None,
        run_id: str | None = None,
        owner: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, path=path, run_id=run_id)
        self.owner = owner


class RunExistsError(CheckpointError, ValueError):
    """A run was started with a ``run_id`` the store already holds."""

    code = "DW-E013"


class CheckpointBusyError(CheckpointError):
    """The store stayed locked by another connection past ``busy_timeout_s``."""

    code = "DW-E014"


class CheckpointCorruptError(CheckpointError):
    """The file is not a dagwright store, or a stored row cannot be read back."""

    code = "DW-E015"


class ExecutorClosedError(DagwrightError, RuntimeError):
    """A ``FlowExecutor`` was used after ``close()``."""

    code = "DW-E016"


class UsageError(DagwrightError, TypeError, ValueError):
    """A dagwright API was called with an argument it cannot take: a flow reference that
    is neither a flow nor a name, a ``max_concurrency`` or ``plan_cache_size`` that is not
    an int >= 1, a run id that is not a non-empty string, ``resume`` without a
    checkpointer, ``register`` of something that is not a flow.

    Also a ``TypeError`` and a ``ValueError``, what such mistakes raised before they had
    a code, so handlers written for those keep working.
    """

    code = "DW-E017"


class FlowFileError(DagwrightError, ValueError):
    """A flow file cannot be read as a flow: bad YAML or JSON, a duplicate key, an
    unknown key, a value of the wrong type, an unsupported ``format_version``.

    ``path`` is the file (``None`` for text given directly), ``line`` and ``col`` the
    1-based position of the offending value (``None`` when the whole file is at fault,
    such as a missing file). ``str()`` starts with ``path:line:col:`` when they are known.
    """

    code = "DW-E018"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        col: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = path
        self.line = line
        self.col = col

    @property
    def position(self) -> str:
        """``path:line:col`` (as much of it as is known; ``<text>`` for text input)."""
        where = self.path if self.path is not None else "<text>"
        if self.line is not None:
            where += f":{self.line}:{self.col if self.col is not None else 1}"
        return where

    def __str__(self) -> str:
        return f"{self.position}: {super().__str__()}"


class ToolImportError(DagwrightError, ImportError):
    """A tools module or a ``module:attribute`` tool path cannot be imported, or holds no
    tool: the import's own error is chained as ``__cause__``. ``target`` is what was
    being imported."""

    code = "DW-E019"

    def __init__(self, message: str, *, target: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.target = target


class ToolManifestError(DagwrightError, ValueError):
    """A tool manifest file is missing, is not JSON, or does not describe tools in the
    manifest format; ``path`` names the file."""

    code = "DW-E020"

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class IntegrationUnavailableError(DagwrightError, ImportError):
    """An integration (``dagwright.mcp``, ``dagwright.integrations.<framework>``) was
    imported or used without its extra installed; the hint names the extra to install."""

    code = "DW-E021"


class MCPError(DagwrightError):
    """Talking to an MCP server failed: it could not be started or reached, it died or
    closed the session mid-call, or it broke the protocol. ``server`` names it."""

    code = "DW-E022"

    def __init__(self, message: str, *, server: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.server = server


class MCPToolError(MCPError):
    """An MCP server's tool answered with an error result (``isError``); the message
    carries the text the server gave."""

    code = "DW-E023"


class MCPSchemaError(MCPError):
    """An MCP server broke its own declared contract: a tool's result does not match the
    output schema it advertised, or a schema it advertised is not a valid JSON Schema."""

    code = "DW-E024"


class TraceFileError(DagwrightError, ValueError):
    """A trace file cannot be read: not JSON Lines, a line that is not a trace record
    (a missing or mistyped key), a ``seq`` repeated within a session, an OpenTelemetry
    export that is not OTLP JSON. ``path`` and ``line`` (1-based) say where."""

    code = "DW-E025"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = self.path if self.path is not None else "<traces>"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {super().__str__()}"


class FlowRetiredError(DagwrightError):
    """A run asks for a flow version whose registry status is ``retired`` (``name`` and
    ``version`` say which). Resuming a run that started on it still works."""

    code = "DW-E026"

    def __init__(self, message: str, *, name: str, version: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.name = name
        self.version = version


class CacheError(DagwrightError):
    """A step cache cannot use its store: a missing or unwritable parent directory, a file
    that is not a dagwright cache, a cache of a newer format, a store locked past its
    busy timeout. ``path`` names the store."""

    code = "DW-E027"

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


# ---- step failures: recorded on the result, raised only by raise_for_error() ----


class StepError(DagwrightError):
    """Base of the errors a step can end with; they are recorded, not raised by ``run``."""

    code = "DW-E100"


class ToolExecutionError(StepError):
    """The tool's function raised; the record keeps the original exception type and message."""

    code = "DW-E101"


class ToolInputError(StepError):
    """The bound inputs did not validate against the tool's input model."""

    code = "DW-E102"


class ToolOutputError(StepError):
    """The tool returned something that does not validate against its output model."""

    code = "DW-E103"


class StepTimeoutError(StepError):
    """The step exceeded its ``timeout_s``."""

    code = "DW-E104"


class StepCancelledError(StepError):
    """The step was cancelled because a sibling failed or the run was stopped."""

    code = "DW-E105"


class PredicateError(StepError):
    """A ``when`` predicate could not be evaluated on the values it met (e.g. ``'a' > 1``)."""

    code = "DW-E106"


class SubflowError(StepError):
    """A sub-flow step failed because a step inside the sub-flow failed."""

    code = "DW-E107"


class RunnerError(StepError):
    """A runner could not make a call: the Dask client is closed or lost its scheduler,
    or the cluster refused or dropped the task. Not retried unless ``retry_on`` names it.
    ``dagwright run --dask`` raises it when it cannot connect to the scheduler."""

    code = "DW-E108"


class WorkerLostError(RunnerError):
    """The worker making a call died or left the cluster before the call returned. The
    step's retry policy decides whether the call runs again."""

    code = "DW-E109"


class ToolUnavailableError(RunnerError):
    """A tool cannot be sent to or loaded on the runner's workers: it cannot be pickled,
    its module (or dagwright) cannot be imported there, or the workers' tool has other
    schemas or another version than the driver's. Not retried unless ``retry_on`` names it."""

    code = "DW-E110"


class StepInterruptedError(StepError):
    """A call of an ``idempotent=False`` tool was in flight when an earlier session of the
    run stopped (its intent is journaled, its result is not), or timed out, or was
    cancelled while it ran, so a resume does not make it again: the call may have had its
    side effect. Never retried; the step's
    ``on_error`` applies. A step with ``on_interrupted="retry"`` makes the call again
    instead, with the same ``current_call().idempotency_key``."""

    code = "DW-E111"


class CallWithheldError(StepError):
    """The replay check (``FlowExecutor.verify``) did not make a call of an
    ``idempotent=False`` tool because the recorded run holds no result of that call to use
    instead (it never made the call, or the call failed). No call and no attempt is
    made, nothing is retried or falls back; the step's ``on_error`` applies. Only a
    replay records it; ``verify(..., allow_side_effects=True)`` makes such calls."""

    code = "DW-E112"


ERROR_CLASSES: tuple[type[DagwrightError], ...] = (
    DagwrightError,
    FlowCompileError,
    FlowNotFoundError,
    FlowInputError,
    ToolDefinitionError,
    FlowDefinitionError,
    RunFailedError,
    ContextCollisionError,
    CheckpointNotFoundError,
    CheckpointMismatchError,
    CheckpointError,
    RunLockedError,
    RunExistsError,
    CheckpointBusyError,
    CheckpointCorruptError,
    ExecutorClosedError,
    UsageError,
    FlowFileError,
    ToolImportError,
    ToolManifestError,
    IntegrationUnavailableError,
    MCPError,
    MCPToolError,
    MCPSchemaError,
    TraceFileError,
    FlowRetiredError,
    CacheError,
    StepError,
    ToolExecutionError,
    ToolInputError,
    ToolOutputError,
    StepTimeoutError,
    StepCancelledError,
    PredicateError,
    SubflowError,
    RunnerError,
    WorkerLostError,
    ToolUnavailableError,
    StepInterruptedError,
    CallWithheldError,
)
"""Every error class, in code order: the source of truth for ``docs/reference/errors.md``."""

"""Run results: frozen records of what a run did.

Step, attempt and error records are named tuples: immutable, and built once per step
for a fraction of a frozen dataclass's cost (they are on the hot path of every run).
``to_dict(times=False)`` (no times, no tracebacks) is the deterministic projection
hashed into a run's digest:
for deterministic tools it is byte-identical across lanes, concurrency settings and
repeated runs, because records are kept in canonical order, never completion order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from dagwright._execution.canonical import digest as _digest
from dagwright.errors import RunFailedError

if TYPE_CHECKING:
    from dagwright.profiling import TimelineBar

StepStatus = Literal["completed", "failed", "skipped", "cancelled"]
AttemptStatus = Literal["completed", "failed", "cancelled"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class ErrorInfo(NamedTuple):
    """Why a step (or run) failed: stable ``code``, exception ``type`` name and ``message``.

    ``traceback`` is the formatted traceback of the exception, starting at the tool's own
    frames (``None`` when no exception was raised, e.g. a missing input). It is left out
    of the deterministic projection, and so of the digest: it names files and lines.
    """

    code: str
    type: str
    message: str
    step_id: str | None = None
    index: int | None = None  # type: ignore[assignment]  # the map index, not tuple.index
    traceback: str | None = None

    def to_dict(self, *, traceback: bool = True) -> dict[str, Any]:
        """Plain JSON data; ``traceback=False`` leaves out the traceback."""
        data: dict[str, Any] = {
            "code": self.code,
            "type": self.type,
            "message": self.message,
            "step_id": self.step_id,
            "index": self.index,
        }
        if traceback:
            data["traceback"] = self.traceback
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorInfo:
        """The inverse of :meth:`to_dict` (``traceback`` is ``None`` when left out)."""
        return cls(
            data["code"],
            data["type"],
            data["message"],
            data["step_id"],
            data["index"],
            data.get("traceback"),
        )


def _error(data: Mapping[str, Any] | None) -> ErrorInfo | None:
    return None if data is None else ErrorInfo.from_dict(data)


class AttemptRecord(NamedTuple):
    """One call of a tool: ``number`` counts from 0; ``tool`` differs for a fallback call."""

    number: int
    status: AttemptStatus
    tool: str
    error: ErrorInfo | None = None
    started_at: float | None = None
    ended_at: float | None = None

    def to_dict(self, *, times: bool = True) -> dict[str, Any]:
        """Plain JSON data; ``times=False`` leaves out the wall-clock times and tracebacks."""
        data: dict[str, Any] = {
            "number": self.number,
            "status": self.status,
            "tool": self.tool,
            "error": None if self.error is None else self.error.to_dict(traceback=times),
        }
        if times:
            data["started_at"] = self.started_at
            data["ended_at"] = self.ended_at
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttemptRecord:
        """The inverse of :meth:`to_dict` (times are ``None`` when left out)."""
        return cls(
            data["number"],
            data["status"],
            data["tool"],
            _error(data["error"]),
            data.get("started_at"),
            data.get("ended_at"),
        )


class StepRecord(NamedTuple):
    """What one step (or one map instance, ``index`` set) did.

    ``tool`` is the tool the step calls (``flow`` for a sub-flow step); ``fallback`` names
    the fallback tool when it produced the outputs. ``inputs`` are the bound inputs,
    ``outputs`` what the step wrote to the context (for an instance: its outputs).
    ``attempts`` has one entry per call made. ``children`` holds the records of a
    sub-flow's steps or of a map's instances, in canonical / index order. Times are
    wall-clock seconds since the epoch (``None`` for a step that never called anything).

    ``cached`` is ``True`` when the outputs came from the executor's step cache: no call
    was made, and the record is otherwise the one the call would have made (one
    completed attempt, timed by the lookup). It is left out of the deterministic
    projection, so a run's digest is the same whether its calls hit the cache or not.
    """

    step_id: str
    status: StepStatus
    tool: str | None = None
    flow: str | None = None
    inputs: Mapping[str, Any] = _EMPTY
    outputs: Mapping[str, Any] = _EMPTY
    attempts: tuple[AttemptRecord, ...] = ()
    error: ErrorInfo | None = None
    index: int | None = None  # type: ignore[assignment]  # the map index, not tuple.index
    children: tuple[StepRecord, ...] = ()
    fallback: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    cached: bool = False

    def to_dict(self, *, times: bool = True) -> dict[str, Any]:
        """Plain JSON data; ``times=False`` gives the deterministic projection (no times,
        no tracebacks, no ``cached``)."""
        data: dict[str, Any] = {
            "step_id": self.step_id,
            "status": self.status,
            "tool": self.tool,
            "flow": self.flow,
            "inputs": dict(self.inputs),
            "outputs": dict(self.outputs),
            "attempts": [a.to_dict(times=times) for a in self.attempts],
            "error": None if self.error is None else self.error.to_dict(traceback=times),
            "index": self.index,
            "children": [c.to_dict(times=times) for c in self.children],
            "fallback": self.fallback,
        }
        if times:
            data["started_at"] = self.started_at
            data["ended_at"] = self.ended_at
            data["cached"] = self.cached
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepRecord:
        """The inverse of :meth:`to_dict` (times are ``None`` and ``cached`` is ``False``
        when left out)."""
        return cls(
            data["step_id"],
            data["status"],
            data["tool"],
            data["flow"],
            data["inputs"],
            data["outputs"],
            tuple(AttemptRecord.from_dict(a) for a in data["attempts"]),
            _error(data["error"]),
            data["index"],
            tuple(cls.from_dict(c) for c in data["children"]),
            data["fallback"],
            data.get("started_at"),
            data.get("ended_at"),
            bool(data.get("cached", False)),
        )

    def walk(self) -> Iterator[StepRecord]:
        """This record, then its children's records depth-first."""
        yield self
        for child in self.children:
            yield from child.walk()


class ExecutionResult:
    """The outcome of one run (treat it as read-only).

    ``output`` is the final context (flow inputs plus every step's outputs, in canonical
    order, JSON-mode values). ``steps`` are the records in canonical order. A failed run
    has ``success=False`` and ``error``; it does not raise unless ``raise_for_error()``
    is called. ``digest`` (sha256 of the canonical JSON of output and records without
    times) is computed on first access, so runs that never read it do not pay for it.

    The ``cause`` keyword keeps the exception behind ``error`` when the run happened in
    this process (the innermost tool's exception for a failed sub-flow or map instance),
    for ``raise_for_error()`` to chain. It is not part of the digest or the repr and is
    not pickled: a result unpickled elsewhere, or a failure restored from a journal, has
    none.
    """

    __slots__ = (
        "_cause",
        "_digest",
        "error",
        "flow_name",
        "flow_version",
        "output",
        "run_id",
        "steps",
        "success",
    )

    def __init__(
        self,
        run_id: str,
        flow_name: str,
        flow_version: str,
        success: bool,
        output: dict[str, Any],
        steps: tuple[StepRecord, ...],
        error: ErrorInfo | None = None,
        *,
        cause: BaseException | None = None,
    ) -> None:
        self.run_id = run_id
        self.flow_name = flow_name
        self.flow_version = flow_version
        self.success = success
        self.output = output
        self.steps = steps
        self.error = error
        self._digest: str | None = None
        self._cause = cause

    def __getstate__(self) -> dict[str, Any]:
        # Every slot but the cause: an exception may hold anything, pickled or not.
        return {name: getattr(self, name) for name in self.__slots__ if name != "_cause"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self._cause = None

    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON of ``output`` and the records without times."""
        if self._digest is None:
            self._digest = _digest(self.deterministic_view())
        return self._digest

    def __repr__(self) -> str:
        return (
            f"ExecutionResult(run_id={self.run_id!r}, flow_name={self.flow_name!r}, "
            f"flow_version={self.flow_version!r}, success={self.success!r}, "
            f"steps={len(self.steps)}, error={self.error!r})"
        )

    def deterministic_view(self) -> dict[str, Any]:
        """What the digest covers: flow identity, success, output and untimed records."""
        return {
            "flow": self.flow_name,
            "version": self.flow_version,
            "success": self.success,
            "output": self.output,
            "steps": [s.to_dict(times=False) for s in self.steps],
        }

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON data, in a stable shape (what ``dagwright run --json``
        prints): ``run_id``, ``flow``, ``version``, ``success``, ``status``
        (``"succeeded"`` or ``"failed"``), ``digest``, ``output`` (the final context),
        ``error`` (:meth:`ErrorInfo.to_dict`, with its traceback, or ``None``) and
        ``steps`` (:meth:`StepRecord.to_dict` each, with times). ``json.dumps`` takes it
        as it is, for every result: the context and the records hold JSON-mode values.
        """
        error = self.error
        return {
            "run_id": self.run_id,
            "flow": self.flow_name,
            "version": self.flow_version,
            "success": self.success,
            "status": "succeeded" if self.success else "failed",
            "digest": self.digest,
            "output": self.output,
            "error": None if error is None else error.to_dict(),
            "steps": [record.to_dict() for record in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExecutionResult:
        """The inverse of :meth:`to_dict` (e.g. for a result read back from ``dagwright
        run --json``). ``status`` and ``digest`` are derived, so they are not read: the
        digest is computed again from the data. The result has no ``cause``."""
        error = data["error"]
        return cls(
            data["run_id"],
            data["flow"],
            data["version"],
            data["success"],
            dict(data["output"]),
            tuple(StepRecord.from_dict(record) for record in data["steps"]),
            None if error is None else ErrorInfo.from_dict(error),
        )

    def step(self, step_id: str) -> StepRecord:
        """The top-level record of ``step_id``; ``KeyError`` if it has none."""
        for record in self.steps:
            if record.step_id == step_id:
                return record
        raise KeyError(step_id)

    def timeline(self, origin: float | None = None) -> list[TimelineBar]:
        """The run's records as timeline bars, pure data in canonical order: a bar per
        step, map instance and sub-flow step, with its path, tool, status, start and end
        in seconds from ``origin`` (a wall-clock time; by default the earliest recorded
        start), attempts, cache hit, input size and error. See
        :func:`dagwright.profiling.timeline`."""
        from dagwright.profiling._timeline import timeline

        return timeline(self, origin)

    def raise_for_error(self) -> ExecutionResult:
        """Raise :class:`RunFailedError` if the run failed; return ``self`` otherwise.

        The error's ``__cause__`` is the exception that failed the run, when the run
        happened in this process (see the class docstring).
        """
        if not self.success:
            err = self.error
            detail = (
                f"step {err.step_id!r} failed: [{err.code}] {err.type}: {err.message}"
                if err is not None
                else "run failed"
            )
            raise RunFailedError(
                f"run {self.run_id} of flow {self.flow_name!r}: {detail}", result=self
            ) from self._cause
        return self

"""The replay check: run a recorded run again and compare the two, record by record.

:func:`verify` (``FlowExecutor.verify``) reads a run from the executor's store without
taking its lease (a live run may be verified: it is only read), finds its flow as a
resume does, and runs that flow again from the recorded inputs, under the same run id,
against a scratch store (a fresh ``InMemoryCheckpointer``). Nothing is written to the
user's store or step cache (the cache is not consulted either: a replay makes its
calls), and ``current_call().idempotency_key`` inside a tool is the recorded call's.

Calls of ``idempotent=False`` tools (a step's ``intent_tools``) are not made unless
``allow_side_effects``. Their recorded outcomes are given to the replay instead, as the
:class:`~dagwright._execution.journal.Restore` a resume would get, built from the
completion entries of the units that made such a call: a tool step whose record has an
attempt of one (its tool or its fallback), a map instance whose record, or any record
inside it, has one. A sub-flow step's own entry is never used (its inner steps are
journaled on their own). Those units are ``reused``, not compared. A call of such a tool
that the record holds no result for (the recorded run never made it, or it failed, or
the replay went another way) is *withheld*: the unit fails at once with
``CallWithheldError`` and no call is made; see :attr:`VerifyReport.withheld`.

The comparison walks the places (frame path, step id, map index) of every record in the
journal's completion entries (``step`` and ``instance``, nested children included) in
canonical order: by step index, then map index, depth first, the records inside a step
(a map's instances, a sub-flow's steps) before the step's own record, so the divergence
named is the innermost place that differs. A record that failed or was cancelled is not
a result: it is not compared, nor anything inside it. Each other record is compared with
the replay's record at the same place: the status first, then the outputs, field by
field, in the recorded record's order, then the fields only the replay has. The first
difference is the :class:`Divergence`. Records never depend on completion order, so
neither does the comparison.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from dagwright._execution.canonical import canonical_json
from dagwright._execution.journal import Restore
from dagwright._execution.plan import TOOL, Plan, StepPlan
from dagwright._execution.scheduler import RunMachine
from dagwright._misuse import check_run_id, flow_ref_error, need_checkpointer
from dagwright._runs import Run
from dagwright.checkpoint.inspect import _Journal
from dagwright.checkpoint.memory import InMemoryCheckpointer
from dagwright.checkpoint.protocol import RunHeader
from dagwright.errors import CallWithheldError, UsageError
from dagwright.flows import Flow
from dagwright.lanes.threads import drive_sync
from dagwright.results import ErrorInfo, ExecutionResult, StepRecord

if TYPE_CHECKING:
    from dagwright.compiler import CompiledFlow
    from dagwright.executor import FlowExecutor

__all__ = ["Divergence", "VerifyReport", "verify"]

StepPath = tuple[str | int, ...]
"""A place in a run as ``CallContext.path`` names it: the ids of the steps from the top
(sub-flow and map steps, then the step), each map step followed by its instance index."""

Place = tuple[StepPath, str, int | None]
"""A record's place: its frame's path, its step id, its map index (``None`` outside one)."""

_NOT_RESULTS = frozenset({"failed", "cancelled"})
_LAST = sys.maxsize


@dataclass(frozen=True)
class Divergence:
    """The first difference between a recorded run and its replay.

    ``step`` is the step id (inside a sub-flow, the inner step's), ``index`` the map
    index path from the top (``()`` outside any map, ``(3,)`` for instance 3, ``(3, 0)``
    for instance 0 of a map inside instance 3's sub-flow) and ``path`` the whole step
    path, both as ``CallContext`` gives them for a call at that place. ``kind`` is
    ``"status"`` when the record's status differs (``field`` is then ``"status"`` and
    ``recorded``/``new`` the two statuses, ``error`` the replay's error if it has one,
    e.g. a recorded completion the replay failed), else ``"output"``: ``field`` is the
    output field that differs and ``recorded``/``new`` its two values (JSON-mode).
    ``missing`` is ``"recorded"`` or ``"new"`` when that side has no such output field
    (its value is then ``None``), else ``None``.
    """

    step: str
    index: tuple[int, ...]
    path: StepPath
    field: str
    recorded: Any
    new: Any
    kind: Literal["status", "output"] = "output"
    missing: Literal["recorded", "new"] | None = None
    error: ErrorInfo | None = None

    @property
    def where(self) -> str:
        """The place as text: step ids joined by ``/``, map indices in brackets
        (``enrich[2]/fetch``)."""
        return path_text(self.path)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: ``step``, ``index`` and ``path`` (lists), ``where``, ``kind``,
        ``field``, ``recorded``, ``new``, ``missing`` and ``error``
        (``ErrorInfo.to_dict()``, or ``None``)."""
        return {
            "step": self.step,
            "index": list(self.index),
            "path": list(self.path),
            "where": self.where,
            "kind": self.kind,
            "field": self.field,
            "recorded": self.recorded,
            "new": self.new,
            "missing": self.missing,
            "error": None if self.error is None else self.error.to_dict(),
        }

    def __str__(self) -> str:
        """One line: where, what, and the recorded and new values."""
        what = "status" if self.kind == "status" else f"output {self.field!r}"
        recorded = "(no such field)" if self.missing == "recorded" else _show(self.recorded)
        new = "(no such field)" if self.missing == "new" else _show(self.new)
        text = f"{self.where}: {what}: recorded {recorded}, replay {new}"
        if self.kind == "status" and self.error is not None:
            error = self.error
            text += f" ([{error.code}] {error.type}: {' '.join(error.message.split())})"
        return text


@dataclass(frozen=True)
class VerifyReport:
    """What :meth:`FlowExecutor.verify` found.

    ``divergence`` is the first difference between the recorded run and its replay, in
    canonical order, or ``None`` (:attr:`ok`). ``compared`` counts the recorded records
    compared with the replay's (every step, map instance and sub-flow step the record
    completed or skipped, at any depth). ``reused`` lists, in canonical order, the
    places whose recorded outcome the replay used instead of calling an
    ``idempotent=False`` tool (not compared); ``withheld`` the places where the replay
    needed a call of such a tool that the record holds no result for, so it made none
    (the unit failed with ``CallWithheldError``; it is compared only when the record has
    a completion there, which then differs); ``unreached`` the recorded places the replay
    has no record for, because it stopped before them (after a withheld call, or a
    failure the recorded run had too): not compared. ``result`` is the replay's result
    (its ``run_id`` is the recorded run's).
    """

    run_id: str
    flow_name: str
    flow_version: str
    divergence: Divergence | None
    compared: int
    reused: tuple[StepPath, ...]
    result: ExecutionResult
    withheld: tuple[StepPath, ...] = ()
    unreached: tuple[StepPath, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the replay reproduced every record it was compared with."""
        return self.divergence is None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: ``run_id``, ``flow``, ``version``, ``ok``, ``divergence``
        (:meth:`Divergence.to_dict`, or ``None``), ``compared``, ``reused``,
        ``withheld`` and ``unreached`` (step paths as lists) and ``result``
        (:meth:`ExecutionResult.to_dict`)."""
        return {
            "run_id": self.run_id,
            "flow": self.flow_name,
            "version": self.flow_version,
            "ok": self.ok,
            "divergence": None if self.divergence is None else self.divergence.to_dict(),
            "compared": self.compared,
            "reused": [list(path) for path in self.reused],
            "withheld": [list(path) for path in self.withheld],
            "unreached": [list(path) for path in self.unreached],
            "result": self.result.to_dict(),
        }


def path_text(path: Iterable[str | int]) -> str:
    """A step path as text: ``("enrich", 2, "fetch")`` is ``enrich[2]/fetch``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f"/{part}" if text else part
    return text


def _show(value: Any, limit: int = 200) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def step_path(place: Place) -> StepPath:
    """The step path of a place (``CallContext.path`` of a call there)."""
    frame, step_id, index = place
    return (*frame, step_id) if index is None else (*frame, step_id, index)


# ---- the check -------------------------------------------------------------------------


def verify(
    executor: FlowExecutor,
    run_id: str,
    flow: Flow | None = None,
    *,
    allow_side_effects: bool = False,
) -> VerifyReport:
    """Replay run ``run_id`` of ``executor``'s store and compare it with its record (see
    the module docstring and :meth:`FlowExecutor.verify`)."""
    executor._check_open()
    check_run_id(run_id, optional=False)
    checkpointer = need_checkpointer(executor.checkpointer, "verify")
    if flow is not None and not isinstance(flow, Flow):
        raise flow_ref_error(flow, names=False)
    if not isinstance(allow_side_effects, bool):
        raise UsageError(
            f"allow_side_effects must be True or False, got {type(allow_side_effects).__name__}",
            hint="pass allow_side_effects=True to let the replay call idempotent=False tools",
        )
    header, entries = checkpointer.load(run_id)  # read only: no lease is taken
    _check_entries(run_id, entries, getattr(checkpointer, "path", None))
    compiled = executor._recorded_flow(header, flow, verb="verify")
    plan = compiled.plan
    order = _Order(plan)
    completions = [entry for entry in entries if entry["kind"] in ("step", "instance")]
    restore: Restore | None = None
    reused: list[Place] = []
    if not allow_side_effects:
        restore, reused = _reusable(plan, completions)
    result = _replay(executor, compiled, header, restore, allow_side_effects)

    new = _places(result.steps)
    divergence, compared, unreached = _compare_runs(completions, new, reused, order)
    withheld = [
        place
        for place, record in new.items()
        if record.error is not None
        and record.error.code == CallWithheldError.code
        and record.error.index == record.index
    ]
    return VerifyReport(
        run_id=run_id,
        flow_name=header.flow_name,
        flow_version=header.flow_version,
        divergence=divergence,
        compared=compared,
        reused=tuple(step_path(place) for place in sorted(reused, key=order.key)),
        result=result,
        withheld=tuple(step_path(place) for place in sorted(withheld, key=order.key)),
        unreached=unreached,
    )


def _compare_runs(
    completions: list[dict[str, Any]],
    new: dict[Place, StepRecord],
    reused: list[Place],
    order: _Order,
) -> tuple[Divergence | None, int, tuple[StepPath, ...]]:
    """The first divergence, how many records were compared, and the recorded places the
    replay did not reach."""
    recorded: dict[Place, StepRecord] = {}
    for entry in completions:
        record = StepRecord.from_dict(entry["record"])
        _flatten(record, tuple(entry["path"]), recorded, results=True)
    used = {step_path(place) for place in reused}
    divergence: Divergence | None = None
    compared = 0
    unreached: list[StepPath] = []
    for place in sorted(recorded, key=order.key):
        path = step_path(place)
        if any(path[:depth] in used for depth in range(1, len(path) + 1)):
            continue  # used from the record, or inside what was
        now = new.get(place)
        if now is None:
            unreached.append(path)
            continue
        compared += 1
        if divergence is None:
            divergence = _compare(recorded[place], now, path)
    return divergence, compared, tuple(unreached)


def _places(records: Iterable[StepRecord]) -> dict[Place, StepRecord]:
    """The replay's records by place, failures included."""
    found: dict[Place, StepRecord] = {}
    for record in records:
        _flatten(record, (), found, results=False)
    return found


def _check_entries(run_id: str, entries: list[dict[str, Any]], where: object) -> None:
    """``CheckpointCorruptError`` (as ``read_run`` raises it) for an entry dagwright did
    not write, before anything is replayed."""
    journal = _Journal(run_id, None if where is None else str(where))
    for number, entry in enumerate(entries):
        journal.add(number, entry)


def _flatten(
    record: StepRecord, frame: StepPath, into: dict[Place, StepRecord], *, results: bool
) -> None:
    """Index ``record`` and what it holds by place. With ``results`` (the recorded side)
    a failed or cancelled record is not a result: neither it nor anything inside it is
    indexed."""
    if results and record.status in _NOT_RESULTS:
        return
    into[(frame, record.step_id, record.index)] = record
    if record.index is not None:  # a map instance: its sub-flow's steps
        inner = (*frame, record.step_id, record.index)
        for child in record.children:
            _flatten(child, inner, into, results=results)
        return
    for child in record.children:
        # A map step holds its instances (same frame); a sub-flow step its inner steps.
        where = frame if child.index is not None else (*frame, record.step_id)
        _flatten(child, where, into, results=results)


def _compare(was: StepRecord, now: StepRecord, path: StepPath) -> Divergence | None:
    """The first difference between a recorded record and the replay's: status, then
    outputs in the recorded record's field order, then fields only the replay has."""
    index = tuple(part for part in path if isinstance(part, int))

    def differ(**fields: Any) -> Divergence:
        return Divergence(step=was.step_id, index=index, path=path, **fields)

    if was.status != now.status:
        return differ(
            field="status", recorded=was.status, new=now.status, kind="status", error=now.error
        )
    old_outputs, new_outputs = was.outputs, now.outputs
    for name, value in old_outputs.items():
        if name not in new_outputs:
            return differ(field=name, recorded=value, new=None, missing="new")
        if not _same(value, new_outputs[name]):
            return differ(field=name, recorded=value, new=new_outputs[name])
    for name, value in new_outputs.items():
        if name not in old_outputs:
            return differ(field=name, recorded=None, new=value, missing="recorded")
    return None


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON: ``1`` and ``1.0``, or ``1`` and ``true``, differ (``==`` says they
    do not)."""
    try:
        return canonical_json(a) == canonical_json(b)
    except (TypeError, ValueError):
        return bool(a == b)


# ---- what the replay reuses ------------------------------------------------------------


def _reusable(plan: Plan, completions: list[dict[str, Any]]) -> tuple[Restore, list[Place]]:
    """The recorded outcomes of the units that called an ``idempotent=False`` tool, as
    a :class:`Restore`, and their places."""
    tools = _intent_tools(plan)
    restore = Restore()
    places: list[Place] = []
    if not tools:
        return restore, places
    for entry in completions:
        frame, step_id = tuple(entry["path"]), entry["step"]
        record = StepRecord.from_dict(entry["record"])
        if entry["kind"] == "step":
            step = _step_at(plan, frame, step_id)
            if step is None or step.kind != TOOL or step.subplan is not None:
                continue  # a map's instances and a sub-flow's steps are entries of their own
            if _calls(record, step.intent_tools):
                restore.steps[(frame, step_id)] = record
                places.append((frame, step_id, None))
        elif any(_calls(inner, tools) for inner in record.walk()):
            _, done = restore.instances.setdefault((frame, step_id), (entry["count"], {}))
            done[entry["index"]] = record
            places.append((frame, step_id, entry["index"]))
    return restore, places


def _calls(record: StepRecord, tools: frozenset[str]) -> bool:
    """Whether ``record`` shows a call of one of ``tools`` (an attempt, whatever its
    outcome: a failed call may have had its effect)."""
    return any(attempt.tool in tools for attempt in record.attempts)


def _intent_tools(plan: Plan) -> frozenset[str]:
    """Every ``idempotent=False`` tool the plan and its sub-plans may call."""
    found: set[str] = set()
    stack = [plan]
    while stack:
        current = stack.pop()
        for step in current.steps:
            found |= step.intent_tools
            if step.subplan is not None:
                stack.append(step.subplan)
    return frozenset(found)


def _step_at(plan: Plan, frame: StepPath, step_id: str) -> StepPlan | None:
    """The compiled step ``step_id`` of the frame at path ``frame``, if there is one."""
    current: Plan | None = plan
    for part in frame:
        if isinstance(part, int):
            continue
        step = _find(current, part)
        current = None if step is None else step.subplan
    return _find(current, step_id)


def _find(plan: Plan | None, step_id: str) -> StepPlan | None:
    if plan is None:
        return None
    return next((step for step in plan.steps if step.id == step_id), None)


class _Order:
    """The canonical sort key of a place: per step on its path, its index in its plan
    and its map index; a step's own record after everything inside it."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._ids: dict[int, dict[str, StepPlan]] = {}

    def _steps(self, plan: Plan) -> Mapping[str, StepPlan]:
        ids = self._ids.get(id(plan))
        if ids is None:
            ids = self._ids[id(plan)] = {step.id: step for step in plan.steps}
        return ids

    def key(self, place: Place) -> tuple[tuple[int, int], ...]:
        parts = step_path(place)
        segments: list[tuple[int, int]] = []
        plan: Plan | None = self._plan
        i = 0
        while i < len(parts):
            part = parts[i]
            step = (
                self._steps(plan).get(part) if plan is not None and isinstance(part, str) else None
            )
            i += 1
            item = _LAST
            if i < len(parts) and isinstance(parts[i], int):
                item = int(parts[i])
                i += 1
            segments.append((_LAST - 1 if step is None else step.index, item))
            plan = None if step is None else step.subplan
        segments.append((_LAST, _LAST))
        return tuple(segments)


# ---- the replay ------------------------------------------------------------------------


def _replay(
    executor: FlowExecutor,
    compiled: CompiledFlow,
    header: RunHeader,
    restore: Restore | None,
    side_effects: bool,
) -> ExecutionResult:
    """Run the recorded run's flow again from its inputs, under its run id, on the sync
    lane, journaled to a scratch store, without the step cache or any hook."""
    plan, run_id = compiled.plan, header.run_id
    scratch = InMemoryCheckpointer()
    data = dict(header.inputs)
    now = time.time()
    start = RunHeader(run_id, plan.flow_name, plan.flow_version, plan.digest, data, "running",
                      now, now)  # fmt: skip
    leases = executor._leases
    owner = leases.begin(scratch, start)
    machine = RunMachine(
        plan, data, journal=True, restore=restore, run_id=run_id, side_effects=side_effects
    )
    run = Run(compiled, machine, None, run_id, scratch, owner)
    blocked = executor._enter(run)
    try:
        lane = drive_sync(
            machine, executor._tools, executor.max_concurrency, executor._runner, None,
            run.saver, None,
        )  # fmt: skip
        for _ in lane:
            pass
        return executor._finish(run)
    except BaseException as exc:
        leases.abort(run, exc)
        raise
    finally:
        executor._leave(run, blocked)

"""Reading a stored run without touching it: :func:`read_run` and :class:`StoredRun`.

A journal holds one entry per step that completed or was skipped, one per map instance
that completed (or failed under ``collect``), and one failure entry per step or map
instance that ended failed or cancelled, with its whole record; see
``dagwright/_execution/journal.py``. Per unit, the record read back is its last outcome:
a completion entry over any failure entry (a resume never reruns a completed unit), else
the latest failure entry (a resume reruns a failed unit and journals its new outcome). A
call still in flight has no entry. So a stored run shows how every unit last ended:

* :attr:`StoredRun.steps`: the records of the top-level steps, equal to the run's
  ``ExecutionResult.steps`` for a finished run (failed and cancelled records included;
  map instances with their index, sub-flow steps with their inner records);
* :attr:`StoredRun.in_progress`: for a step with no record of its own yet, the records
  of what inside it already ended (a map's instances in index order, a sub-flow's inner
  steps);
* :attr:`StoredRun.statuses`: one status per step, ``"pending"`` for a step of the flow
  the journal knows nothing about (only when the flow is given);
* :attr:`StoredRun.in_doubt`: the calls of ``idempotent=False`` tools whose intent is
  journaled and whose outcome is not (a resume does not make them again unless their
  step says ``on_interrupted="retry"``), and :attr:`StoredRun.recoveries`, how many
  times ``recover`` resumed the run.

A journal written before failure entries existed loads the same way; its failed and
cancelled steps simply have no record (``"pending"``).

Reading never takes the lease and never writes: it is safe while another process runs
or resumes the run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from dagwright._execution.journal import FAILURE, INTENT, RECOVERY, settles
from dagwright.checkpoint.lease import Lease, is_gone, lease_fields
from dagwright.checkpoint.protocol import Checkpointer, RunHeader
from dagwright.errors import CheckpointCorruptError, CheckpointMismatchError
from dagwright.results import StepRecord

if TYPE_CHECKING:
    from dagwright.compiler import CompiledFlow
    from dagwright.flows import Flow

__all__ = ["STORED_STATUSES", "StoredRun", "read_run"]

STORED_STATUSES = (
    "completed",
    "skipped",
    "failed",
    "cancelled",
    "running",
    "incomplete",
    "pending",
)
"""The values of :attr:`StoredRun.statuses`, see there."""

_RECORD_STATUSES = frozenset({"completed", "failed", "skipped", "cancelled"})
_FAILURE_STATUSES = frozenset({"failed", "cancelled"})
_KINDS = frozenset({"step", "instance", FAILURE})
_EMPTY: Mapping[str, Any] = MappingProxyType({})

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class StoredRun:
    """A run as its checkpoint holds it, read at one moment.

    ``header`` is the run's header (its status is the run's: ``running``, ``succeeded``,
    ``failed`` or ``interrupted``). ``steps`` are the records the journal holds for
    top-level steps, the last outcome of each (completed, skipped, failed or
    cancelled), in canonical order when the flow was given to :func:`read_run`, else
    in the order they were first recorded (always a valid dependency order).
    ``in_progress`` maps each top-level step that has no record yet but something
    inside it recorded to those records (map instances in index order, each with its
    ``index``; sub-flow inner steps in canonical order when the compiled flow was
    given, else in recorded order), and ``item_counts`` such a map step to its number of
    items. ``lease`` is the run's lease when read (``None``: nobody holds it) and
    ``live`` whether its owner was alive then. ``order`` is the flow's canonical step
    ids when the flow was given, else ``None``.
    """

    header: RunHeader
    steps: tuple[StepRecord, ...]
    lease: Lease | None
    live: bool = False
    in_progress: Mapping[str, tuple[StepRecord, ...]] = field(default_factory=lambda: _EMPTY)
    item_counts: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    order: tuple[str, ...] | None = None
    in_doubt: tuple[Mapping[str, Any], ...] = ()
    """Calls of non-idempotent tools made with no outcome recorded, in journal order:
    ``{"path", "step", "index", "tool", "attempt"}`` each (``index`` ``None`` outside a
    map instance of a tool)."""
    recoveries: int = 0
    """How many times ``FlowExecutor.recover`` resumed the run."""

    @property
    def statuses(self) -> dict[str, str]:
        """Step id -> the status of the step itself (never of its instances).

        ``"completed"`` / ``"skipped"`` / ``"failed"`` / ``"cancelled"``: its record
        (``StepRecord.status``); a step skipped under ``on_error="skip"`` is
        ``"skipped"``, its record keeps the error; a failed or cancelled one is run
        again by a resume. ``"running"``: part of it is recorded (in
        :attr:`in_progress`) and a live owner holds the run; ``"incomplete"``: part of
        it is recorded and nobody runs it now (a resume finishes it). ``"pending"``:
        nothing of it is recorded: not started or in flight, or (in a journal written
        before failure entries existed) failed or cancelled; only listed when the flow
        was given; a resume runs it. In canonical order when the flow was given, else
        recorded order.
        """
        found: dict[str, str] = {record.step_id: record.status for record in self.steps}
        partial = "running" if self.live else "incomplete"
        for step_id in self.in_progress:
            found.setdefault(step_id, partial)
        if self.order is None:
            return found
        ordered = {step_id: found.pop(step_id, "pending") for step_id in self.order}
        ordered.update(found)
        return ordered

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: ``header``, ``lease`` (as ``lease_fields`` gives it, or
        ``None``), ``live``, ``statuses``, ``steps`` and ``in_progress`` (records as
        ``StepRecord.to_dict()``), ``item_counts``, ``order``, ``in_doubt`` and
        ``recoveries``."""
        lease = lease_fields(self.lease)
        return {
            "header": self.header.to_dict(),
            "lease": None if lease is None else dict(lease),
            "live": self.live,
            "statuses": self.statuses,
            "steps": [record.to_dict() for record in self.steps],
            "in_progress": {
                step_id: [record.to_dict() for record in records]
                for step_id, records in self.in_progress.items()
            },
            "item_counts": dict(self.item_counts),
            "order": None if self.order is None else list(self.order),
            "in_doubt": [dict(call) for call in self.in_doubt],
            "recoveries": self.recoveries,
        }

    def step(self, step_id: str) -> StepRecord:
        """The record of top-level step ``step_id``; ``KeyError`` if the journal has none."""
        for record in self.steps:
            if record.step_id == step_id:
                return record
        raise KeyError(step_id)


def read_run(
    checkpointer: Checkpointer, run_id: str, *, flow: Flow | CompiledFlow | None = None
) -> StoredRun:
    """Read run ``run_id`` from ``checkpointer`` without taking its lease or writing.

    With ``flow`` (the run's flow, compiled or not), records come in canonical order and
    :attr:`StoredRun.statuses` lists every step of the flow; a flow with another name
    than the run's raises :class:`~dagwright.errors.CheckpointMismatchError`. Raises
    :class:`~dagwright.errors.CheckpointNotFoundError` for an unknown run and
    :class:`~dagwright.errors.CheckpointCorruptError` (naming the store and the run) for
    a journal entry that is not one dagwright wrote.
    """
    header, entries = checkpointer.load(run_id)
    lease = checkpointer.lease(run_id)
    live = lease is not None and not is_gone(lease, time.time())
    order, inner_orders = _orders(flow, header)
    where = getattr(checkpointer, "path", None)
    journal = _Journal(run_id, None if where is None else str(where))
    for number, entry in enumerate(entries):
        journal.add(number, entry)
    steps = _sorted(journal.steps.get((), {}), order)
    recorded = {record.step_id for record in steps}
    in_progress: dict[str, tuple[StepRecord, ...]] = {}
    counts: dict[str, int] = {}
    for step_id, (count, done) in journal.instances.get((), {}).items():
        if step_id not in recorded:
            in_progress[step_id] = tuple(done[i] for i in sorted(done))
            counts[step_id] = count
    for path, records in journal.steps.items():
        if len(path) == 1 and path[0] not in recorded and isinstance(path[0], str):
            in_progress.setdefault(path[0], _sorted(records, inner_orders.get(path[0])))
    if order is not None:
        position = {step_id: i for i, step_id in enumerate(order)}
        keys = sorted(in_progress, key=lambda s: position.get(s, len(position)))
        in_progress = {key: in_progress[key] for key in keys}
    return StoredRun(
        header=header,
        steps=steps,
        lease=lease,
        live=live,
        in_progress=MappingProxyType(in_progress),
        item_counts=MappingProxyType(counts),
        order=order,
        in_doubt=tuple(journal.in_doubt.values()),
        recoveries=journal.recoveries,
    )


def _orders(
    flow: Flow | CompiledFlow | None, header: RunHeader
) -> tuple[tuple[str, ...] | None, dict[str, tuple[str, ...]]]:
    """The canonical step ids of ``flow``, and those of the sub-flow each step calls
    (known only for a compiled flow)."""
    if flow is None:
        return None, {}
    from dagwright.compiler import CompiledFlow

    definition = flow.flow if isinstance(flow, CompiledFlow) else flow
    if definition.name != header.flow_name:
        raise CheckpointMismatchError(
            f"run {header.run_id!r} is a run of flow {header.flow_name!r}, not of "
            f"{definition.name!r}",
            hint="pass the flow the run was started with, or no flow",
        )
    if not isinstance(flow, CompiledFlow):
        from dagwright.compiler._graph import build_edges, build_steps
        from dagwright.compiler._state import Analysis

        analysis = Analysis(flow, {})
        build_steps(analysis)
        build_edges(analysis)
        return tuple(state.id for state in analysis.in_order()), {}
    inner: dict[str, tuple[str, ...]] = {}
    for step in flow.plan.steps:
        sub = flow.subflows.get(step.target) if step.subplan is not None else None
        if sub is not None:
            inner[step.id] = sub.canonical_order
    return flow.canonical_order, inner


def _sorted(
    records: Mapping[str, StepRecord], order: tuple[str, ...] | None
) -> tuple[StepRecord, ...]:
    """``records`` (by step id, in recorded order) in canonical ``order`` when known;
    ids not in it follow in recorded order."""
    if order is None:
        return tuple(records.values())
    position = {step_id: i for i, step_id in enumerate(order)}
    keys = sorted(records, key=lambda s: position.get(s, len(position)))
    return tuple(records[key] for key in keys)


class _Journal:
    """Journal entries indexed like :class:`~dagwright._execution.journal.Restore`
    does (an entry seen twice counts once, the last one), checked as they come."""

    def __init__(self, run_id: str, path: str | None) -> None:
        self.run_id = run_id
        self.path = path
        self.steps: dict[Path, dict[str, StepRecord]] = {}
        self.instances: dict[Path, dict[str, tuple[int, dict[int, StepRecord]]]] = {}
        # Units with a completion entry: a failure entry never replaces their record.
        self._done: set[tuple[Path, str, int | None]] = set()
        self.in_doubt: dict[tuple[Path, str, int | None], Mapping[str, Any]] = {}
        self.recoveries = 0

    def add(self, number: int, entry: Any) -> None:
        try:
            kind = entry["kind"]
            if kind == RECOVERY:
                float(entry["at"])
                self.recoveries += 1
                return
            path, step_id = tuple(entry["path"]), entry["step"]
            index = entry.get("index")
            if not isinstance(step_id, str) or not (index is None or isinstance(index, int)):
                raise ValueError(f"step {step_id!r} or index {index!r}")
            if kind == INTENT:
                tool, attempt = entry["tool"], entry["attempt"]
                if not (isinstance(tool, str) and isinstance(attempt, int)):
                    raise ValueError(f"intent of tool {tool!r}, attempt {attempt!r}")
                self.in_doubt[(path, step_id, index)] = MappingProxyType(
                    {"path": list(path), "step": step_id, "index": index, "tool": tool,
                     "attempt": attempt}
                )  # fmt: skip
                return
            record = StepRecord.from_dict(entry["record"])
            if settles(entry):
                self.in_doubt.pop((path, step_id, index), None)
            if kind not in _KINDS or not isinstance(step_id, str):
                raise ValueError(f"unknown kind {kind!r} or step {step_id!r}")
            statuses = _FAILURE_STATUSES if kind == FAILURE else _RECORD_STATUSES
            if record.step_id != step_id or record.status not in statuses:
                raise ValueError(f"record of step {record.step_id!r} ({record.status!r})")
            if not all(isinstance(part, str | int) for part in path):
                raise ValueError(f"frame path {list(path)!r}")
            if kind == "step" or (kind == FAILURE and "index" not in entry):
                steps = self.steps.setdefault(path, {})
                self._keep((path, step_id, None), kind, steps, step_id, record)
                return
            index, count = entry["index"], entry["count"]
            if not (isinstance(index, int) and isinstance(count, int) and 0 <= index < count):
                raise ValueError(f"instance {index!r} of {count!r}")
            if record.index != index:
                raise ValueError(f"instance {index} holds the record of instance {record.index}")
            by_step = self.instances.setdefault(path, {})
            saved, done = by_step.setdefault(step_id, (count, {}))
            by_step[step_id] = (max(saved, count), done)
            self._keep((path, step_id, index), kind, done, index, record)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            where = f" in {self.path}" if self.path is not None else ""
            raise CheckpointCorruptError(
                f"run {self.run_id!r}{where} is unreadable: journal entry {number} is not "
                f"a dagwright journal entry ({type(exc).__name__}: {exc})",
                hint="the entry was changed outside dagwright or damaged; delete the run "
                "(checkpointer.delete(run_id)) or restore the store from a backup",
                path=self.path,
                run_id=self.run_id,
            ) from exc

    def _keep(
        self,
        unit: tuple[Path, str, int | None],
        kind: str,
        records: dict[Any, StepRecord],
        key: Any,
        record: StepRecord,
    ) -> None:
        """The unit's last outcome: a completion entry over any failure entry (a resume
        never reruns a completed unit), else the latest entry."""
        if kind != FAILURE:
            self._done.add(unit)
        elif unit in self._done:
            return
        records[key] = record

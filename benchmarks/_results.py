"""From samples to judged figures: each library's spread, ratios and the targets' verdicts.

The result of one figure is a plain dict (it is written to ``latest.json`` as is)::

    {"id", "title", "unit", "target", "note",
     "libraries": {name: cell},          # dagwright, floor, chainweaver, langgraph
     "checks": [{"label", "against", "limit", "ratio", "met", "higher", "reason"}],
     "status": "met" | "MISSED" | "not measured"}

A measured cell holds ``median``, ``q1``, ``q3``, ``min``, ``max``, ``n`` (in the figure's
unit), ``ratio_to_floor`` and ``ratio_to_best_peer`` (medians of round-by-round
ratios; ``None`` where there is nothing to divide by), ``ratio_to_floor_spread`` (the
spread of those round-by-round ratios to the floor, as ``median``, ``q1``, ... ``n``)
and ``best_peer``; any other cell
holds ``status`` and ``reason`` (``not installed``, ``unsupported``, ``not measured``).
"""

from __future__ import annotations

import statistics
from typing import Any

from _figures import CRITICAL_PATH_S, Check, Figure, Samples
from _sampling import Spread, paired

LIBRARIES: tuple[str, ...] = ("dagwright", "floor", "chainweaver", "langgraph")
PEERS: tuple[str, ...] = ("chainweaver", "langgraph")
LABELS: dict[str, str] = {
    "dagwright": "dagwright",
    "floor": "floor",
    "chainweaver": "ChainWeaver",
    "langgraph": "LangGraph",
}

Cell = dict[str, Any]


def unavailable(status: str, reason: str) -> Cell:
    """A cell with no measurement: ``status`` and why."""
    return {"status": status, "reason": reason}


def judge(figure: Figure, samples: dict[str, Samples], missing: dict[str, Cell]) -> dict[str, Any]:
    """The result of ``figure`` from each measured library's samples.

    ``samples`` maps a library to its samples (every workload the figure needs);
    ``missing`` maps each other library to its cell (``unavailable(...)``).
    """
    values = {lib: figure.value(s) for lib, s in samples.items()}
    measured = {lib: _cell(values[lib]) for lib in values}
    floor = values.get("floor")
    for lib, cell in measured.items():
        if floor is not None and lib != "floor":
            cell["ratio_to_floor"] = _median_ratio(values[lib], floor)
            if all(d > 0 for d in floor):
                spread = Spread.of(paired(values[lib], floor))
                cell["ratio_to_floor_spread"] = spread.as_dict()
        peers = {p: values[p] for p in PEERS if p in values and p != lib}
        if peers and lib != "floor":
            best = min(peers, key=lambda p: statistics.median(peers[p]))
            cell["ratio_to_best_peer"] = _median_ratio(values[lib], peers[best])
            cell["best_peer"] = best
    libraries = {lib: measured.get(lib) or missing[lib] for lib in LIBRARIES}
    checks = [_check(c, values, libraries) for c in figure.checks]
    return {
        "id": figure.id,
        "title": figure.title,
        "unit": figure.unit,
        "target": figure.target,
        "note": figure.note,
        "libraries": libraries,
        "checks": checks,
        "status": _status(checks),
    }


def not_measured(figure: Figure, cells: dict[str, Cell]) -> dict[str, Any]:
    """The result of a figure whose group could not run (dagwright lacks the feature)."""
    return {
        "id": figure.id,
        "title": figure.title,
        "unit": figure.unit,
        "target": figure.target,
        "note": figure.note,
        "libraries": {lib: cells[lib] for lib in LIBRARIES},
        "checks": [
            {
                "label": c.label,
                "against": c.against,
                "limit": c.limit,
                "ratio": None,
                "met": None,
                "higher": c.higher,
                "reason": cells["dagwright"]["reason"],
            }
            for c in figure.checks
        ],
        "status": "not measured",
    }


def _cell(values: list[float]) -> Cell:
    cell: Cell = {"status": "measured"}
    cell.update(Spread.of(values).as_dict())
    cell.update(
        ratio_to_floor=None, ratio_to_floor_spread=None, ratio_to_best_peer=None, best_peer=None
    )
    return cell


def _median_ratio(numerator: list[float], denominator: list[float]) -> float | None:
    if any(d <= 0 for d in denominator):
        return None
    return statistics.median(paired(numerator, denominator))


def _check(check: Check, values: dict[str, list[float]], cells: dict[str, Cell]) -> Cell:
    result: Cell = {"label": check.label, "against": check.against, "limit": check.limit}
    ours = values.get("dagwright")
    ratio: float | None = None
    reason = ""
    if ours is None:
        reason = cells["dagwright"].get("reason", "dagwright not measured")
    elif check.against == "value":
        ratio = statistics.median(ours)
    elif check.against == "critical path":
        ratio = statistics.median(ours) / CRITICAL_PATH_S
    elif check.against in values:
        ratio = _median_ratio(ours, values[check.against])
    else:
        cell = cells[check.against]
        reason = f"{LABELS[check.against]} {cell.get('reason', cell['status'])}"
    result["ratio"] = ratio
    result["met"] = None if ratio is None else check.meets(ratio)
    result["higher"] = check.higher
    result["reason"] = reason
    return result


def _status(checks: list[Cell]) -> str:
    verdicts = [c["met"] for c in checks if c["met"] is not None]
    if not verdicts:
        return "not measured"
    return "met" if all(verdicts) else "MISSED"

"""``compare.py``'s outputs: the text table, the Markdown report, the JSON file, the chart.

Every output is made from the same list of judged figures (see ``_results.py``) and one
``meta`` dict (date, machine, Python, library versions, settings). The chart needs
matplotlib and is skipped quietly without it.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from _figures import CRITICAL_PATH_S
from _results import LABELS, LIBRARIES

Result = dict[str, Any]


def number(value: float, unit: str) -> str:
    """``value`` with as many digits as its unit and size need."""
    if unit == "s":
        return f"{value:.4f}" if value < 1 else f"{value:.2f}"
    if unit == "x":
        return f"{value:.2f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"x{value:.2f}"


class _Notes:
    """Footnotes: each distinct text once, numbered in order of first use."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def mark(self, text: str) -> str:
        if not text:
            return ""
        if text not in self.texts:
            self.texts.append(text)
        return f" [{self.texts.index(text) + 1}]"


def _cell(result: Result, lib: str, notes: _Notes, markdown: bool) -> str:
    cell = result["libraries"][lib]
    if cell["status"] != "measured":
        short = {"not installed": "not installed", "not measured": "-"}.get(cell["status"], "n/a")
        return short + notes.mark(cell["reason"] if cell["status"] != "not measured" else "")
    unit = result["unit"]
    median = number(cell["median"], unit)
    if markdown:
        spread = f" ({number(cell['q1'], unit)}-{number(cell['q3'], unit)})"
    else:
        half = (cell["q3"] - cell["q1"]) / 2
        spread = f" ±{100 * half / cell['median']:.0f}%" if cell["median"] else ""
    return median + spread + notes.mark(cell.get("note", ""))


def _verdict(result: Result) -> str:
    parts = []
    for check in result["checks"]:
        if check["met"] is None:
            parts.append(f"{check['label']}: n/a")
            continue
        if check.get("higher"):  # a speed-up: met above its limit
            sign = ">" if check["met"] else "<="
        else:
            sign = "<=" if check["met"] else ">"
        against = check["against"]
        name = LABELS.get(against, against)
        parts.append(f"{check['ratio']:.2f} {sign} {check['limit']:g} ({name})")
    return "; ".join(parts)


def rows(results: list[Result], markdown: bool) -> tuple[list[str], list[list[str]], list[str]]:
    """The table's header, its rows and its footnotes."""
    notes = _Notes()
    header = [
        "figure",
        "unit",
        *(LABELS[lib] for lib in LIBRARIES),
        "dagwright / floor",
        "dagwright / best peer",
        "target",
        "measured vs target",
        "status",
    ]
    body = []
    for result in results:
        ours = result["libraries"]["dagwright"]
        best = ours.get("best_peer")
        best_ratio = _ratio(ours.get("ratio_to_best_peer"))
        body.append(
            [
                result["id"] + notes.mark(result["note"]),
                result["unit"],
                *(_cell(result, lib, notes, markdown) for lib in LIBRARIES),
                _ratio(ours.get("ratio_to_floor")),
                best_ratio + (f" ({LABELS[best]})" if best else ""),
                result["target"],
                _verdict(result),
                result["status"],
            ]
        )
    return header, body, notes.texts


def text_table(results: list[Result], meta: dict[str, Any]) -> str:
    """The results as a fixed-width table with its footnotes and a summary line."""
    header, body, notes = rows(results, markdown=False)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    numeric = {1, 2, 3, 4, 5, 6, 7}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i in numeric else c.ljust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()

    out = [_headline(meta), "", line(header), "  ".join("-" * n for n in widths)]
    out.extend(line(r) for r in body)
    out.append("")
    out.extend(f"[{i}] {text}" for i, text in enumerate(notes, 1))
    out.append("")
    out.append(summary(results))
    return "\n".join(out)


def summary(results: list[Result]) -> str:
    """``targets missed: N of M`` and which."""
    judged = [r for r in results if r["status"] in ("met", "MISSED")]
    missed = [r["id"] for r in judged if r["status"] == "MISSED"]
    text = f"targets missed: {len(missed)} of {len(judged)} judged"
    return text + (f" ({', '.join(missed)})" if missed else "")


def _rounds(settings: dict[str, Any]) -> str:
    repeat = settings["repeat"]
    if isinstance(repeat, int):
        return f"{repeat} interleaved rounds"
    slow = {n for group, n in repeat.items() if group != "default"}
    groups = ", ".join(group for group in repeat if group != "default")
    fewer = f" ({'/'.join(map(str, sorted(slow)))} for {groups})" if slow else ""
    return f"{repeat['default']} interleaved rounds{fewer}"


def _headline(meta: dict[str, Any]) -> str:
    machine = meta["machine"]
    settings = meta["settings"]
    return (
        f"dagwright vs the floor and its peers, {meta['date']}: Python {meta['python']}, "
        f"{machine['cores']} cores ({machine['cpu']}), load average "
        f"{machine['load_start']} -> {machine['load_end']}; {_rounds(settings)}, samples >= "
        f"{settings['min_time']} s; cells: median ±half the IQR"
    )


def markdown(results: list[Result], meta: dict[str, Any]) -> str:
    """The Markdown report: provenance, the table (median and IQR), footnotes."""
    header, body, notes = rows(results, markdown=True)
    machine = meta["machine"]
    settings = meta["settings"]
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    lines = [
        "# dagwright comparison benchmark (`benchmarks/compare.py`)",
        "",
        f"* date: {meta['date']}; run took {meta['elapsed_s']:.0f} s",
        f"* machine: {machine['platform']}, {machine['cpu']}, {machine['cores']} cores; "
        f"load average {machine['load_start']} at the start, {machine['load_end']} at the end "
        "(a shared machine: read the ratios, not the absolute times)",
        f"* Python {meta['python']}",
        f"* versions: {versions}",
        f"* settings: {_rounds(settings)}, each sample (the mean of its calls) >= "
        f"{settings['min_time']} s{' (--quick)' if settings['quick'] else ''}; cells are the "
        "median (interquartile range) of the rounds; ratios are medians of round-by-round "
        "ratios",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if i in range(1, 8) else "---" for i in range(len(header))) + "|",
    ]
    lines.extend("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in body)
    lines.append("")
    lines.extend(f"* [{i}] {text}" for i, text in enumerate(notes, 1))
    lines += ["", summary(results), ""]
    return "\n".join(lines)


def write_json(path: Path, results: list[Result], meta: dict[str, Any]) -> None:
    """``{"meta": ..., "figures": [...]}``."""
    path.write_text(json.dumps({"meta": meta, "figures": results}, indent=2) + "\n")


def write_chart(path: Path, results: list[Result]) -> bool:
    """A bar chart per figure (median and IQR per library, the target as a dashed line);
    ``False`` (and nothing written) without matplotlib."""
    try:
        matplotlib: Any = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        pyplot: Any = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        return False
    shown = [r for r in results if r["status"] != "not measured"]
    if not shown:
        return False
    columns = 4
    rows_ = -(-len(shown) // columns)
    fig, axes = pyplot.subplots(rows_, columns, figsize=(4.2 * columns, 3.2 * rows_))
    flat = list(getattr(axes, "flat", [axes]))
    colours = {"dagwright": "#1f77b4", "floor": "#7f7f7f", "chainweaver": "#ff7f0e",
               "langgraph": "#2ca02c"}  # fmt: skip
    for ax, result in zip(flat, shown, strict=False):
        cells = [(lib, result["libraries"][lib]) for lib in LIBRARIES]
        cells = [(lib, c) for lib, c in cells if c["status"] == "measured"]
        names = [LABELS[lib] for lib, _ in cells]
        medians = [c["median"] for _, c in cells]
        errors = [
            [c["median"] - c["q1"] for _, c in cells],
            [c["q3"] - c["median"] for _, c in cells],
        ]
        ax.bar(names, medians, yerr=errors, color=[colours[lib] for lib, _ in cells], capsize=3)
        for limit in _limits(result):
            ax.axhline(limit, color="#d62728", linestyle="--", linewidth=1)
        ax.set_title(f"{result['id']} ({result['status']})", fontsize=9)
        ax.set_ylabel(result["unit"], fontsize=8)
        ax.tick_params(labelsize=7)
        if medians and max(medians) > 20 * min(m for m in medians if m > 0):
            ax.set_yscale("log")
    for ax in flat[len(shown) :]:
        ax.axis("off")
    fig.suptitle("dagwright vs floor and peers (dashed: dagwright's target)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    pyplot.close(fig)
    return True


def _limits(result: Result) -> list[float]:
    """dagwright's targets in the figure's own unit, where they translate."""
    out = []
    for check in result["checks"]:
        against = check["against"]
        if against == "value":
            out.append(check["limit"])
        elif against == "critical path":
            out.append(check["limit"] * CRITICAL_PATH_S)
        else:
            cell = result["libraries"].get(against, {})
            if cell.get("status") == "measured":
                out.append(check["limit"] * cell["median"])
    return out

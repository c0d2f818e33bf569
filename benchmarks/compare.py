"""dagwright vs the floor, ChainWeaver and LangGraph on DESIGN.md section 7's figures.

``python benchmarks/compare.py`` (or ``make compare``) measures every figure of the
performance table on dagwright, on the *floor* (the same work by hand: ``model_validate``
of each step's input, the call, ``model_dump(mode="json")``, a dict merge; see
``_floor.py``), and on ChainWeaver 0.14.1 and LangGraph when they are installed (``pip
install chainweaver==0.14.1 langgraph langgraph-checkpoint-sqlite``; neither is a
dagwright dependency). A peer that lacks a feature says so in its cell.

Figures that share workloads form a group; each group is measured in one process, in
interleaved rounds (every library's sample of every workload, then again), after every
library's answer has been checked equal to the floor's (a mismatch stops the run with an
error naming the workload and the library). Outputs: the table on stdout;
``benchmarks/results/latest.json`` and ``latest.md`` (and ``latest.png`` with
matplotlib) for a full run, ``partial.*`` for a ``--quick`` or ``--only`` run, or
``--json FILE`` with the Markdown and the chart beside it. Exit status: 0; 1 with
``--strict`` when a target is missed; 2 when a workload cannot be measured.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from importlib import metadata
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent
for _path in (str(_HERE), str(_ROOT)):
    if _path not in sys.path:
        sys.path.insert(1, _path)

import _chainweaver  # noqa: E402
import _dagwright_cases  # noqa: E402
import _floor_cases  # noqa: E402
import _langgraph  # noqa: E402
import _report  # noqa: E402
from _figures import EXPECTED, GROUPS, ROUNDS, Figure, select  # noqa: E402
from _results import LIBRARIES, Cell, judge, not_measured, unavailable  # noqa: E402
from _sampling import BenchmarkError, Case, Env, Library, Unsupported, check, sample  # noqa: E402

RESULTS = _HERE / "results"
DEFAULT_ROUNDS, QUICK_ROUNDS = 7, 3
PEER_INSTALL = {
    "chainweaver": "pip install chainweaver==0.14.1",
    "langgraph": "pip install langgraph langgraph-checkpoint-sqlite",
}


def load_libraries(skip: set[str]) -> tuple[dict[str, Library], dict[str, Cell]]:
    """The libraries to measure, and a cell for each peer that is not installed."""
    libraries = {"dagwright": _dagwright_cases.load(), "floor": _floor_cases.load()}
    missing: dict[str, Cell] = {}
    loaders: dict[str, Callable[[], Library | None]] = {
        "chainweaver": _chainweaver.load,
        "langgraph": _langgraph.load,
    }
    for name, loader in loaders.items():
        library = None if name in skip else loader()
        if library is None:
            why = "skipped (--skip)" if name in skip else f"not installed ({PEER_INSTALL[name]})"
            missing[name] = unavailable("not installed", why)
        else:
            libraries[name] = library
    return libraries, missing


def measure_group(
    group: str,
    figures: list[Figure],
    libraries: dict[str, Library],
    missing: dict[str, Cell],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """Check, sample and judge the ``figures`` of ``group`` (one interleaved pass)."""

    def say(text: str) -> None:
        print(f"[{group}] {text}", file=sys.stderr, flush=True)

    needs = list(dict.fromkeys(workload for f in figures for workload in f.needs))
    started = time.perf_counter()
    with ExitStack() as stack:
        loop = asyncio.new_event_loop()
        stack.callback(loop.close)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dw-compare-")))
        env = Env(stack, loop, tmp)
        say("building")
        built: dict[tuple[str, str], Case | Unsupported] = {}
        for workload in needs:
            for name in (n for n in LIBRARIES if n in libraries):
                try:
                    built[name, workload] = libraries[name].build(workload, env)
                except Exception as exc:
                    raise BenchmarkError(
                        f"{workload}: {name} could not be set up: {exc!r}"
                    ) from exc
        ours = [built["dagwright", workload] for workload in needs]
        if all(isinstance(case, Unsupported) for case in ours):
            reason = ours[0].reason if isinstance(ours[0], Unsupported) else ""
            say(f"skipped: {reason}")
            cells = {
                name: missing.get(name) or unavailable("not measured", "") for name in LIBRARIES
            }
            cells["dagwright"] = unavailable("unsupported", reason)
            return [not_measured(f, cells) for f in figures]
        cases = {key: case for key, case in built.items() if isinstance(case, Case)}
        say("checking every library's answers against the floor's")
        first = check(cases, dict(EXPECTED))
        repeat = args.repeat or min(DEFAULT_ROUNDS, ROUNDS.get(group, DEFAULT_ROUNDS))
        samples = sample(cases, repeat=repeat, min_time=args.min_time, first=first, progress=say)
        say(f"done in {time.perf_counter() - started:.0f} s")
    return [judge_figure(f, built, samples, libraries, missing, env) for f in figures]


def judge_figure(
    figure: Figure,
    built: dict[tuple[str, str], Case | Unsupported],
    samples: dict[tuple[str, str], list[float]],
    libraries: dict[str, Library],
    missing: dict[str, Cell],
    env: Env,
) -> dict[str, Any]:
    """The result of one measured figure: a library lacking any workload it needs gets an
    ``unsupported`` cell; cases' notes go into their library's cell."""
    measured: dict[str, dict[str, list[float]]] = {}
    cells = dict(missing)
    for name in (n for n in LIBRARIES if n in libraries):
        lacking = [c for w in figure.needs if isinstance(c := built[name, w], Unsupported)]
        if lacking:
            cells[name] = unavailable("unsupported", lacking[0].reason)
        else:
            measured[name] = {w: samples[name, w] for w in figure.needs}
    result = judge(figure, measured, cells)
    for name in measured:
        notes = [c.note for w in figure.needs if isinstance(c := built[name, w], Case) and c.note]
        if notes:
            result["libraries"][name]["note"] = "; ".join(dict.fromkeys(notes))
    if figure.id == "import":
        counts = env.resources.get("modules loaded", {})
        loaded = ", ".join(f"{module} {n}" for module, n in counts.items())
        result["note"] += f"; modules loaded: {loaded}"
    return result


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=_ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip()


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def meta(
    libraries: dict[str, Library], args: argparse.Namespace, load_start: str
) -> dict[str, Any]:
    """Where, when, with what and how the figures were measured."""
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = " (uncommitted changes)" if _git("status", "--porcelain", "--", "dagwright") else ""
    versions = {"dagwright": f"{libraries['dagwright'].version} at {commit or '?'}{dirty}"}
    versions["pydantic"] = (
        f"{metadata.version('pydantic')} (pydantic-core {metadata.version('pydantic-core')})"
    )
    for name in ("chainweaver", "langgraph"):
        if name in libraries:
            versions[libraries[name].label.split()[0]] = libraries[name].version
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "machine": {
            "platform": platform.platform(),
            "cpu": _cpu(),
            "cores": os.cpu_count(),
            "load_start": load_start,
            "load_end": _load(),
        },
        "versions": versions,
        "settings": {
            "repeat": args.repeat or {"default": DEFAULT_ROUNDS, **ROUNDS},
            "min_time": args.min_time,
            "quick": args.quick,
            "only": args.only,
        },
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    figures = ", ".join(f.id for f in select(None))
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog=f"figures: {figures}; groups: {', '.join(GROUPS)}",
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="3 rounds of samples >= 0.05 s (a smoke run)")
    add("--only", help="comma-separated figures or groups to measure (default: all)")
    add("--json", type=Path, help="write the JSON here, the .md and .png beside it")
    add("--strict", action="store_true", help="exit with status 1 when a target is missed")
    add("--repeat", type=int, help="interleaved rounds (default 7, 5 for the slow groups)")
    add("--min-time", type=float, help="seconds one sample lasts at least (default 0.2)")
    add("--skip", default="", help="comma-separated peers not to measure")
    args = parser.parse_args(argv)
    if args.quick and args.repeat is None:
        args.repeat = QUICK_ROUNDS
    if args.min_time is None:
        args.min_time = 0.05 if args.quick else 0.2
    if (args.repeat is not None and args.repeat < 1) or args.min_time < 0:
        parser.error("--repeat must be at least 1 and --min-time at least 0")
    args.figures = [name.strip() for name in (args.only or "").split(",") if name.strip()]
    try:
        select(args.figures)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table, write the JSON, the Markdown and the chart."""
    args = parse(argv)
    # The chains overwrite ``n`` on purpose: their DW301 compile warnings are not news.
    logging.getLogger("dagwright").setLevel(logging.ERROR)
    started = time.perf_counter()
    load_start = _load()
    libraries, missing = load_libraries({p.strip() for p in args.skip.split(",") if p.strip()})
    figures = select(args.figures)
    results: list[dict[str, Any]] = []
    try:
        for group in GROUPS:
            chosen = [f for f in figures if f.group == group]
            if chosen:
                results += measure_group(group, chosen, libraries, missing, args)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    info = meta(libraries, args, load_start)
    info["elapsed_s"] = time.perf_counter() - started
    print(_report.text_table(results, info))
    partial = args.quick or bool(args.figures)
    json_path = args.json or RESULTS / ("partial.json" if partial else "latest.json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    _report.write_json(json_path, results, info)
    json_path.with_suffix(".md").write_text(_report.markdown(results, info))
    wrote = [json_path, json_path.with_suffix(".md")]
    if _report.write_chart(json_path.with_suffix(".png"), results):
        wrote.append(json_path.with_suffix(".png"))
    print("\nwrote " + ", ".join(str(p) for p in wrote))
    missed = any(r["status"] == "MISSED" for r in results)
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())

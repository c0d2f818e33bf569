"""dagwright vs ChainWeaver vs the DESIGN.md targets: ``python benchmarks/compare.py``.

Times the workloads of ``bench_core.py`` and ``bench_dag_concurrency.py`` timeit-style:
each workload is calibrated so one repeat lasts at least ``--min-time`` seconds, then
repeated ``--repeat`` times; the table shows the median time per call. The garbage
collector stays enabled (a run's allocations are part of its cost). ChainWeaver's column
is filled when ``import chainweaver`` works (``pip install chainweaver==0.14.1``; not a
project dependency).
``import dagwright`` is timed in fresh interpreters (median of ``--imports`` runs,
bytecode already compiled, in a private ``PYTHONPYCACHEPREFIX``). The async lane is
timed as ``loop.run_until_complete(executor.arun(...))`` on one event loop kept for the
whole script (ChainWeaver's ``execute_flow_async`` likewise); ``--only`` picks the core
or the concurrency workloads.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(1, str(_ROOT))

import _chainweaver  # noqa: E402
import _workloads as w  # noqa: E402

from dagwright import ExecutionResult, Flow, FlowExecutor  # noqa: E402

NOT_INSTALLED = "chainweaver not installed"


def _calibrate(fn: Callable[[], object], min_time: float) -> int:
    """Calls per sample so that one sample lasts at least ``min_time`` seconds."""
    fn()  # warm up: first-run caches, lazy imports, the thread pool
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time or number >= 1_000_000:
            return number
        number *= 10 if elapsed < min_time / 10 else 2


def per_call(
    fns: dict[str, Callable[[], object]], *, min_time: float, repeat: int
) -> dict[str, float]:
    """Median seconds per call of each of ``fns``, sampled interleaved.

    Each callable gets its own calibrated call count; then every repeat takes one sample
    of each in turn, so a slow patch of a shared machine affects all of them alike.
    """
    numbers = {name: _calibrate(fn, min_time) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            number = numbers[name]
            gc.collect()
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - start) / number)
    return {name: statistics.median(values) for name, values in samples.items()}


def per_call_with_setup(
    setup: Callable[[], Any], fn: Callable[[Any], object], *, repeat: int
) -> float:
    """Median seconds of ``fn(setup())`` with only ``fn`` timed, one call per sample."""
    fn(setup())
    samples = []
    for _ in range(repeat):
        arg = setup()
        gc.collect()
        start = time.perf_counter()
        fn(arg)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


_IMPORT_PROBE = """
import sys, time
for name in {hidden!r}:
    sys.modules[name] = None  # makes `import name` raise ImportError
before = set(sys.modules)
start = time.perf_counter()
import {module}
elapsed = time.perf_counter() - start
print(elapsed, len(set(sys.modules) - before))
"""


def import_times(
    probes: dict[str, tuple[str, tuple[str, ...]]], runs: int
) -> dict[str, tuple[float, int]]:
    """Median seconds to import a module in a fresh interpreter, and the modules it loads.

    ``probes`` maps a name to ``(module, hidden)``: modules named in ``hidden`` are made
    unimportable (as if not installed). The probes run interleaved, ``runs`` times each,
    after one unmeasured round that compiles bytecode into a private cache directory, so
    the measured runs see what a user sees after the first import.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    times: dict[str, list[float]] = {name: [] for name in probes}
    modules: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="dw-pycache-") as cache:
        env["PYTHONPYCACHEPREFIX"] = cache
        for run in range(runs + 1):
            for name, (module, hidden) in probes.items():
                out = subprocess.run(
                    [sys.executable, "-c", _IMPORT_PROBE.format(module=module, hidden=hidden)],
                    env=env,
                    cwd=_ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()
                if run:
                    times[name].append(float(out[0]))
                    modules[name] = int(out[1])
    return {name: (statistics.median(times[name]), modules[name]) for name in probes}


@dataclass
class Row:
    """One line of the table: a workload, its two measurements and its target."""

    label: str
    unit: str
    dagwright: float | None
    chainweaver: float | str | None
    target: float | None = None
    note: str = ""

    def status(self) -> str:
        """``met`` / ``MISSED`` against the target, ``-`` without one."""
        if self.target is None or self.dagwright is None:
            return "-"
        return "met" if self.dagwright <= self.target else "MISSED"


def _fmt(value: float | str | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if unit == "s":
        return f"{value:.4f}"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _noted(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.note]


def render(rows: list[Row]) -> str:
    """The results as a fixed-width text table."""
    header = ("workload", "unit", "dagwright", "ChainWeaver", "target", "status")
    marks = {id(r): f" [{i}]" for i, r in enumerate(_noted(rows), 1)}
    lines = [
        (
            r.label + marks.get(id(r), ""),
            r.unit,
            _fmt(r.dagwright, r.unit),
            _fmt(r.chainweaver, r.unit),
            "-" if r.target is None else f"<= {_fmt(r.target, r.unit)}",
            r.status(),
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *lines, strict=True)]

    def fmt(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(width) for c, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest])

    out = [fmt(header), "  ".join("-" * n for n in widths)]
    out.extend(fmt(line) for line in lines)
    notes = [f"  [{i}] {r.note}" for i, r in enumerate(_noted(rows), 1)]
    if notes:
        out.append("")
        out.extend(notes)
    return "\n".join(out)


def measure(args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    """Time every workload; returns the table rows and the floor-relative ratios."""
    us = 1e6
    timing = {"min_time": args.min_time, "repeat": args.repeat}
    cw = None if args.no_chainweaver else _chainweaver.load()
    cw_missing = "skipped" if args.no_chainweaver else NOT_INSTALLED

    def timed(
        dagwright: dict[str, Callable[[], object]],
        chainweaver: dict[str, Callable[[_chainweaver.ChainWeaverWorkloads], Callable[[], Any]]],
    ) -> dict[str, Any]:
        fns = dict(dagwright)
        if cw is not None:
            fns.update({name: pick(cw) for name, pick in chainweaver.items()})
        times: dict[str, Any] = {name: t * us for name, t in per_call(fns, **timing).items()}
        for name in chainweaver:
            times.setdefault(name, cw_missing)
        return times

    with w.executor(max_concurrency=1) as inline, w.executor(max_concurrency=8) as pooled:
        flows = {n: w.linear(n) for n in (w.LINEAR_SHORT, w.LINEAR_LONG)}
        dag = w.fan_dag(w.LEAVES)
        for flow in flows.values():
            inline.compile(flow)
        inline.compile(dag)
        pooled.compile(dag)
        w.check_linear(inline.run(flows[5], w.LINEAR_INPUTS).output, 5)
        w.check_linear(inline.run(flows[100], w.LINEAR_INPUTS).output, 100)
        w.check_dag(inline.run(dag, w.DAG_INPUTS).output)
        w.check_dag(pooled.run(dag, w.DAG_INPUTS).output)

        print("timing linear flows...", file=sys.stderr)
        t = timed(
            {
                "lin5": lambda: inline.run(flows[5], w.LINEAR_INPUTS),
                "lin100": lambda: inline.run(flows[100], w.LINEAR_INPUTS),
                "floor5": lambda: w.pydantic_floor(w.LINEAR_SHORT),
                "floor100": lambda: w.pydantic_floor(w.LINEAR_LONG),
            },
            {"cw5": lambda c: c.linear5, "cw100": lambda c: c.linear100},
        )
        print("timing the 1000-leaf DAG...", file=sys.stderr)
        t |= timed(
            {
                "dag8": lambda: pooled.run(dag, w.DAG_INPUTS),
                "dag1": lambda: inline.run(dag, w.DAG_INPUTS),
            },
            {"cw_dag_async": lambda c: c.dag_async, "cw_dag_sync": lambda c: c.dag_sync},
        )
        print("timing compilation...", file=sys.stderr)
        cold = per_call_with_setup(lambda: w.fan_dag(w.LEAVES), w.compile_cold, repeat=args.repeat)
        t |= timed({"cached": lambda: inline.compile(dag)}, {"cw_compile": lambda c: c.compile_dag})

    print("timing imports...", file=sys.stderr)
    probes: dict[str, tuple[str, tuple[str, ...]]] = {
        "dagwright": ("dagwright", ()),
        "bare": ("dagwright", ("rich",)),
    }
    if cw is not None:
        probes["chainweaver"] = ("chainweaver", ())
    imports = import_times(probes, args.imports)
    imp, imp_modules = imports["dagwright"]
    imp_bare, imp_bare_modules = imports["bare"]
    if cw is None:
        cw_imp: float | str = cw_missing
        cw_imp_note = ""
    else:
        cw_imp, cw_modules = imports["chainweaver"]
        cw_imp_note = f", ChainWeaver {cw_modules}"

    def marginal(t5: Any, t100: Any) -> Any:
        if isinstance(t5, float) and isinstance(t100, float):
            return (t100 - t5) / (w.LINEAR_LONG - w.LINEAR_SHORT)
        return t5

    floor_step = marginal(t["floor5"], t["floor100"])
    ratios = [
        f"linear5 dagwright x{t['lin5'] / t['floor5']:.1f}",
        f"per step dagwright x{marginal(t['lin5'], t['lin100']) / floor_step:.1f}",
    ]
    if cw is not None:
        ratios += [
            f"linear5 ChainWeaver x{t['cw5'] / t['floor5']:.1f}",
            f"per step ChainWeaver x{marginal(t['cw5'], t['cw100']) / floor_step:.1f}",
        ]
    conc = cw.async_concurrency if cw is not None else 8
    rows = [
        Row("linear5 (5 steps, max_concurrency=1)", "us", t["lin5"], t["cw5"], w.TARGET_LINEAR5_US),
        Row("linear100 (100 steps, max_concurrency=1)", "us", t["lin100"], t["cw100"]),
        Row(
            "per-step marginal (t100 - t5) / 95",
            "us",
            marginal(t["lin5"], t["lin100"]),
            marginal(t["cw5"], t["cw100"]),
            w.TARGET_PER_STEP_US,
        ),
        Row("pydantic floor, 5 steps", "us", t["floor5"], None),
        Row(
            "pydantic floor per step (t100 - t5) / 95",
            "us",
            marginal(t["floor5"], t["floor100"]),
            None,
        ),
        Row(
            "dag1000 (root + 1000 leaves + join), max_concurrency=8",
            "us",
            t["dag8"],
            t["cw_dag_async"],
            w.TARGET_DAG_US,
            note=f"ChainWeaver: async lane, max_step_concurrency={conc} "
            "(its sync lane is always sequential)",
        ),
        Row(
            "dag1000, max_concurrency=1",
            "us",
            t["dag1"],
            t["cw_dag_sync"],
            w.TARGET_DAG_US,
            note="ChainWeaver: sync lane (execute_flow)",
        ),
        Row(
            "compile dag1000, cold",
            "us",
            cold * us,
            t["cw_compile"],
            note="ChainWeaver: chainweaver.compile_flow(flow, tools), its static checker",
        ),
        Row(
            "compile dag1000, cached (executor.compile)",
            "us",
            t["cached"],
            "n/a" if cw is not None else cw_missing,
            note="ChainWeaver keeps no plan: it re-validates the topology on every run",
        ),
        Row(
            "import time (fresh interpreter)",
            "s",
            imp,
            cw_imp,
            w.TARGET_IMPORT_S,
            note=f"modules loaded: dagwright {imp_modules}{cw_imp_note}; structlog imports "
            "rich when it is installed (ChainWeaver's typer dependency installs it)",
        ),
        Row(
            "import time, rich not importable",
            "s",
            imp_bare,
            None,
            w.TARGET_IMPORT_S,
            note=f"modules loaded: dagwright {imp_bare_modules}",
        ),
    ]
    return rows, ratios


def _pick(
    workload: str, key: tuple[str, str]
) -> Callable[[_chainweaver.ChainWeaverConcurrency], Callable[[], Any]]:
    """Picks ChainWeaver's ``workload`` callable for ``(lane, kind)``."""

    def pick(c: _chainweaver.ChainWeaverConcurrency) -> Callable[[], Any]:
        table: dict[tuple[str, str], Callable[[], Any]] = getattr(c, workload)
        return table[key]

    return pick


def measure_concurrency(args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    """Time the concurrency workloads on both lanes; returns table rows and ratios.

    The skewed DAG and the six leaves are makespans in seconds; the 1000 async leaves
    and the async linear chain are microseconds per run.
    """
    us = 1e6
    timing = {"min_time": args.min_time, "repeat": args.repeat}
    cw = (
        None
        if args.no_chainweaver
        else _chainweaver.load_concurrency(
            long_s=w.SKEW_LONG_S,
            short_s=w.SKEW_SHORT_S,
            leaf_s=w.LEAF_S,
            six=w.SIX,
            leaves=w.LEAVES,
        )
    )
    cw_missing = "skipped" if args.no_chainweaver else NOT_INSTALLED
    loop = asyncio.new_event_loop()

    def timed(
        scale: float,
        dagwright: dict[str, Callable[[], object]],
        chainweaver: dict[str, Callable[[_chainweaver.ChainWeaverConcurrency], Callable[[], Any]]],
    ) -> dict[str, Any]:
        fns = dict(dagwright)
        if cw is not None:
            fns.update({name: pick(cw) for name, pick in chainweaver.items()})
        times: dict[str, Any] = {name: t * scale for name, t in per_call(fns, **timing).items()}
        for name in chainweaver:
            times.setdefault(name, cw_missing)
        return times

    try:
        with w.concurrency_executor(8) as default, w.concurrency_executor(1) as sequential:

            def call(
                executor: FlowExecutor,
                lane: str,
                flow: Flow,
                inputs: dict[str, Any],
                check: Callable[[dict[str, Any]], None],
            ) -> Callable[[], object]:
                """A zero-argument run of ``flow`` on ``lane``, checked once here."""
                executor.compile(flow)
                if lane == "sync":

                    def run() -> ExecutionResult:
                        return executor.run(flow, inputs)

                else:

                    def run() -> ExecutionResult:
                        return loop.run_until_complete(executor.arun(flow, inputs))

                result = run()
                if not result.success:
                    raise AssertionError(f"{flow.name} ({lane} lane) failed: {result.error}")
                check(result.output)
                return run

            combos = [(lane, kind) for lane in w.KINDS for kind in w.KINDS]
            print("timing the skewed DAG...", file=sys.stderr)
            t = timed(
                1.0,
                {
                    f"skew-{lane}-{kind}": call(
                        default, lane, w.skewed_dag(kind), w.SKEW_INPUTS, w.check_skewed
                    )
                    for lane, kind in combos
                },
                {f"cw-skew-{lane}-{kind}": _pick("skewed", (lane, kind)) for lane, kind in combos},
            )
            print("timing six 50 ms leaves...", file=sys.stderr)
            t |= timed(
                1.0,
                {
                    f"six-{lane}-{kind}": call(
                        default, lane, w.six_leaves(kind), w.SIX_INPUTS, w.check_six
                    )
                    for lane, kind in combos
                },
                {
                    f"cw-six-{lane}-{kind}": _pick("six_leaves", (lane, kind))
                    for lane, kind in combos
                },
            )
            print("timing 1000 async leaves...", file=sys.stderr)
            adag = w.fan_dag(w.LEAVES, "ainc")
            t |= timed(
                us,
                {
                    "adag-async-8": call(default, "async", adag, w.DAG_INPUTS, w.check_dag),
                    "adag-async-1": call(sequential, "async", adag, w.DAG_INPUTS, w.check_dag),
                    "adag-sync-8": call(default, "sync", adag, w.DAG_INPUTS, w.check_dag),
                },
                {
                    "cw-adag-async-8": lambda c: c.async_dag["async", c.async_concurrency],
                    "cw-adag-async-1": lambda c: c.async_dag["async", 1],
                    "cw-adag-sync-8": lambda c: c.async_dag["sync", c.async_concurrency],
                },
            )
            print("timing the async linear chain...", file=sys.stderr)
            alin = w.linear(w.LINEAR_SHORT, "ainc")
            lin = w.linear(w.LINEAR_SHORT)

            def check5(output: dict[str, Any]) -> None:
                w.check_linear(output, w.LINEAR_SHORT)

            async def nothing() -> None:
                return None

            t |= timed(
                us,
                {
                    "alin-async-1": call(sequential, "async", alin, w.LINEAR_INPUTS, check5),
                    "alin-async-8": call(default, "async", alin, w.LINEAR_INPUTS, check5),
                    "alin-sync-1": call(sequential, "sync", alin, w.LINEAR_INPUTS, check5),
                    "lin-sync-1": call(sequential, "sync", lin, w.LINEAR_INPUTS, check5),
                    "floor5": lambda: w.pydantic_floor(w.LINEAR_SHORT),
                    "loop": lambda: loop.run_until_complete(nothing()),
                },
                {
                    "cw-alin-async-1": lambda c: c.async_linear5["async", 1],
                    "cw-alin-async-8": lambda c: c.async_linear5["async", c.async_concurrency],
                    "cw-alin-sync-1": lambda c: c.async_linear5["sync", 1],
                },
            )
    finally:
        loop.close()
        if cw is not None:
            cw.close()

    lane_names = {"sync": "run", "async": "arun"}
    rows: list[Row] = []
    conc = cw.async_concurrency if cw is not None else 8
    for workload, label, target in (
        ("skew", "skewed DAG makespan", w.TARGET_SKEW_S),
        ("six", "six 50 ms leaves makespan", w.TARGET_SIX_S),
    ):
        for lane, kind in combos:
            first = lane == kind == "sync"
            rows.append(
                Row(
                    f"{label}, {lane_names[lane]}, {kind} tools",
                    "s",
                    t[f"{workload}-{lane}-{kind}"],
                    t[f"cw-{workload}-{lane}-{kind}"],
                    target,
                    note=(
                        "ChainWeaver: execute_flow for run (a DAG level runs sequentially), "
                        f"execute_flow_async with max_step_concurrency={conc} for arun; both "
                        "wait for a whole level before the next one starts"
                    )
                    if first and workload == "skew"
                    else "",
                )
            )
    rows += [
        Row(
            "1000 async leaves (root + leaves + join), arun, max_concurrency=8",
            "us",
            t["adag-async-8"],
            t["cw-adag-async-8"],
            w.TARGET_ASYNC_DAG_US,
            note=f"ChainWeaver: execute_flow_async, max_step_concurrency={conc} / 1",
        ),
        Row(
            "1000 async leaves, arun, max_concurrency=1",
            "us",
            t["adag-async-1"],
            t["cw-adag-async-1"],
            w.TARGET_ASYNC_DAG_US,
        ),
        Row(
            "1000 async leaves, run, max_concurrency=8",
            "us",
            t["adag-sync-8"],
            t["cw-adag-sync-8"],
            note="dagwright: async tools on the run's private loop thread; ChainWeaver: "
            "execute_flow, asyncio.run per call",
        ),
        Row(
            "async linear5 (5 async steps), arun, max_concurrency=1",
            "us",
            t["alin-async-1"],
            t["cw-alin-async-1"],
            w.TARGET_ASYNC_LINEAR5_US,
            note="ChainWeaver: execute_flow_async, max_step_concurrency=1 / "
            f"{conc}; run: execute_flow",
        ),
        Row(
            "async linear5, arun, max_concurrency=8",
            "us",
            t["alin-async-8"],
            t["cw-alin-async-8"],
            w.TARGET_ASYNC_LINEAR5_US,
        ),
        Row("async linear5, run, max_concurrency=1", "us", t["alin-sync-1"], t["cw-alin-sync-1"]),
        Row("linear5 (sync tools), run, max_concurrency=1", "us", t["lin-sync-1"], None),
        Row("pydantic floor, 5 steps", "us", t["floor5"], None),
        Row(
            "run_until_complete(no-op coroutine)",
            "us",
            t["loop"],
            None,
            note="the event loop's own round trip, included in every arun time",
        ),
    ]
    step_floor = t["floor5"] / w.LINEAR_SHORT
    allowed_dag = w.TARGET_ASYNC_DAG_US / (w.LEAVES + 2) / w.REFERENCE_FLOOR_STEP_US
    ratios = [
        "skewed DAG makespan / critical path: dagwright "
        + ", ".join(
            f"{lane_names[lane]}+{kind} x{t[f'skew-{lane}-{kind}'] / w.SKEW_CRITICAL_PATH_S:.3f}"
            for lane, kind in combos
        )
        + " (target x1.05)",
        f"async linear5 (arun, max_concurrency=1) / pydantic floor: "
        f"x{t['alin-async-1'] / t['floor5']:.1f}; "
        f"the target allows x{w.TARGET_ASYNC_LINEAR5_US / w.REFERENCE_FLOOR5_US:.1f} "
        "of the reference machine's floor",
        "1000 async leaves, per step / pydantic floor per step (floor5 / 5): arun "
        + ", ".join(
            f"max_concurrency={c} x{t[f'adag-async-{c}'] / (w.LEAVES + 2) / step_floor:.1f}"
            for c in (8, 1)
        )
        + f"; the target allows x{allowed_dag:.1f} of the reference machine's floor",
    ]
    if cw is not None:
        ratios.append(
            "skewed DAG makespan / critical path: ChainWeaver "
            + ", ".join(
                f"{lane_names[lane]}+{kind} "
                f"x{t[f'cw-skew-{lane}-{kind}'] / w.SKEW_CRITICAL_PATH_S:.2f}"
                for lane, kind in combos
            )
        )
    return rows, ratios


def main(argv: list[str] | None = None) -> int:
    """Parse options, time everything, print the table (and JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=7, help="repeats per workload (median)")
    parser.add_argument(
        "--min-time", type=float, default=0.2, help="minimum seconds per repeat (calibration)"
    )
    parser.add_argument("--imports", type=int, default=5, help="fresh interpreters to time")
    parser.add_argument("--no-chainweaver", action="store_true", help="skip ChainWeaver")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a target is missed"
    )
    parser.add_argument(
        "--only",
        choices=("all", "core", "concurrency"),
        default="all",
        help="core: bench_core.py workloads and imports; concurrency: bench_dag_concurrency.py",
    )
    args = parser.parse_args(argv)

    rows: list[Row] = []
    ratios: list[str] = []
    concurrency_ratios: list[str] = []
    if args.only in ("all", "core"):
        rows, ratios = measure(args)
    if args.only in ("all", "concurrency"):
        more_rows, concurrency_ratios = measure_concurrency(args)
        rows += more_rows
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"dagwright vs ChainWeaver: Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, {platform.machine()}; median of {args.repeat} repeats; "
        f"load average {load}"
    )
    print(render(rows))
    if ratios:
        print("\nrelative to the pydantic floor: " + ", ".join(ratios))
        print(
            "the targets allow, relative to the reference machine's floor: "
            f"linear5 x{w.TARGET_LINEAR5_US / w.REFERENCE_FLOOR5_US:.1f}, "
            f"per step x{w.TARGET_PER_STEP_US / w.REFERENCE_FLOOR_STEP_US:.1f}"
        )
    if concurrency_ratios:
        print("\n" + "\n".join(concurrency_ratios))
    if args.json is not None:
        args.json.write_text(
            json.dumps([{**r.__dict__, "status": r.status()} for r in rows], indent=2) + "\n"
        )
    missed = [r.label for r in rows if r.status() == "MISSED"]
    print(f"\ntargets missed: {len(missed)} of {sum(r.target is not None for r in rows)}")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())

"""What checkpointing costs, against DESIGN.md section 7: ``python benchmarks/checkpoint_cost.py``.

Times ``_workloads.linear(n)`` (``n`` trivial validated steps, executor
``max_concurrency=1``) for ``n`` in (100, 1000) with each store of ``bench_checkpoint.py``:
no checkpointer (``plain``), ``InMemoryCheckpointer``, ``SQLiteCheckpointer`` with
``synchronous="NORMAL"`` and with ``"FULL"``. It prints the median time per run, the
journal's marginal cost per step, the overhead ratio against ``plain`` (targets: memory
<= x1.3, SQLite NORMAL <= x3) and the growth ratio ``t(1000) / t(100)`` of each store
(target <= 11x: linear, not quadratic), each marked met or MISSED.

Sampling: every sample builds a fresh executor over a fresh store (a new SQLite file in a
temporary directory) and compiles the flow, untimed; then it times ``number`` runs, each
with a fresh random ``run_id``; ``number`` is calibrated once per workload so that a
sample lasts at least ``--min-time`` seconds (a sample's runs share its file, so an
SQLite file holds at most that many runs). Before each sample, untimed, ``os.sync()``
writes back the dirty pages of earlier samples: on ext4 an fsync (every commit under
FULL, WAL checkpoints under NORMAL) would otherwise pay for them. The samples of all
workloads of one size are interleaved, ``--repeat`` rounds, so a slow patch of a shared
machine hits them alike. The garbage collector stays enabled (``gc.collect()`` before
each sample). The medians make the table; the same ratios from the fastest sample of
each workload follow it, as a check on how much the machine's load moved them.

When ``import chainweaver`` works, ChainWeaver 0.14.1 runs the same linear flows
(``execute_flow``; its tool validates ``CwIn`` and returns ``{"n": n + 1}`` validated
against ``CwOut``; ``on_context_collision="overwrite"``) without a checkpointer, with its
``InMemoryCheckpointer`` and with its ``FileCheckpointer`` (one JSON snapshot file per
run, rewritten after every step), with its default ``delete_on_success=True``.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(1, str(_ROOT))

import _workloads as w  # noqa: E402
from bench_checkpoint import (  # noqa: E402
    CHAINWEAVER_RATIO_FILES,
    CHAINWEAVER_RATIO_MEMORY,
    STEPS,
    STORES,
    TARGET_GROWTH,
    TARGET_RATIO,
    Store,
    check,
    make_executor,
)
from pydantic import BaseModel  # noqa: E402

SMALL, LARGE = STEPS
CW_STORES = ("plain", "memory", "files")

# A prepared sample: time ``number`` calls of the returned callable (setup untimed).
Prepare = Callable[[ExitStack], Callable[[], object]]


def _calibrate(prepare: Prepare, min_time: float) -> int:
    """Runs per sample so that one sample lasts at least ``min_time`` seconds."""
    with ExitStack() as stack:
        fn = prepare(stack)
        fn()  # warm up: first-run caches, lazy imports
        start = time.perf_counter()
        fn()
        once = time.perf_counter() - start
    return max(1, min(1000, round(min_time / once))) if once < min_time else 1


def sample(prepare: Prepare, number: int) -> float:
    """Seconds per run of one sample: fresh store, ``number`` timed runs."""
    with ExitStack() as stack:
        fn = prepare(stack)
        os.sync()  # an fsync in the sample must not write back earlier samples' files
        gc.collect()
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number


def timings(
    prepares: dict[str, Prepare], *, min_time: float, repeat: int
) -> dict[str, list[float]]:
    """``repeat`` samples (seconds per run) of each workload, interleaved across workloads."""
    numbers = {name: _calibrate(prep, min_time) for name, prep in prepares.items()}
    samples: dict[str, list[float]] = {name: [] for name in prepares}
    for _ in range(repeat):
        for name, prep in prepares.items():
            samples[name].append(sample(prep, numbers[name]))
    return samples


# ---- dagwright --------------------------------------------------------------------------


def dagwright_prepare(store: Store, steps: int, tmp: Path) -> Prepare:
    """A fresh executor over a fresh ``store`` (a new SQLite file) running ``linear(steps)``."""
    flow = w.linear(steps)
    files = itertools.count()

    def prepare(stack: ExitStack) -> Callable[[], object]:
        path = tmp / f"{store}-{steps}-{next(files)}.sqlite"
        executor = make_executor(store, path, stack)
        executor.compile(flow)

        def run() -> None:
            check(executor.run(flow, w.LINEAR_INPUTS), steps)

        return run

    return prepare


# ---- ChainWeaver ------------------------------------------------------------------------


class CwIn(BaseModel):
    """Input of ChainWeaver's ``inc``."""

    n: int


class CwOut(BaseModel):
    """Output of ChainWeaver's ``inc``."""

    n: int


def _cw_inc(inp: CwIn) -> dict[str, Any]:
    return {"n": inp.n + 1}


def chainweaver_prepares(tmp: Path) -> tuple[str, dict[tuple[str, int], Prepare]] | None:
    """ChainWeaver's version and its workloads, or ``None`` when it is not installed."""
    try:
        import chainweaver as cw
    except ImportError:
        return None

    registry: Any = cw.FlowRegistry()
    for steps in STEPS:
        registry.register_flow(
            cw.Flow(
                name=f"linear{steps}",
                description="benchmark",
                steps=[cw.FlowStep(tool_name="inc", input_mapping={"n": "n"})] * steps,
                on_context_collision="overwrite",
            )
        )
    tool: Any = cw.Tool(
        name="inc", description="Add one.", input_schema=CwIn, output_schema=CwOut, fn=_cw_inc
    )
    dirs = itertools.count()

    def make(store: str, steps: int) -> Prepare:
        def prepare(stack: ExitStack) -> Callable[[], object]:
            checkpointer: Any = None
            if store == "memory":
                checkpointer = cw.InMemoryCheckpointer()
            elif store == "files":
                checkpointer = cw.FileCheckpointer(tmp / f"cw-{steps}-{next(dirs)}")
            executor: Any = cw.FlowExecutor(registry=registry, checkpointer=checkpointer)
            executor.register_tool(tool)

            def run() -> None:
                result = executor.execute_flow(f"linear{steps}", {"n": 0})
                if not result.success or result.final_output.get("n") != steps:
                    raise AssertionError(f"chainweaver linear{steps} ({store}) failed")

            return run

        return prepare

    version = str(getattr(cw, "__version__", "?"))
    return version, {(store, steps): make(store, steps) for store in CW_STORES for steps in STEPS}


# ---- the table --------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of the table: a store of one library at both sizes."""

    label: str
    small: float
    large: float
    plain_small: float
    plain_large: float
    target_ratio: float | None
    reference_ratio: float | None = None
    baseline: bool = False

    def ratio(self, large: bool) -> float:
        """Run time with the store / run time without one."""
        return self.large / self.plain_large if large else self.small / self.plain_small

    def per_step_us(self, large: bool) -> float:
        """What the store adds per step, in microseconds."""
        t, plain, n = (
            (self.large, self.plain_large, LARGE)
            if large
            else (
                self.small,
                self.plain_small,
                SMALL,
            )
        )
        return (t - plain) / n * 1e6

    @property
    def growth(self) -> float:
        """t(LARGE) / t(SMALL)."""
        return self.large / self.small


def _mark(value: float, target: float | None) -> str:
    if target is None:
        return "-"
    return "met" if value <= target else "MISSED"


def render(lines: list[Line], title: str) -> str:
    """The table of ``lines``."""
    head = (
        "store",
        f"t({SMALL}) ms",
        f"t({LARGE}) ms",
        f"+us/step {SMALL}",
        f"+us/step {LARGE}",
        f"ratio {SMALL}",
        f"ratio {LARGE}",
        "target",
        "ratio vs target",
        f"growth {LARGE}/{SMALL}",
        f"<= {TARGET_GROWTH:g}x",
    )
    rows = [head]
    for line in lines:
        plain = line.baseline
        ratio_mark = (
            "-"
            if line.target_ratio is None
            else "/".join(_mark(line.ratio(big), line.target_ratio) for big in (False, True))
        )
        target = "-" if line.target_ratio is None else f"x{line.target_ratio:g}"
        if line.reference_ratio is not None:
            target = f"(ref x{line.reference_ratio:g})"
        rows.append(
            (
                line.label,
                f"{line.small * 1e3:.2f}",
                f"{line.large * 1e3:.2f}",
                "-" if plain else f"{line.per_step_us(False):.1f}",
                "-" if plain else f"{line.per_step_us(True):.1f}",
                "-" if plain else f"x{line.ratio(False):.2f}",
                "-" if plain else f"x{line.ratio(True):.2f}",
                target,
                ratio_mark,
                f"{line.growth:.1f}x",
                _mark(line.growth, TARGET_GROWTH),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    out = [title, fmt(head), "  ".join("-" * width for width in widths)]
    out.extend(fmt(row) for row in rows[1:])
    return "\n".join(out)


Samples = dict[tuple[str, int], list[float]]
Stat = Callable[[list[float]], float]


def build(
    label: str,
    store: str,
    found: dict[tuple[str, int], float],
    target: float | None,
    reference: float | None = None,
) -> Line:
    """The table line of ``store`` from ``found[(store, steps)]`` (seconds per run)."""
    return Line(
        label,
        found[(store, SMALL)],
        found[(store, LARGE)],
        found[("plain", SMALL)],
        found[("plain", LARGE)],
        target,
        reference,
        baseline=store == "plain",
    )


def brief(lines: list[Line], library: str) -> str:
    """One short line per store: its ratios and growth, marked against the targets."""
    out = []
    for line in lines:
        growth = f"growth x{line.growth:.1f} ({_mark(line.growth, TARGET_GROWTH)})"
        if line.baseline:
            out.append(f"  {library:<11} {line.label:<24} {'':<46} {growth}")
            continue
        ratios = f"x{line.ratio(False):.2f} / x{line.ratio(True):.2f}"
        if line.target_ratio is not None:
            marks = "/".join(_mark(line.ratio(big), line.target_ratio) for big in (False, True))
            ratios += f" (target x{line.target_ratio:g}: {marks})"
        out.append(f"  {library:<11} {line.label:<24} {ratios:<46} {growth}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=9, help="samples per workload")
    parser.add_argument(
        "--min-time", type=float, default=0.05, help="seconds one sample lasts at least"
    )
    parser.add_argument("--no-full", action="store_true", help="skip SQLite FULL (slow)")
    parser.add_argument("--no-chainweaver", action="store_true", help="skip ChainWeaver")
    args = parser.parse_args(argv)

    stores = [s for s in STORES if not (args.no_full and s == "sqlite-full")]
    runs: Samples = {}
    cw_runs: Samples = {}
    with tempfile.TemporaryDirectory(prefix="dagwright-ckpt-") as tmp_name:
        tmp = Path(tmp_name)
        for steps in STEPS:
            prepares: dict[str, Prepare] = {
                store: dagwright_prepare(store, steps, tmp) for store in stores
            }
            got = timings(prepares, min_time=args.min_time, repeat=args.repeat)
            runs.update({(store, steps): values for store, values in got.items()})
        cw = None if args.no_chainweaver else chainweaver_prepares(tmp)
        if cw is not None:
            for steps in STEPS:
                cw_prepares = {store: cw[1][(store, steps)] for store in CW_STORES}
                got = timings(cw_prepares, min_time=args.min_time, repeat=args.repeat)
                cw_runs.update({(store, steps): values for store, values in got.items()})

    labels = {
        "plain": "plain (no checkpointer)",
        "memory": "InMemoryCheckpointer",
        "sqlite-normal": "SQLite NORMAL",
        "sqlite-full": "SQLite FULL (reference)",
    }
    cw_labels = {
        "plain": "plain (no checkpointer)",
        "memory": "InMemoryCheckpointer",
        "files": "FileCheckpointer",
    }
    cw_reference = {"memory": CHAINWEAVER_RATIO_MEMORY, "files": CHAINWEAVER_RATIO_FILES}

    def lines(stat: Stat) -> list[Line]:
        found = {key: stat(values) for key, values in runs.items()}
        return [build(labels[s], s, found, TARGET_RATIO.get(s)) for s in stores]

    def cw_lines(stat: Stat) -> list[Line]:
        found = {key: stat(values) for key, values in cw_runs.items()}
        return [build(cw_labels[s], s, found, None, cw_reference.get(s)) for s in CW_STORES]

    print(f"Python {sys.version.split()[0]}; median of {args.repeat} samples; ratio = t / plain")
    print(render(lines(statistics.median), f"dagwright: linear flows of {SMALL} and {LARGE} steps"))
    if cw is None:
        why = "skipped (--no-chainweaver)" if args.no_chainweaver else "not installed"
        print(f"\nChainWeaver: {why}")
    else:
        print()
        print(render(cw_lines(statistics.median), f"ChainWeaver {cw[0]}: the same flows"))
        print("\ndagwright / ChainWeaver, median time per run:")
        pairs = (("plain", "plain"), ("memory", "memory"), ("sqlite-normal", "files"))
        for ours, theirs in pairs:
            median = statistics.median
            cells = "  ".join(
                f"n={n}: {median(runs[(ours, n)]) / median(cw_runs[(theirs, n)]):.2f}"
                for n in STEPS
            )
            print(f"  {labels[ours]:<24} vs CW {cw_labels[theirs]:<24} {cells}")
    print("\nThe same ratios from the fastest sample of each workload (least disturbed by load):")
    print(brief(lines(min), "dagwright"))
    if cw is not None:
        print(brief(cw_lines(min), "ChainWeaver"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Interleaved sampling for ``compare.py``: cases, answer checks, samples, statistics.

A *case* is one library's version of one workload. Every case of a group is checked first
(its answer must equal the floor's, else :class:`AnswerMismatch` names the workload and
the library), then calibrated, then sampled in rounds: each round takes one sample of
every case in turn (A, B, C, A, B, C, ...), so a slow patch of a shared machine lands on
all libraries alike and the samples of one round can be compared pairwise.

A sample is the mean time of ``number`` calls, ``number`` calibrated once per case so
that a sample lasts at least ``min_time`` seconds. The garbage collector stays enabled (a
run's allocations are part of its cost) and is run before each sample.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import statistics
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

Run = Callable[[], Any]
"""One run of a workload; what it returns is what :attr:`Case.answer` reads."""


class BenchmarkError(Exception):
    """A workload could not be measured: the message names the workload and library."""


class AnswerMismatch(BenchmarkError):
    """A library computed something other than the floor did for the same workload."""


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Unsupported:
    """A library that is installed but has no such feature: the cell says ``reason``."""

    reason: str


@dataclass(frozen=True)
class Case:
    """How to run one library's version of one workload.

    Give ``run`` (built once, reused by every sample) or ``prepare`` (called before every
    sample, untimed, with an ``ExitStack`` closed after the sample: a fresh store, a fresh
    flow object). ``answer`` turns what a run returns into the value compared with the
    floor's. ``timer``, when given, reads a run's own measurement (seconds) from what it
    returns instead of timing the call from outside (a fresh interpreter's import time).
    ``sync_disk`` flushes dirty pages (``os.sync()``) before each sample so a sample's
    fsyncs do not pay for earlier samples' files. ``max_number`` caps the calls per
    sample (1 where a second call would not repeat the same work).
    """

    run: Run | None = None
    prepare: Callable[[ExitStack], Run] | None = None
    answer: Callable[[Any], Any] = _same
    timer: Callable[[Any], float] | None = None
    sync_disk: bool = False
    max_number: int = 1_000_000
    note: str = ""

    def session(self, stack: ExitStack) -> Run:
        """The run to call for one sample (built now when the case prepares per sample)."""
        if self.prepare is not None:
            return self.prepare(stack)
        if self.run is None:
            raise BenchmarkError("a case needs run or prepare")
        return self.run

    def time(self, number: int) -> float:
        """Seconds per call over ``number`` calls of one fresh session (one sample).

        A mean, not a median of calls: what recurs every few calls (a WAL checkpoint, a
        garbage collection) is part of the cost. Preemption by other processes is what
        the rounds' median is for.
        """
        with ExitStack() as stack:
            run = self.session(stack)
            if self.sync_disk:
                os.sync()
            gc.collect()
            if self.timer is not None:
                return sum(self.timer(run()) for _ in range(number)) / number
            start = time.perf_counter()
            for _ in range(number):
                run()
            return (time.perf_counter() - start) / number


Key = tuple[str, str]
"""(library, workload)."""


def check(cases: dict[Key, Case], reference: dict[str, Any]) -> dict[Key, float]:
    """Run each case once and compare its answer with the floor's for the same workload.

    The floor's cases run first and their answers are added to ``reference`` (which
    already holds the answers of workloads the floor has no version of). This is also
    every case's warm-up (first-run caches, lazy imports, thread pools). Raises
    :class:`AnswerMismatch` naming the workload and the library on a difference, and
    :class:`BenchmarkError` when a run raises. Returns how long each first run took.
    """
    first: dict[Key, float] = {}
    ordered = sorted(cases.items(), key=lambda item: item[0][0] != "floor")
    for (library, workload), case in ordered:
        try:
            with ExitStack() as stack:
                run = case.session(stack)
                start = time.perf_counter()
                value = run()
                first[library, workload] = time.perf_counter() - start
                got = case.answer(value)
        except BenchmarkError as exc:
            raise BenchmarkError(f"{workload}: {library}: {exc}") from exc
        except Exception as exc:
            raise BenchmarkError(f"{workload}: {library} failed: {exc!r}") from exc
        if workload not in reference:
            if library != "floor":
                raise BenchmarkError(f"{workload}: no floor answer to check {library} against")
            reference[workload] = got
            continue
        want = reference[workload]
        if got != want:
            raise AnswerMismatch(f"{workload}: {library} answered {describe_difference(got, want)}")
    return first


def describe_difference(got: Any, want: Any) -> str:
    """A short account of how ``got`` differs from the floor's ``want``."""
    if isinstance(got, dict) and isinstance(want, dict):
        missing = sorted(set(want) - set(got))[:3]
        extra = sorted(set(got) - set(want))[:3]
        wrong = [k for k in want if k in got and got[k] != want[k]][:3]
        parts = []
        if missing:
            parts.append(f"without keys {missing}")
        if extra:
            parts.append(f"with extra keys {extra}")
        parts.extend(f"{k}={got[k]!r} where the floor has {want[k]!r}" for k in wrong)
        return ", ".join(parts) or f"{got!r:.200}"
    return f"{got!r:.200}, the floor {want!r:.200}"


def calibrate(case: Case, min_time: float, first: float = 0.0) -> int:
    """Calls per sample so that one sample lasts at least ``min_time`` seconds.

    ``first`` is how long the case's first (warm-up) run took: a case that slow needs no
    timed call to know that one call per sample is enough.
    """
    if first >= 2 * min_time or case.max_number == 1:
        return 1
    once = case.time(1)
    number = 1 if once >= min_time else math.ceil(min_time / max(once, 1e-9))
    return max(1, min(number, case.max_number))


def sample(
    cases: dict[Key, Case],
    *,
    repeat: int,
    min_time: float,
    first: dict[Key, float] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[Key, list[float]]:
    """``repeat`` interleaved samples (seconds per call) of every case, in round order.

    ``first``: the first runs' times from :func:`check`, to skip calibrating slow cases.
    """
    first = first or {}
    numbers = {key: calibrate(case, min_time, first.get(key, 0.0)) for key, case in cases.items()}
    samples: dict[Key, list[float]] = {key: [] for key in cases}
    for round_ in range(repeat):
        progress(f"round {round_ + 1}/{repeat}")
        for key, case in cases.items():
            samples[key].append(case.time(numbers[key]))
    return samples


@dataclass(frozen=True)
class Spread:
    """Median, quartiles and range of a list of values."""

    median: float
    q1: float
    q3: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        """The spread of ``values`` (at least one)."""
        data = sorted(values)
        if not data:
            raise BenchmarkError("no samples")
        if len(data) == 1:
            q1 = q3 = data[0]
        else:
            q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive")
        return cls(statistics.median(data), q1, q3, data[0], data[-1], len(data))

    def as_dict(self) -> dict[str, float | int]:
        """The JSON form."""
        return {
            "median": self.median,
            "q1": self.q1,
            "q3": self.q3,
            "min": self.low,
            "max": self.high,
            "n": self.n,
        }


def paired(numerator: list[float], denominator: list[float]) -> list[float]:
    """Round-by-round ratios of two interleaved sample lists."""
    return [a / b for a, b in zip(numerator, denominator, strict=True)]


@dataclass
class Env:
    """What the cases of one group share: cleanup, one event loop, a scratch directory.

    ``stack`` closes executors, stores, pools and clusters when the group is done; the
    async lanes of every library run on ``loop`` (``loop.run_until_complete``), kept for
    the whole group so no sample pays for creating one. ``shared`` builds a resource once
    per group (a Dask cluster) for whichever library asks first.
    """

    stack: ExitStack
    loop: asyncio.AbstractEventLoop
    tmp: Path
    resources: dict[str, Any] = field(default_factory=dict)

    def shared(self, name: str, make: Callable[[], T]) -> T:
        """The resource ``name``, made by ``make`` on first use."""
        if name not in self.resources:
            self.resources[name] = make()
        value: T = self.resources[name]
        return value


Builder = Callable[[Env], "Case | Unsupported"]
"""Builds one library's case of one workload (or says why the library has none)."""


@dataclass(frozen=True)
class Library:
    """A library ``compare.py`` can measure: its cases by workload name."""

    name: str
    label: str
    version: str
    builders: dict[str, Builder]

    def build(self, workload: str, env: Env) -> Case | Unsupported:
        """The case of ``workload``, or :class:`Unsupported` when the library lacks it."""
        builder = self.builders.get(workload)
        if builder is None:
            return Unsupported("no equivalent")
        return builder(env)

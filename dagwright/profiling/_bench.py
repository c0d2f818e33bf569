"""``bench``: run a flow again and again on an executor and measure every run."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from dagwright.errors import RunFailedError, UsageError
from dagwright.profiling._analysis import Dependencies, RunSample, sample
from dagwright.profiling._report import BenchReport
from dagwright.profiling._stats import step_stats

if TYPE_CHECKING:
    from dagwright._inputs import RunInputs
    from dagwright.executor import FlowExecutor, FlowRef
    from dagwright.results import ExecutionResult


def _count(name: str, value: object, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UsageError(
            f"bench() {name} must be an int >= {least}, got {value!r}",
            hint=f"pass {name}={max(least, 1)} or more",
        )
    return value


def _check(result: ExecutionResult, which: str) -> None:
    if result.success:
        return
    error = result.error
    detail = (
        f"step {error.step_id!r} failed: [{error.code}] {error.type}: {error.message}"
        if error is not None
        else "it failed"
    )
    failure = RunFailedError(
        f"{which} of flow {result.flow_name!r} failed (run {result.run_id}): {detail}",
        result=result,
    )
    failure.hint = "a benchmark needs runs that succeed: fix the flow or its inputs first"
    raise failure


def bench(
    executor: FlowExecutor,
    flow: FlowRef,
    inputs: RunInputs = None,
    *,
    repeat: int = 10,
    warmup: int = 1,
) -> BenchReport:
    """Run ``flow`` with ``inputs`` on ``executor`` ``warmup`` times unmeasured, then
    ``repeat`` times measured, one run after another on the sync lane (``executor.run``),
    and return the :class:`BenchReport` of the measured runs.

    The executor is used as it is: its ``max_concurrency``, its step cache and its
    checkpointer (give it none to measure the flow rather than the store). The flow is
    compiled first, so a flow that does not compile raises ``FlowCompileError`` before
    any run; bad inputs raise ``FlowInputError`` from the first run. Every run must
    succeed: the first that fails raises :class:`~dagwright.errors.RunFailedError`
    (its ``result`` is the failed run's, e.g. for ``result.timeline()``). Runs that
    give different digests are still measured; :attr:`BenchReport.deterministic` and
    :attr:`BenchReport.warnings` say so. ``repeat`` < 1 or ``warmup`` < 0 is a
    :class:`~dagwright.errors.UsageError`.
    """
    from dagwright.executor import FlowExecutor

    if not isinstance(executor, FlowExecutor):
        raise UsageError(
            f"bench() runs flows on a FlowExecutor, not {type(executor).__name__}",
            hint="pass FlowExecutor(tools=[...]) as the first argument",
        )
    repeat = _count("repeat", repeat, 1)
    warmup = _count("warmup", warmup, 0)
    compiled = executor.compile(flow)
    dependencies = Dependencies.of(compiled)
    slots = executor.max_concurrency
    digests: list[str] = []
    for number in range(1, warmup + 1):
        result = executor.run(flow, inputs)
        _check(result, f"warm-up run {number} of {warmup}")
        digests.append(result.digest)
    samples: list[RunSample] = []
    for number in range(1, repeat + 1):
        # time.time(), the clock the records are stamped with, so that every call's
        # interval lies within [started, ended].
        started = time.time()
        result = executor.run(flow, inputs)
        ended = time.time()
        _check(result, f"measured run {number} of {repeat}")
        measured = sample(result, started, ended, dependencies, slots)
        digests.append(measured.digest)
        samples.append(measured)
    return BenchReport(
        flow_name=compiled.flow.name,
        flow_version=compiled.flow.version,
        repeat=repeat,
        warmup=warmup,
        max_concurrency=slots,
        runs=tuple(samples),
        steps=step_stats([run.timeline for run in samples]),
        digests=tuple(digests),
    )

"""Faults of Dask runs: cancellation, lost workers, tools the workers cannot load, a
closed client. Each ends as a coded error naming the step, never a hang."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import distributed
import pytest

from dagwright import DAGFlow, Flow, FlowExecutor, Literal, MapStep, RetryPolicy, Step, Tool, tool
from dagwright.errors import RunFailedError, UsageError
from dagwright.runners import DaskRunner, _remote
from tests.runners import dask_tools as t
from tests.runners.conftest import local_cluster


def scheduler_tasks(client: Any) -> int:
    """How many tasks the scheduler still knows of."""
    count: int = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
    return count


def wait_until(predicate: Any, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


@pytest.mark.parametrize("lane", ["sync", "async"])
@pytest.mark.timeout(120)
def test_fail_fast_cancels_the_calls_on_the_cluster(client: Any, tmp_path: Path, lane: str) -> None:
    """Item 0 fails at once; the others wait for a release file that never comes while
    the run is in flight. The run ends without them, records them cancelled, and their
    futures leave the scheduler."""
    release, started = tmp_path / "release", tmp_path / "started"
    started.mkdir()
    flow = DAGFlow(
        "halt",
        [MapStep(id="m", over="xs", tool="hold", item="x", results="ys",
                 inputs={"release": Literal(str(release)), "started": Literal(str(started))})],
    )  # fmt: skip
    with FlowExecutor([t.hold], runner=DaskRunner(client), max_concurrency=12) as ex:
        try:
            if lane == "sync":
                result = ex.run(flow, {"xs": list(range(12))})
            else:
                result = asyncio.run(ex.arun(flow, {"xs": list(range(12))}))
            assert not release.exists()
        finally:
            release.touch()  # free the worker threads still waiting
    assert not result.success
    assert result.error is not None and result.error.code == "DW-E101"
    (record,) = result.steps
    statuses = [child.status for child in record.children]
    assert statuses[0] == "failed"
    assert "cancelled" in statuses
    assert "completed" not in statuses
    assert wait_until(lambda: scheduler_tasks(client) == 0)


@pytest.mark.timeout(120)
def test_collect_keeps_every_item_when_some_fail(client: Any, tmp_path: Path) -> None:
    release, started = tmp_path / "release", tmp_path / "started"
    started.mkdir()
    release.touch()
    flow = DAGFlow(
        "collect",
        [MapStep(id="m", over="xs", tool="hold", item="x", results="ys", errors="errs",
                 error_policy="collect",
                 inputs={"release": Literal(str(release)), "started": Literal(str(started))})],
    )  # fmt: skip
    with FlowExecutor([t.hold], runner=DaskRunner(client), max_concurrency=8) as ex:
        result = ex.run(flow, {"xs": list(range(6))})
    assert result.success
    assert [item["hold"] for item in result.output["ys"] if item is not None] == [1, 2, 3, 4, 5]
    assert [error["index"] for error in result.output["errs"]] == [0]


@pytest.mark.timeout(180)
def test_a_killed_worker_is_a_worker_lost_error_retried_by_the_policy(tmp_path: Path) -> None:
    """The first call kills its worker process: Dask reports it (allowed-failures is 0
    here), the step's policy runs it again, and the run succeeds."""
    cluster = local_cluster(workers=2, threads=1)
    try:
        with distributed.Client(cluster) as client:
            marker = tmp_path / "died"
            step = Step(tool="die_once", inputs={"x": Literal(1), "marker": Literal(str(marker))},
                        retry=RetryPolicy(max_attempts=2))  # fmt: skip
            with FlowExecutor([t.die_once], runner=DaskRunner(client)) as ex:
                result = ex.run(Flow("dies", [step]), {})
                assert result.success, result.error
                assert result.output == {"die_once": 101}
                (record,) = result.steps
                assert [a.status for a in record.attempts] == ["failed", "completed"]
                lost = record.attempts[0].error
                assert lost is not None and lost.code == "DW-E109"
                assert lost.type == "WorkerLostError"
                assert "'die_once'" in lost.message and "step 'die_once'" in lost.message

                marker.unlink()
                once = Step(id="once", tool="die_once",
                            inputs={"x": Literal(1), "marker": Literal(str(marker))})  # fmt: skip
                failed = ex.run(Flow("dies-once", [once]), {})
            assert not failed.success
            assert failed.error is not None and failed.error.code == "DW-E109"
            assert "step 'once'" in failed.error.message
    finally:
        cluster.close()


@tool
def closes_over_a_lock(x: int) -> int:
    """Unpicklable: its function holds a lock."""
    return x


def _unpicklable_tool() -> Tool:
    lock = threading.Lock()

    def guarded(x: int) -> int:
        with lock:
            return x

    return tool(name="guarded")(guarded)


def test_a_tool_that_cannot_be_pickled_is_tool_unavailable(client: Any) -> None:
    guarded = _unpicklable_tool()
    step = Step(id="g", tool="guarded", inputs={"x": Literal(1)}, retry=RetryPolicy(max_attempts=3))
    with FlowExecutor([guarded], runner=DaskRunner(client)) as ex:
        result = ex.run(Flow("guarded", [step]), {})
    assert not result.success
    error = result.error
    assert error is not None and error.code == "DW-E110"
    assert "tool 'guarded' cannot be pickled" in error.message
    (record,) = result.steps
    assert len(record.attempts) == 1  # not retried: it would fail the same way


def test_a_tool_the_workers_cannot_import_is_tool_unavailable(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module on the driver's path only (added after the workers started)."""
    (tmp_path / "driver_only_tools.py").write_text(
        textwrap.dedent(
            '''
            from dagwright import tool

            @tool
            def local_only(x: int) -> int:
                """Only the driver has this module."""
                return x
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import driver_only_tools  # type: ignore[import-not-found]

    try:
        flow = Flow("import", [Step(id="li", tool="local_only", inputs={"x": Literal(1)})])
        with FlowExecutor([driver_only_tools.local_only], runner=DaskRunner(client)) as ex:
            result = ex.run(flow, {})
    finally:
        sys.modules.pop("driver_only_tools", None)
    assert not result.success
    error = result.error
    assert error is not None and error.code == "DW-E110"
    assert "cannot load tool 'local_only' from driver_only_tools:local_only" in error.message
    assert "ModuleNotFoundError" in error.message


def test_a_tool_defined_in_a_function_travels_by_value(client: Any) -> None:
    @tool
    def doubled(x: int) -> int:
        """Defined here: the workers cannot import it, so it is pickled."""
        return 2 * x

    flow = DAGFlow("byvalue", [MapStep(id="m", over="xs", tool="doubled", item="x", results="ys")])
    with FlowExecutor([doubled], runner=DaskRunner(client)) as ex:
        result = ex.run(flow, {"xs": [1, 2, 3]})
    assert result.success, result.error
    assert [item["doubled"] for item in result.output["ys"]] == [2, 4, 6]


def test_a_worker_whose_tool_differs_refuses_the_call() -> None:
    ref = ("inc", "0" * 64, "tests.runners.dask_tools", "inc", None, None)
    state = t.inc.input_schema(x=1).__getstate__()
    kind, failure, _, _ = _remote.read_envelope(_remote.run_call(ref, state, None))
    assert kind == _remote.FAILED
    assert failure.info.code == "DW-E110"
    assert "differs from the driver's" in failure.info.message


def test_a_closed_client_fails_the_step_with_a_runner_error(cluster: Any) -> None:
    client = distributed.Client(cluster)
    runner = DaskRunner(client)
    client.close()
    step = Step(id="one", tool="inc", inputs={"x": Literal(1)}, retry=RetryPolicy(max_attempts=3))
    with FlowExecutor([t.inc], runner=runner) as ex:
        result = ex.run(Flow("closed", [step]), {})
    assert not result.success
    error = result.error
    assert error is not None and error.code == "DW-E108"
    assert "step 'one'" in error.message and "closed" in error.message
    (record,) = result.steps
    assert len(record.attempts) == 1


@pytest.mark.timeout(120)
def test_a_client_closed_mid_run_ends_the_run(cluster: Any) -> None:
    """A call is out when the client closes: the run ends with RunnerError, no hang."""
    client = distributed.Client(cluster)
    flow = Flow("mid", [Step(id="nap", tool="sleepy", inputs={"seconds": Literal(5)})])
    with FlowExecutor([t.sleepy], runner=DaskRunner(client)) as ex:
        closer = threading.Timer(1.0, client.close)
        closer.start()
        try:
            result = ex.run(flow, {})
        finally:
            closer.join()
    assert not result.success
    error = result.error
    assert error is not None and error.code == "DW-E108"
    assert "step 'nap'" in error.message


def test_a_closed_runner_refuses_calls(client: Any) -> None:
    runner = DaskRunner(client)
    runner.close()
    with FlowExecutor([t.inc], runner=runner) as ex:
        result = ex.run(Flow("after", [Step(tool="inc", inputs={"x": Literal(1)})]), {})
    assert result.error is not None and result.error.code == "DW-E108"
    assert "closed" in result.error.message


@pytest.mark.timeout(60)
def test_an_asynchronous_client_is_refused(cluster: Any) -> None:
    async def check() -> None:
        async with distributed.Client(cluster.scheduler_address, asynchronous=True) as client:
            with pytest.raises(UsageError, match="asynchronous"):
                DaskRunner(client)

    asyncio.run(check())


def test_without_the_extra_the_runner_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagwright.errors import IntegrationUnavailableError

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(IntegrationUnavailableError) as raised:
        DaskRunner(object())  # type: ignore[arg-type]
    assert raised.value.hint == "pip install 'dagwright[dask]'"


def test_errors_keep_their_pickling_once_dask_is_loaded(client: Any) -> None:
    """Dask makes every exception pickle with its cause; a failed run's error still
    pickles without the tool's exception, which may not survive pickling."""
    import pickle

    class Local(Exception):  # a local class: it cannot be pickled
        pass

    @tool
    def odd(x: int) -> int:
        """Raises an exception that cannot be pickled."""
        raise Local("local")

    DaskRunner(client)
    with FlowExecutor([odd]) as ex:
        result = ex.run(Flow("f", [Step(tool="odd", inputs={"x": Literal(1)})]), {})
    with pytest.raises(RunFailedError) as caught:
        result.raise_for_error()
    assert isinstance(caught.value.__cause__, Local)
    clone = pickle.loads(pickle.dumps(caught.value))
    assert clone.result.digest == result.digest and clone.__cause__ is None

"""Runs on a Dask cluster give what local runs give: outputs, records, digests.

Every test compares a ``DaskRunner`` run with the same run made in this process, in
both lanes, and checks that the calls really ran on the workers.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dagwright import (
    DAGFlow,
    ExecutionResult,
    Flow,
    FlowExecutor,
    FlowRegistry,
    Literal,
    MapStep,
    RetryPolicy,
    Step,
    tool,
)
from dagwright.cache import InMemoryStepCache
from dagwright.errors import UsageError
from dagwright.runners import DaskRunner
from tests.runners import dask_tools as t

TOOLS = [
    t.inc,
    t.ainc,
    t.score,
    t.total,
    t.picky,
    t.logged,
    t.flaky,
    t.sleepy,
    t.asleepy,
    t.cached_inc,
    t.unsendable,
]


def untimed(result: ExecutionResult) -> list[dict[str, Any]]:
    return [record.to_dict(times=False) for record in result.steps]


def both(
    flow: Flow | DAGFlow,
    inputs: dict[str, Any],
    client: Any,
    *,
    lane: str = "sync",
    registry: FlowRegistry | None = None,
    max_concurrency: int = 16,
) -> tuple[ExecutionResult, ExecutionResult]:
    """The run made locally, then on the cluster, in ``lane``."""
    results = []
    for runner in (None, DaskRunner(client)):
        with FlowExecutor(
            TOOLS, runner=runner, registry=registry, max_concurrency=max_concurrency
        ) as ex:
            if lane == "sync":
                results.append(ex.run(flow, inputs))
            else:
                results.append(asyncio.run(ex.arun(flow, inputs)))
    return results[0], results[1]


def assert_same(local: ExecutionResult, remote: ExecutionResult) -> None:
    assert remote.success == local.success
    assert remote.output == local.output
    assert untimed(remote) == untimed(local)
    assert remote.digest == local.digest


MIXED = DAGFlow(
    "mixed",
    [
        Step(id="a", tool="inc", inputs={"x": "x"}, outputs={"a": "inc"}),
        Step(id="b", tool="ainc", inputs={"x": "a"}, outputs={"b": "ainc"}, depends_on=["a"]),
        MapStep(id="m", over="xs", tool="score", item="x", results="scores"),
        Step(id="c", tool="score", inputs={"x": "b", "label": Literal("c")}, depends_on=["b"]),
        Step(
            id="big",
            tool="inc",
            inputs={"x": "b"},
            outputs={"big": "inc"},
            when="b > 3",
            depends_on=["b"],
        ),
    ],
)


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_a_mixed_flow_gives_the_local_outputs_records_and_digest(client: Any, lane: str) -> None:
    local, remote = both(MIXED, {"x": 4, "xs": [3, 1, 4, 1, 5]}, client, lane=lane)
    assert local.success
    assert_same(local, remote)
    assert remote.output["scores"][2] == {"score": 6, "label": "s"}


def test_calls_run_on_the_workers_not_in_the_driver(client: Any, tmp_path: Path) -> None:
    @tool
    def where(x: int) -> int:
        """The pid of the process making the call."""
        return os.getpid()

    flow = DAGFlow("where", [MapStep(id="m", over="xs", tool="where", item="x", results="pids")])
    worker_pids = set(client.run(os.getpid).values())
    with FlowExecutor([where], runner=DaskRunner(client), max_concurrency=8) as ex:
        result = ex.run(flow, {"xs": list(range(8))})
    pids = {item["where"] for item in result.output["pids"]}
    assert pids <= worker_pids
    assert os.getpid() not in pids


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_a_map_of_200_items(client: Any, lane: str) -> None:
    flow = DAGFlow(
        "wide",
        [
            MapStep(id="m", over="xs", tool="inc", item="x", results="ys", max_concurrency=64),
            MapStep(id="n", over="xs", tool="ainc", item="x", results="zs", depends_on=["m"]),
        ],
    )
    xs = [(i * 37) % 200 for i in range(200)]
    local, remote = both(flow, {"xs": xs}, client, lane=lane, max_concurrency=64)
    assert_same(local, remote)
    assert [item["inc"] for item in remote.output["ys"]] == [x + 1 for x in xs]


def test_the_concurrency_bound_holds_on_the_cluster(client: Any, tmp_path: Path) -> None:
    """With max_concurrency=2, never more than two calls of the run are processing on
    the cluster (the scheduler's view, sampled while the run goes)."""
    flow = DAGFlow("bounded", [MapStep(id="m", over="xs", tool="sleepy", item="seconds",
                                       results="ys")])  # fmt: skip
    seen: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            seen.append(sum(len(keys) for keys in client.processing().values()))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    with FlowExecutor(TOOLS, runner=DaskRunner(client), max_concurrency=2) as ex:
        sampler.start()
        try:
            result = ex.run(flow, {"xs": [0.3] * 8})
        finally:
            done.set()
            sampler.join(timeout=30)
    assert result.success
    assert 1 <= max(seen) <= 2  # the cluster has 4 worker threads: the bound is what holds


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_tool_failures_are_recorded_as_locally(client: Any, lane: str) -> None:
    """Collected map failures: same codes, types, messages and tracebacks."""
    flow = DAGFlow(
        "collect",
        [
            MapStep(
                id="m",
                over="xs",
                tool="picky",
                item="x",
                results="ys",
                errors="errs",
                error_policy="collect",
            )
        ],
    )
    local, remote = both(flow, {"xs": [1, 3, 4, 6]}, client, lane=lane)
    assert local.success
    assert_same(local, remote)
    errors = remote.output["errs"]
    assert [e["index"] for e in errors] == [1, 3]
    failures = {}
    for result in (local, remote):
        record = next(r for r in result.steps if r.step_id == "m")
        failures[result is remote] = [
            child.attempts[0].error for child in record.children if child.attempts[0].error
        ]
    assert failures[True] == failures[False]  # tracebacks included
    (first, _) = failures[True]
    assert first is not None and first.type == "ValueError"
    assert first.message == "no multiples of 3, got 3"
    assert first.traceback is not None and 'raise ValueError(f"no multiples' in first.traceback


def test_a_failed_run_fails_with_the_same_error(client: Any) -> None:
    flow = Flow("fails", [Step(tool="picky", inputs={"x": Literal(9)})])
    local, remote = both(flow, {}, client)
    assert not local.success
    assert_same(local, remote)
    assert remote.error is not None and remote.error.code == "DW-E101"


def test_retries_follow_the_step_policy(client: Any, tmp_path: Path) -> None:
    marker = tmp_path / "calls"
    flow = Flow(
        "retry",
        [
            Step(
                tool="flaky",
                inputs={"x": Literal(5), "marker": Literal(str(marker))},
                retry=RetryPolicy(max_attempts=3, backoff_s=0.05),
            )
        ],
    )
    with FlowExecutor(TOOLS, runner=DaskRunner(client)) as ex:
        result = ex.run(flow, {})
    assert result.success, result.error
    (record,) = result.steps
    assert [a.status for a in record.attempts] == ["failed", "failed", "completed"]
    assert marker.read_text().count("call") == 3


@pytest.mark.parametrize("lane", ["sync", "async"])
@pytest.mark.parametrize("name", ["sleepy", "asleepy"])
@pytest.mark.timeout(60)
def test_a_timeout_is_kept_on_the_worker(client: Any, lane: str, name: str) -> None:
    flow = Flow("slow", [Step(tool=name, inputs={"seconds": Literal(3)}, timeout_s=0.5)])
    local, remote = both(flow, {}, client, lane=lane)
    assert not remote.success
    assert remote.error is not None and remote.error.code == "DW-E104"
    assert remote.error.message == local.error.message  # type: ignore[union-attr]
    assert untimed(remote) == untimed(local)


def test_the_cache_is_used_in_the_driver(client: Any, tmp_path: Path) -> None:
    log = tmp_path / "calls"
    flow = DAGFlow(
        "cached",
        [MapStep(id="m", over="xs", tool="cached_inc", item="x",
                 inputs={"log": Literal(str(log))}, results="ys")],
    )  # fmt: skip
    cache = InMemoryStepCache()
    with FlowExecutor(TOOLS, runner=DaskRunner(client), cache=cache) as ex:
        first = ex.run(flow, {"xs": [1, 2, 3]})
        second = ex.run(flow, {"xs": [3, 2, 1, 4]})
    assert first.success and second.success
    assert sorted(log.read_text().split()) == ["1", "2", "3", "4"]  # 4 is the only new call
    assert [item["cached_inc"] for item in second.output["ys"]] == [4, 3, 2, 5]
    (record,) = [r for r in second.steps if r.step_id == "m"]
    assert [child.cached for child in record.children] == [True, True, True, False]


def test_sub_flows_run_their_calls_on_the_cluster(client: Any) -> None:
    registry = FlowRegistry()
    registry.register(Flow("inner", [Step(tool="inc", inputs={"x": "x"})], version="1"))
    outer = DAGFlow(
        "outer",
        [
            Step(id="s", flow="inner", inputs={"x": "x"}, outputs={"y": "inc"}),
            Step(id="t", tool="ainc", inputs={"x": "y"}, depends_on=["s"]),
        ],
    )
    local, remote = both(outer, {"x": 1}, client, registry=registry)
    assert local.success
    assert_same(local, remote)


def test_an_output_that_cannot_come_back_is_a_tool_output_error(client: Any) -> None:
    flow = Flow("unsendable", [Step(tool="unsendable", inputs={"x": Literal(1)})])
    with FlowExecutor(TOOLS, runner=DaskRunner(client)) as ex:
        result = ex.run(flow, {})
    assert not result.success
    assert result.error is not None and result.error.code == "DW-E103"
    assert "cannot be sent back from the worker" in result.error.message


def test_system_exit_in_a_remote_tool_stops_the_run(client: Any) -> None:
    flow = Flow("leave", [Step(tool="leave", inputs={"code": Literal(3)})])
    with FlowExecutor([t.leave], runner=DaskRunner(client)) as ex, pytest.raises(SystemExit):
        ex.run(flow, {})


def test_the_executor_reports_its_runner(client: Any) -> None:
    runner = DaskRunner(client)
    with FlowExecutor(TOOLS, runner=runner) as ex:
        assert ex.runner is runner
    with FlowExecutor(TOOLS) as ex:
        assert ex.runner is None


def test_misuse_is_refused_with_a_usage_error(client: Any) -> None:
    with pytest.raises(UsageError, match=r"distributed\.Client"):
        DaskRunner("tcp://127.0.0.1:8786")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="runner must be"):
        FlowExecutor(TOOLS, runner=object())  # type: ignore[arg-type]


def test_runs_in_several_threads_share_one_runner(client: Any) -> None:
    flow = DAGFlow("shared", [MapStep(id="m", over="xs", tool="inc", item="x", results="ys")])
    runner = DaskRunner(client)
    results: dict[int, ExecutionResult] = {}

    def run(k: int) -> None:
        with FlowExecutor(TOOLS, runner=runner, max_concurrency=8) as ex:
            results[k] = ex.run(flow, {"xs": list(range(k, k + 20))})

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == [0, 1, 2, 3]
    for k, result in results.items():
        assert [item["inc"] for item in result.output["ys"]] == list(range(k + 1, k + 21))


def test_a_streamed_run_gives_the_local_events(client: Any) -> None:
    flow = Flow(
        "chain", [Step(tool="inc", inputs={"x": "x"}), Step(tool="ainc", inputs={"x": "inc"})]
    )
    streams = []
    for runner in (None, DaskRunner(client)):
        with FlowExecutor(TOOLS, runner=runner) as ex:
            streams.append([type(item).__name__ for item in ex.stream(flow, {"x": 1})])
    assert streams[0] == streams[1]
    assert streams[1][-1] == "ExecutionResult"


def test_importing_the_runners_does_not_import_dask() -> None:
    code = (
        "import dagwright.runners, sys; print('distributed' in sys.modules, 'dask' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    assert done.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_workers_see_the_call_context_of_a_local_run(client: Any, lane: str) -> None:
    """The same run id gives the same contexts and keys on the cluster as locally, in a
    sync tool (with and without a timeout: the timed call runs in a thread of its own)
    and an async one."""
    flow = DAGFlow(
        "contexts",
        [
            MapStep(id="plain", over="xs", tool="who", item="x", results="a"),
            MapStep(id="timed", over="xs", tool="who", item="x", results="b", timeout_s=30),
            MapStep(id="aio", over="xs", tool="awho", item="x", results="c"),
        ],
    )
    outputs = []
    for runner in (None, DaskRunner(client)):
        with FlowExecutor([t.who, t.awho], runner=runner) as ex:
            if lane == "sync":
                result = ex.run(flow, {"xs": [1, 2]}, run_id="ctx-1")
            else:
                result = asyncio.run(ex.arun(flow, {"xs": [1, 2]}, run_id="ctx-1"))
        assert result.success, result.error
        outputs.append(result.output)
    assert outputs[0] == outputs[1]
    keys = [item["key"] for name in "abc" for item in outputs[1][name]]
    assert len(set(keys)) == 6
    assert [item["index"] for item in outputs[1]["b"]] == [[0], [1]]


@pytest.mark.parametrize("lane", ["sync", "async"])
def test_intents_are_journaled_in_the_driver_before_calls_go_out(
    client: Any, tmp_path: Path, lane: str
) -> None:
    """A non-idempotent tool on the cluster: its intents are written by the driver before
    each call is sent, and a resume after a stop with a call in doubt does not send it."""
    from tests.test_at_most_once import Crash, CrashAfterIntent

    log = tmp_path / "sent.txt"
    flow = DAGFlow(
        "mail",
        [MapStep(id="fan", over="xs", tool="send", item="x", results="sent", errors="lost",
                 max_concurrency=1, error_policy="collect", inputs={"log": "log"})],
    )  # fmt: skip
    inputs = {"xs": [1, 2, 3], "log": str(log)}
    store = CrashAfterIntent("fan", index=1)
    with FlowExecutor([t.send], runner=DaskRunner(client), checkpointer=store) as ex:
        with pytest.raises(Crash):
            if lane == "sync":
                ex.run(flow, inputs, run_id="mail-1")
            else:
                asyncio.run(ex.arun(flow, inputs, run_id="mail-1"))
        kinds = [(e["kind"], e.get("index")) for e in store.load("mail-1")[1]]
        assert kinds == [("intent", 0), ("instance", 0), ("intent", 1)]
        if lane == "sync":
            result = ex.resume("mail-1", flow)
        else:
            result = asyncio.run(ex.aresume("mail-1", flow))
    assert result.success, result.error
    assert result.output["sent"] == [{"send": 1}, {"send": 3}]
    assert [item["error_type"] for item in result.output["lost"]] == ["StepInterruptedError"]
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["1", "3"]

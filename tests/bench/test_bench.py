"""``dagwright.bench`` on flows of tools that sleep known times.

Sleeps give lower bounds that hold on any machine (a 20 ms sleep takes at least 20 ms);
upper bounds are only the ones the definitions guarantee (overhead >= 0, utilisation
<= 1), so a slow or busy machine cannot fail them. Overlap is proven with a barrier.
"""

from __future__ import annotations

import json

import pytest

import dagwright
from dagwright import (
    DAGFlow,
    FlowCompileError,
    FlowExecutor,
    InMemoryStepCache,
    RunFailedError,
    Step,
    UsageError,
    tool,
)
from dagwright.profiling import BenchReport
from tests.bench.flows import (
    EVERYTHING_INPUTS,
    TOOLS,
    everything,
    slow_branch,
    wait,
    with_subflow,
)
from tests.overlap import Overlap

MS = 1e-3


@pytest.fixture
def executor() -> FlowExecutor:
    return FlowExecutor(TOOLS)


def test_the_critical_path_names_the_slow_branch(executor: FlowExecutor) -> None:
    report = dagwright.bench(executor, slow_branch(), repeat=3, warmup=1)
    assert isinstance(report, BenchReport)
    assert (report.repeat, report.warmup, len(report.runs)) == (3, 1, 3)
    assert report.critical_path == ("start", "slow", "end")
    assert report.critical_path_runs == 3
    for run in report.runs:
        assert run.critical_path == ("start", "slow", "end")
        assert run.critical_path_s >= 120 * MS  # 20 + 80 + 20 ms of sleeps
        assert run.tool_s >= 125 * MS  # every call: fast's 5 ms too
        assert run.wall_s >= run.critical_path_s
        assert run.overhead_s >= 0
        assert run.overhead_per_step_s == pytest.approx(run.overhead_s / 3)
        assert 0 < run.utilisation <= 1
        assert run.utilisation == pytest.approx(run.tool_s / (run.wall_s * 8))
        assert run.calls == 4
        assert 1 <= run.peak_in_flight <= 2
    assert report.wall.p50 >= 120 * MS
    assert report.wall.min <= report.wall.p50 <= report.wall.p95 <= report.wall.max
    assert report.deterministic
    assert report.warnings == ()
    assert len(report.digests) == 4  # the warm-up run's too


def test_each_step_has_its_percentiles(executor: FlowExecutor) -> None:
    report = dagwright.bench(executor, slow_branch(), repeat=3, warmup=0)
    rows = {row.path: row for row in report.steps}
    assert list(rows) == ["start", "slow", "fast", "end"]
    slow = rows["slow"].duration
    assert slow is not None
    assert slow.min >= 80 * MS
    assert slow.p50 <= slow.p95 <= slow.max
    assert rows["start"].per_run == 1
    assert dict(rows["end"].statuses) == {"completed": 3}


def test_peak_in_flight_counts_calls_that_overlapped() -> None:
    meeting = Overlap(2)

    @tool(output="met")
    def meet(tag: str) -> str:
        meeting.meet()  # returns only once both calls are inside
        return tag

    flow = DAGFlow(
        "meet",
        [
            Step(tool="meet", id="left", inputs={"tag": dagwright.Literal("l")},
                 outputs={"left": "met"}),
            Step(tool="meet", id="right", inputs={"tag": dagwright.Literal("r")},
                 outputs={"right": "met"}),
        ],
    )  # fmt: skip
    with FlowExecutor([meet], max_concurrency=2) as executor:
        report = dagwright.bench(executor, flow, repeat=3, warmup=0)
    assert [run.peak_in_flight for run in report.runs] == [2, 2, 2]
    assert report.peak_in_flight.max == 2
    assert report.max_concurrency == 2


def test_map_instances_are_aggregated_under_their_map() -> None:
    with FlowExecutor(TOOLS, cache=InMemoryStepCache()) as executor:
        report = dagwright.bench(executor, everything(), EVERYTHING_INPUTS, repeat=3)
    rows = {row.path: row for row in report.steps}
    assert list(rows) == ["prep", "slow", "items", "items[*]", "twice", "maybe", "join"]
    instances = rows["items[*]"]
    assert (instances.kind, instances.depth, instances.tool) == ("instance", 1, "fetch_item")
    assert instances.per_run == 4
    assert dict(instances.statuses) == {"completed": 9, "failed": 3}  # item 3 fails
    assert instances.duration is not None
    assert 0 < instances.duration.min <= instances.duration.max
    assert rows["items"].kind == "map"
    # at most two instances at a time: four of them span at least two instance lengths
    items = rows["items"].duration
    assert items is not None and items.min >= 2 * instances.duration.min
    # cached after the warm-up run: no call, so no tool time
    assert dict(rows["twice"].statuses) == {"cached": 3}
    assert all(run.cache_hits == 1 for run in report.runs)
    assert dict(rows["maybe"].statuses) == {"skipped": 3}
    assert rows["maybe"].duration is None
    assert report.critical_path == ("prep", "slow", "join")
    for run in report.runs:
        assert run.calls == 1 + 1 + 4 + 1  # prep, slow, the instances, join
        assert run.tool_s >= (20 + 60 + 40 + 10) * MS


def test_a_sub_flow_shows_its_steps_and_puts_them_on_the_critical_path() -> None:
    flow, registry = with_subflow()
    with FlowExecutor(TOOLS, registry=registry) as executor:
        report = dagwright.bench(executor, flow, repeat=2)
    rows = {row.path: row for row in report.steps}
    assert list(rows) == ["first", "inner", "inner/one", "inner/two", "side", "last"]
    assert (rows["inner"].kind, rows["inner"].flow) == ("flow", "pair")
    assert rows["inner/one"].depth == 1
    assert report.critical_path == ("first", "inner/one", "inner/two", "last")
    for run in report.runs:
        assert run.critical_path_s >= (10 + 30 + 30 + 10) * MS
        assert run.overhead_s >= 0


def test_a_failed_run_raises_with_its_result(executor: FlowExecutor) -> None:
    flow = DAGFlow("boom", [wait("a", 1), Step(tool="explode", id="b", inputs={"n": "a_ms"},
                                                depends_on=("a",))])  # fmt: skip
    with pytest.raises(RunFailedError) as caught:
        dagwright.bench(executor, flow, repeat=2, warmup=0)
    error = caught.value
    assert error.code == "DW-E007"
    assert "measured run 1 of 2" in error.message
    assert "'b' failed" in error.message and "cannot handle 1" in error.message
    assert error.hint is not None
    assert error.result.success is False
    bars = {bar.path: bar for bar in error.result.timeline()}
    assert bars["b"].status == "failed"
    assert bars["b"].error_type == "ValueError"


def test_a_failing_warm_up_run_is_reported_as_one(executor: FlowExecutor) -> None:
    flow = DAGFlow("boom", [Step(tool="explode", id="b", inputs={"n": dagwright.Literal(1)})])
    with pytest.raises(RunFailedError, match="warm-up run 1 of 1"):
        dagwright.bench(executor, flow)


def test_a_nondeterministic_flow_is_measured_with_a_warning(executor: FlowExecutor) -> None:
    flow = DAGFlow("drifting", [Step(tool="drift", id="d", inputs={"n": dagwright.Literal(1)})])
    report = dagwright.bench(executor, flow, repeat=3, warmup=1)
    assert not report.deterministic
    assert len(set(report.digests)) == 4
    assert report.warnings == (
        "the flow is nondeterministic: its 4 runs gave 4 different digests (the figures "
        "are still of these runs)",
    )
    assert "the flow is nondeterministic" in report.render()
    data = report.to_dict()
    assert (data["deterministic"], data["digest"], len(data["digests"])) == (False, None, 4)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"repeat": 0}, "repeat must be an int >= 1, got 0"),
        ({"repeat": 2.5}, "repeat must be an int >= 1"),
        ({"repeat": True}, "repeat must be an int >= 1"),
        ({"warmup": -1}, "warmup must be an int >= 0, got -1"),
    ],
)
def test_bad_counts_are_usage_errors(
    executor: FlowExecutor, options: dict[str, object], words: str
) -> None:
    with pytest.raises(UsageError, match=words) as caught:
        dagwright.bench(executor, slow_branch(), **options)  # type: ignore[arg-type]
    assert caught.value.hint


def test_not_an_executor_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="FlowExecutor"):
        dagwright.bench(object(), slow_branch())  # type: ignore[arg-type]


def test_a_flow_that_does_not_compile_fails_before_any_run() -> None:
    with FlowExecutor([]) as executor, pytest.raises(FlowCompileError):
        dagwright.bench(executor, slow_branch())


def test_a_registered_flow_is_benched_by_name() -> None:
    _, registry = with_subflow()
    registry.register(slow_branch())
    with FlowExecutor(TOOLS, registry=registry) as executor:
        report = dagwright.bench(executor, "slow_branch", repeat=1, warmup=0)
    assert (report.flow_name, report.flow_version) == ("slow_branch", "1")


def test_to_dict_is_json_with_the_documented_keys(executor: FlowExecutor) -> None:
    report = dagwright.bench(executor, slow_branch(), repeat=2, warmup=0)
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) == {
        "format_version", "flow", "version", "repeat", "warmup", "max_concurrency",
        "deterministic", "digest", "digests", "warnings", "wall_s", "tool_s",
        "critical_path_s", "overhead_s", "overhead_per_step_s", "utilisation",
        "peak_in_flight", "critical_path", "steps", "runs", "median_run", "timeline",
    }  # fmt: skip
    assert data["format_version"] == 1
    assert set(data["wall_s"]) == {"p50", "p95", "min", "max", "mean"}
    assert data["critical_path"] == {"steps": ["start", "slow", "end"], "runs": 2}
    assert [row["path"] for row in data["steps"]] == ["start", "slow", "fast", "end"]
    assert set(data["steps"][0]) == {
        "path", "step_id", "depth", "kind", "tool", "flow", "per_run", "duration",
        "statuses", "attempts",
    }  # fmt: skip
    assert len(data["runs"]) == 2
    assert set(data["runs"][0]) == {
        "wall_s", "tool_s", "critical_path", "critical_path_s", "overhead_s",
        "overhead_per_step_s", "utilisation", "peak_in_flight", "calls", "cache_hits",
        "digest", "started_at",
    }  # fmt: skip
    assert data["median_run"] in (0, 1)
    assert [bar["path"] for bar in data["timeline"]] == ["start", "slow", "fast", "end"]
    assert data["digest"] == report.digests[0]


def test_the_text_report_names_every_figure_and_step(executor: FlowExecutor) -> None:
    text = dagwright.bench(executor, slow_branch(), repeat=2, warmup=0).render()
    lines = text.splitlines()
    assert lines[0] == "bench slow_branch v1: 2 runs after 0 warm-up runs, max_concurrency 8"
    assert lines[1].startswith("digest ") and lines[1].endswith("the same in all 2 runs")
    for label in ("wall", "in tools", "critical path", "overhead", "overhead/step",
                  "utilisation", "peak in flight"):  # fmt: skip
        assert any(line.startswith(label + " ") for line in lines), label
    assert "critical path (2 of 2 runs): start -> slow -> end" in lines
    table = lines[lines.index("critical path (2 of 2 runs): start -> slow -> end") + 2 :]
    assert [line.split()[0] for line in table] == ["step", "start", "slow", "fast", "end"]

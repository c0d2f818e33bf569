"""The figures of one run, computed from records with known times (no clock involved)."""

from __future__ import annotations

import pytest

from dagwright import (
    AttemptRecord,
    DAGFlow,
    ExecutionResult,
    Flow,
    FlowRegistry,
    Literal,
    Step,
    StepRecord,
)
from dagwright.compiler import compile_flow
from dagwright.profiling import Spread
from dagwright.profiling._analysis import (
    Dependencies,
    call_intervals,
    critical_path,
    peak_in_flight,
    sample,
)
from dagwright.profiling._stats import percentile, step_stats
from tests.bench import bench_tools
from tests.bench.flows import TOOLS, slow_branch, wait

T0 = 1_000.0


def call(step_id: str, start: float, end: float, **extra: object) -> StepRecord:
    """A completed tool step whose one call ran from ``start`` to ``end`` (after T0)."""
    attempt = AttemptRecord(0, "completed", "wait", None, T0 + start, T0 + end)
    return StepRecord(
        step_id, "completed", "wait", attempts=(attempt,), started_at=T0 + start,
        ended_at=T0 + end, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def result(*steps: StepRecord) -> ExecutionResult:
    return ExecutionResult("r", "f", "1", True, {}, steps)


def deps(**steps: tuple[str, ...]) -> Dependencies:
    return Dependencies(steps, {})


def test_the_critical_path_follows_the_slow_branch() -> None:
    records = (call("a", 0, 1), call("slow", 1, 5), call("fast", 1, 2), call("end", 5, 6))
    graph = deps(a=(), slow=("a",), fast=("a",), end=("slow", "fast"))
    assert critical_path(records, graph) == [("a", 1.0), ("slow", 4.0), ("end", 1.0)]


def test_the_critical_path_is_by_durations_not_by_when_steps_ended() -> None:
    # fast ended last (it waited for a slot), but slow's chain is the longer one
    records = (call("a", 0, 1), call("slow", 1, 4), call("fast", 4.5, 5), call("end", 5, 6))
    graph = deps(a=(), slow=("a",), fast=("a",), end=("fast",))
    assert [p for p, _ in critical_path(records, graph)] == ["a", "slow"]


def test_ties_go_to_the_step_first_in_canonical_order() -> None:
    records = (call("x", 0, 2), call("y", 0, 2), call("z", 2, 3))
    graph = deps(x=(), y=(), z=("y", "x"))
    assert [p for p, _ in critical_path(records, graph)] == ["x", "z"]


def test_a_sub_flow_step_contributes_its_own_critical_path() -> None:
    inner = (call("one", 1, 2), call("two", 2.5, 4))
    sub = StepRecord("inner", "completed", None, "pair", children=inner,
                     started_at=T0 + 1, ended_at=T0 + 4)  # fmt: skip
    records = (call("first", 0, 1), sub, call("last", 4, 5))
    graph = Dependencies(
        {"first": (), "inner": ("first",), "last": ("inner",)},
        {"pair": deps(one=(), two=("one",))},
    )
    path = critical_path(records, graph)
    assert path == [("first", 1.0), ("inner/one", 1.0), ("inner/two", 1.5), ("last", 1.0)]


def test_skipped_steps_weigh_nothing() -> None:
    records = (call("a", 0, 1), StepRecord("b", "skipped", "wait"), call("c", 1, 2))
    graph = deps(a=(), b=("a",), c=("a",))
    assert critical_path(records, graph) == [("a", 1.0), ("c", 1.0)]


def test_tool_time_and_peak_leave_cache_hits_out() -> None:
    records = (call("a", 0, 2), call("b", 1, 3), call("c", 1.5, 2.5, cached=True), call("d", 3, 4))
    assert call_intervals(records) == [(T0, T0 + 2), (T0 + 1, T0 + 3), (T0 + 3, T0 + 4)]
    # b ends as d starts: they do not overlap
    assert peak_in_flight(call_intervals(records)) == 2
    assert peak_in_flight([]) == 0


def test_a_sample_has_the_documented_figures() -> None:
    records = (call("a", 0.5, 1.5), call("slow", 1.5, 5.5), call("fast", 1.5, 2.5),
               call("end", 5.5, 6.5))  # fmt: skip
    graph = deps(a=(), slow=("a",), fast=("a",), end=("slow", "fast"))
    run = sample(result(*records), T0, T0 + 8.0, graph, max_concurrency=4)
    assert run.wall_s == 8.0
    assert run.tool_s == 7.0
    assert run.critical_path == ("a", "slow", "end")
    assert run.critical_path_s == 6.0
    assert run.overhead_s == 2.0
    assert run.overhead_per_step_s == pytest.approx(2.0 / 3)
    assert run.utilisation == pytest.approx(7.0 / (8.0 * 4))
    assert run.peak_in_flight == 2
    assert run.calls == 4
    assert run.cache_hits == 0
    assert [bar.start for bar in run.timeline] == [0.5, 1.5, 1.5, 5.5]


def test_dependencies_of_a_linear_flow_chain_its_default_ids() -> None:
    flow = Flow("line", [wait("x", 1), Step(tool="wait", inputs={"ms": Literal(1)}), wait("z", 1)])
    compiled = compile_flow(flow, tools=[bench_tools.wait])
    assert dict(Dependencies.of(compiled).steps) == {"x": (), "wait": ("x",), "z": ("wait",)}


def test_dependencies_of_a_dag_and_its_sub_flows() -> None:
    registry = FlowRegistry()
    registry.register(Flow("pair", [wait("one", 1), wait("two", 1)]))
    flow = DAGFlow("outer", [wait("a", 1), Step(flow="pair", id="p", depends_on=("a",))])
    found = Dependencies.of(compile_flow(flow, tools=TOOLS, registry=registry))
    assert dict(found.steps) == {"a": (), "p": ("a",)}
    assert dict(found.subflows["pair"].steps) == {"one": (), "two": ("one",)}
    assert dict(Dependencies.of(compile_flow(slow_branch(), tools=TOOLS)).steps) == {
        "start": (),
        "slow": ("start",),
        "fast": ("start",),
        "end": ("slow", "fast"),
    }


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([float(v) for v in range(1, 21)], 95) == pytest.approx(19.05)
    assert Spread.of([4.0, 1.0, 2.0, 3.0]) == Spread(2.5, 3.85, 1.0, 4.0, 2.5)


def test_instances_are_one_row_under_their_map() -> None:
    def map_record(spans: list[tuple[float, float]], failed: int) -> StepRecord:
        instances = tuple(
            call("m", s, e, index=i)._replace(status="failed" if i == failed else "completed")
            for i, (s, e) in enumerate(spans)
        )
        return StepRecord("m", "completed", "wait", children=instances,
                          started_at=T0 + spans[0][0], ended_at=T0 + spans[-1][1])  # fmt: skip

    runs = [
        result(call("a", 0, 1), map_record([(1, 2), (1, 3)], failed=1)).timeline(T0),
        result(call("a", 0, 1), map_record([(1, 4), (1, 2)], failed=5)).timeline(T0),
    ]
    rows = step_stats(runs)
    assert [(r.path, r.kind, r.depth) for r in rows] == [
        ("a", "tool", 0),
        ("m", "map", 0),
        ("m[*]", "instance", 1),
    ]
    instances = rows[2]
    assert instances.per_run == 2
    assert instances.duration == Spread.of([1.0, 2.0, 3.0, 1.0])
    assert dict(instances.statuses) == {"completed": 3, "failed": 1}
    assert instances.attempts == 4


def test_a_row_first_seen_in_a_later_run_goes_under_its_parent() -> None:
    empty = StepRecord("m", "completed", "wait")
    full = StepRecord("m", "completed", "wait", children=(call("m", 1, 2, index=0),),
                      started_at=T0 + 1, ended_at=T0 + 2)  # fmt: skip
    runs = [
        result(call("a", 0, 1), empty, call("z", 1, 2)).timeline(T0),
        result(call("a", 0, 1), full, call("z", 2, 3)).timeline(T0),
    ]
    assert [row.path for row in step_stats(runs)] == ["a", "m", "m[*]", "z"]
    assert step_stats(runs)[2].per_run == 0.5

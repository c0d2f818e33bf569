"""Flows of ``bench_tools`` with known shapes, for the profiling tests."""

from __future__ import annotations

from dagwright import DAGFlow, Flow, FlowRegistry, Literal, MapStep, Step
from tests.bench import bench_tools

TOOLS = [
    bench_tools.wait,
    bench_tools.fetch_item,
    bench_tools.double,
    bench_tools.explode,
    bench_tools.drift,
]


def wait(step_id: str, ms: int, *deps: str, when: str | None = None) -> Step:
    """A step that sleeps ``ms`` and writes ``<step_id>_ms``."""
    return Step(
        tool="wait",
        id=step_id,
        inputs={"ms": Literal(ms)},
        outputs={f"{step_id}_ms": "waited"},
        depends_on=deps,
        when=when,
    )


def slow_branch() -> DAGFlow:
    """start(20) -> slow(80) | fast(5) -> end(20): the critical path is start, slow, end."""
    return DAGFlow(
        "slow_branch",
        [
            wait("start", 20),
            wait("slow", 80, "start"),
            wait("fast", 5, "start"),
            wait("end", 20, "slow", "fast"),
        ],
    )


def pair() -> Flow:
    """A linear sub-flow: one(30), then two(30)."""
    return Flow("pair", [wait("one", 30), wait("two", 30)])


def with_subflow() -> tuple[DAGFlow, FlowRegistry]:
    """first(10) -> inner (the ``pair`` sub-flow, 60 ms of calls) -> last(10), beside a
    short side(5) branch; and a registry holding ``pair``."""
    registry = FlowRegistry()
    registry.register(pair())
    flow = DAGFlow(
        "with_subflow",
        [
            wait("first", 10),
            Step(flow="pair", id="inner", depends_on=("first",)),
            wait("side", 5, "first"),
            wait("last", 10, "inner", "side"),
        ],
    )
    return flow, registry


def everything() -> DAGFlow:
    """Every display status but cancelled: a map under ``collect`` whose item 3 fails,
    a ``when``-skipped step, a cacheable step (cached after the first run), a slow
    branch. Inputs: ``items`` (a list of ints), ``n`` (an int), ``flag`` (a bool)."""
    return DAGFlow(
        "everything",
        [
            wait("prep", 20),
            wait("slow", 60, "prep"),
            MapStep(
                id="items",
                over="items",
                tool="fetch_item",
                item="item",
                inputs={"ms": Literal(10)},
                max_concurrency=2,
                error_policy="collect",
                results="fetched",
                errors="fetch_errors",
                depends_on=("prep",),
            ),
            Step(tool="double", id="twice", depends_on=("prep",)),
            wait("maybe", 5, "prep", when="flag == True"),
            wait("join", 10, "slow", "items", "twice", "maybe"),
        ],
    )


EVERYTHING_INPUTS = {"items": [1, 2, 3, 4], "n": 21, "flag": False}

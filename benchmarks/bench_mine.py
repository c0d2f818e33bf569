"""Mining scale benchmark (pytest-benchmark): ``make bench``; ``python benchmarks/bench_mine.py``.

DESIGN.md section 14 / the performance target: 10,000 sessions of 20 calls each mined in
well under a minute. Each session holds a fan-out chain (``search`` then ``fetch`` of
each of its 3 urls), a three-step chain with nested pointers (``lookup_user``,
``list_orders``, ``refund``), a two-step chain, one failed call and unrelated noise calls,
with values unique to the session (so the value index has real work). Mining runs against
specs only, so it measures mining, not replay. Run as a script it prints the time for
1,000 and 10,000 sessions and the growth factor (10x the calls should be about 10x the
time: the algorithm is linear in calls).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, create_model
from pytest_benchmark.fixture import BenchmarkFixture

if __name__ == "__main__":
    sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from dagwright import ToolSpec, mine
from dagwright.traces import TraceCall

CALLS_PER_SESSION = 20


class Hits(BaseModel):
    results: list[dict[str, str]]
    urls: list[str]


class Page(BaseModel):
    url: str
    text: str


class UserOut(BaseModel):
    user: dict[str, str]


class Orders(BaseModel):
    orders: list[dict[str, Any]]


class Refund(BaseModel):
    refund_id: str


class Lang(BaseModel):
    lang: str
    sample: str


class Text(BaseModel):
    text: str


class Now(BaseModel):
    now: str


def _spec(name: str, output: type[BaseModel], **fields: Any) -> ToolSpec:
    """A tool known only by its schemas: mining needs no callable (nothing is replayed)."""
    inputs = create_model(f"{name}_input", **fields)
    return ToolSpec(
        name=name,
        description=f"{name} (benchmark spec)",
        input_json_schema=inputs.model_json_schema(),
        output_json_schema=output.model_json_schema(),
    )


SPECS: list[ToolSpec] = [
    _spec("search", Hits, query=(str, ...), limit=(int, 3)),
    _spec("fetch", Page, url=(str, ...)),
    _spec("lookup_user", UserOut, email=(str, ...)),
    _spec("list_orders", Orders, user_id=(str, ...)),
    _spec("refund", Refund, order_id=(str, ...), reason=(str, ...)),
    _spec("detect", Lang, sample=(str, ...)),
    _spec("translate", Text, text=(str, ...), lang=(str, ...)),
    _spec("clock", Now, zone=(str, ...)),
]


def session(i: int) -> list[TraceCall]:
    """One session of exactly 20 calls (one failed) with values unique to ``i``."""
    s = f"session-{i:06d}"
    calls: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []

    def add(tool_name: str, args: dict[str, Any], result: dict[str, Any] | None) -> None:
        calls.append((tool_name, args, result))

    def noise() -> None:
        add("clock", {"zone": f"zone-{len(calls)}"}, {"now": f"12:{len(calls):02d} {s}"})

    urls = [f"https://{s}.example/{k}" for k in range(3)]
    add(
        "search",
        {"query": f"topic {s}", "limit": 3},
        {
            "results": [{"url": u, "title": f"t{k}"} for k, u in enumerate(urls)],
            "urls": urls,
        },
    )
    noise()
    for u in urls:
        add("fetch", {"url": u}, {"url": u, "text": f"text of {u}"})
    user = f"user-{s}"
    add("lookup_user", {"email": f"{s}@shop.example"}, {"user": {"id": user}})
    add("refund", {"order_id": "nope", "reason": "early"}, None)
    orders = [{"id": f"{user}-o{k}", "total": 1000 + k} for k in range(2)]
    add("list_orders", {"user_id": user}, {"orders": orders})
    noise()
    add("refund", {"order_id": orders[0]["id"], "reason": "damaged"}, {"refund_id": f"r-{s}"})
    add("detect", {"sample": f"bonjour {s}"}, {"lang": f"fr-{i % 7}xx", "sample": "x"})
    noise()
    add("translate", {"text": f"hello {s}", "lang": f"fr-{i % 7}xx"}, {"text": f"salut {s}"})
    while len(calls) < CALLS_PER_SESSION:
        noise()
    return [
        TraceCall(s, k, name, args, result, None if result is not None else "failed")
        for k, (name, args, result) in enumerate(calls)
    ]


def traces(sessions: int) -> list[TraceCall]:
    """``sessions`` sessions of 20 calls, one after the other."""
    return [c for i in range(sessions) for c in session(i)]


def run(records: list[TraceCall]) -> int:
    """Mine ``records``; the number of flows offered."""
    return len(mine(records, SPECS))


@pytest.mark.benchmark(group="mine-scale")
def test_mine_10000_sessions(benchmark: BenchmarkFixture) -> None:
    """10,000 sessions x 20 calls (target: well under a minute)."""
    records = traces(10_000)
    offered: int = benchmark.pedantic(  # type: ignore[no-untyped-call]
        run, args=(records,), rounds=1, warmup_rounds=0
    )
    assert offered == 3


def _time(sessions: int) -> float:
    records = traces(sessions)
    start = time.perf_counter()
    offered = run(records)
    elapsed = time.perf_counter() - start
    print(f"{sessions:>6} sessions x {CALLS_PER_SESSION} calls: {elapsed:6.2f} s, {offered} flows")
    return elapsed


if __name__ == "__main__":
    small, large = _time(1_000), _time(10_000)
    print(f"growth from 1,000 to 10,000 sessions: {large / small:.1f}x")

"""Mining rules a user relies on: siblings, maximality, dropped chains, replay verdicts."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from dagwright import Step, dump_flow, mine, mine_report, tool
from dagwright.traces import TraceCall
from tests.mining import _traces as t


def test_independent_calls_become_siblings_fed_by_one_producer() -> None:
    built: list[TraceCall] = []
    for i in range(3):
        s = t.Session(f"p{i}")
        hits = s.call(t.search, query=f"q{i}", limit=3)
        # Two of three urls, in either order: siblings, not a fan-out.
        first, second = (1, 0) if i % 2 else (0, 1)
        s.call(t.fetch, url=hits["urls"][first])
        s.call(t.fetch, url=hits["urls"][second])
        built.extend(s.calls)
    (mined,) = mine(built, t.TOOLS)
    assert mined.flow.name == "search_then_fetch_then_fetch"
    assert mined.support == 3 and mined.calls_saved == 6 and mined.replay_matches is True
    fetches = [s for s in mined.flow.steps if s.tool == "fetch"]
    assert [(s.id, s.inputs, s.depends_on) for s in fetches] == [
        ("fetch", {"url": "/urls/0"}, ("search",)),
        ("fetch-2", {"url": "/urls/1"}, ("search",)),
    ]
    # Both write url and text: renamed apart, so the flow has no collision.
    assert [s.outputs for s in fetches if isinstance(s, Step)] == [
        {"fetch_text": "text", "fetch_url": "url"},
        {"fetch_2_text": "text", "fetch_2_url": "url"},
    ]


def test_a_chain_inside_a_longer_one_with_the_same_support_is_not_offered() -> None:
    built: list[TraceCall] = []
    for i in range(3):
        s = t.Session(f"m{i}")
        t.orders(s, f"full{i}@shop.example", 0)
        user = s.call(t.lookup_user, email=f"short{i}@shop.example")
        s.call(t.list_orders, user_id=user["user"]["id"])
        built.extend(s.calls)
    report = mine_report(built, t.TOOLS)
    assert [m.flow.name for m in report.offered] == ["lookup_user_then_list_orders_then_refund"]
    assert [(d.name, d.support, d.reason) for d in report.dropped] == [
        (
            "lookup_user_then_list_orders",
            3,
            "lies inside the longer chain lookup_user_then_list_orders_then_refund"
            " with the same support",
        )
    ]
    # When the longer chain cannot be offered, the shorter one is.
    no_refund = [x for x in t.TOOLS if x.name != "refund"]
    assert [m.flow.name for m in mine(built, no_refund)] == ["lookup_user_then_list_orders"]
    # With more support of its own, the shorter chain is offered too.
    extra = t.Session("m9")
    user = extra.call(t.lookup_user, email="extra@shop.example")
    extra.call(t.list_orders, user_id=user["user"]["id"])
    names = {m.flow.name: m.support for m in mine(built + extra.calls, t.TOOLS)}
    assert names == {
        "lookup_user_then_list_orders_then_refund": 3,
        "lookup_user_then_list_orders": 4,
    }


def test_a_chain_of_a_tool_without_spec_is_dropped_with_the_reason() -> None:
    specs = [x for x in t.TOOLS if x.name != "refund"]
    report = mine_report(t.calls(), specs)
    assert [m.flow.name for m in report.offered] == ["search_then_each_fetch"]
    assert {(d.name, d.reason) for d in report.dropped} == {
        ("lookup_user_then_list_orders_then_refund", "no spec for tool(s): refund"),
        ("lookup_user_then_list_orders_then_refund_2", "no spec for tool(s): refund"),
    }


class Count(BaseModel):
    count: int


@tool(name="fetch")
def fetch_as_count(url: str) -> Count:
    """A fetch whose output does not have the field the next step reads."""
    return Count(count=len(url))


def test_a_flow_that_does_not_compile_clean_is_dropped_with_its_diagnostics() -> None:
    built: list[TraceCall] = []
    for i in range(3):
        s = t.Session(f"c{i}")
        page = s.call(t.fetch, url=f"https://c{i}.example")
        s.call(t.search, query=page["text"], limit=3)
        built.extend(s.calls)
    specs = [fetch_as_count if x.name == "fetch" else x for x in t.TOOLS]
    report = mine_report(built, specs)
    assert report.offered == ()
    (dropped,) = report.dropped
    assert dropped.name == "fetch_then_search"
    assert dropped.reason == "reads key(s) no step writes: text"
    assert dropped.flow is not None


calls_made: list[str] = []


class Page(BaseModel):
    url: str
    text: str


@tool(name="fetch")
def fetch_changed(url: str) -> Page:
    """A fetch whose pages changed since the trace was recorded."""
    return Page(url=url, text="new text")


def test_replay_that_does_not_reproduce_says_where() -> None:
    tools = [fetch_changed if x.name == "fetch" else x for x in t.TOOLS]
    mined = {m.flow.name: m for m in mine(t.calls(), tools)}
    research = mined["search_then_each_fetch"]
    assert research.replay_matches is False
    assert research.replay_note == "session 's1': step 'fetch' gave other results than recorded"
    assert mined["lookup_user_then_list_orders_then_refund"].replay_matches is True


def test_trivial_values_never_wire() -> None:
    built: list[TraceCall] = []
    for i in range(3):
        s = t.Session(f"v{i}")
        s.call(t.search, query=f"topic {i}", limit=3)
        # "ok"-like short strings, small ints and booleans match results by accident.
        s.call(t.refund, order_id="t1", reason="ok")
        built.extend(s.calls)
    assert mine(built, t.TOOLS) == []


def _call(session: str, seq: int, tool_name: str, args: dict[str, Any], result: Any) -> TraceCall:
    return TraceCall(session, seq, tool_name, args, result)


def test_the_latest_producer_and_the_shallowest_pointer_win() -> None:
    built: list[TraceCall] = []
    for i in range(3):
        s = f"w{i}"
        url = f"https://w{i}.example/0"
        hits = {"results": [{"url": url, "title": "x"}], "urls": [url]}
        built += [
            _call(s, 1, "search", {"query": f"old {i}", "limit": 1}, hits),
            _call(s, 2, "search", {"query": f"new {i}", "limit": 1}, hits),
            _call(s, 3, "fetch", {"url": url}, {"url": url, "text": "t"}),
        ]
    specs = [x.spec for x in t.TOOLS]
    (mined,) = mine(built, specs)
    text = dump_flow(mined.flow)
    assert "url: /urls/0" in text
    # The first search fed nothing: it is not part of the chain.
    assert [s.id for s in mined.flow.steps] == ["search", "fetch"]
    assert mined.calls_saved == 3


class NumberPage(BaseModel):
    url: str
    text: int


@tool(name="fetch")
def fetch_numbers(url: str) -> NumberPage:
    """A fetch whose spec says ``text`` is an integer: feeding a string field is an error."""
    return NumberPage(url=url, text=0)


def test_a_flow_with_a_type_mismatch_is_dropped_with_the_compiler_diagnostics() -> None:
    built: list[TraceCall] = []
    for i in range(3):
        s = t.Session(f"d{i}")
        page = s.call(t.fetch, url=f"https://d{i}.example")
        s.call(t.search, query=page["text"], limit=3)
        built.extend(s.calls)
    specs = [fetch_numbers if x.name == "fetch" else x for x in t.TOOLS]
    (dropped,) = mine_report(built, specs).dropped
    assert dropped.reason.startswith("does not compile clean (DW2")
    assert dropped.diagnostics and {d.step_id for d in dropped.diagnostics} == {"search"}
    assert dropped.flow is not None and dropped.support == 3


def test_a_result_echoing_an_argument_does_not_wire_later_uses_of_it() -> None:
    built: list[TraceCall] = []
    for i in range(3):
        s = t.Session(f"e{i}")
        url = f"https://e{i}.example/page"
        s.call(t.fetch, url=url)  # the page echoes its url back
        s.call(t.search, query=url, limit=3)
        built.extend(s.calls)
    # The agent passed the url before any result held it: search reads it as an input,
    # so fetch and search are unrelated calls, not a chain.
    assert mine(built, t.TOOLS) == []


def test_the_report_has_a_json_form_with_offered_and_dropped() -> None:
    import json

    specs = [x for x in t.TOOLS if x.name != "refund"]
    data = json.loads(json.dumps(mine_report(t.calls(), specs).to_dict()))
    # Successful calls only: research 5 x 4, orders 4 x 6 (the failed refund left out),
    # weather noise 2 x 2.
    assert data["sessions"] == 6 and data["calls"] == 5 * 4 + 4 * 6 + 2 * 2
    assert data["offered"] == [
        {
            "flow": "search_then_each_fetch",
            "support": 4,
            "sessions": ["s1", "s2", "s3", "s4"],
            "calls_saved": 12,
            "replay_matches": True,
            "replay_note": "reproduced 4 recorded occurrence(s)",
        }
    ]
    assert [(d["flow"], d["reason"], d["diagnostics"]) for d in data["dropped"]] == [
        ("lookup_user_then_list_orders_then_refund", "no spec for tool(s): refund", []),
        ("lookup_user_then_list_orders_then_refund_2", "no spec for tool(s): refund", []),
    ]

"""Mining the synthetic traces: exactly which flows come out, wired how, supported by whom."""

from __future__ import annotations

from pathlib import Path

import pytest

import dagwright
from dagwright import DAGFlow, MapStep, Step, UsageError, dump_flow, mine, mine_report
from dagwright.io import lint_files
from tests.mining import _traces as t

RESEARCH = """\
format_version: 1
kind: dag
name: search_then_each_fetch
version: '1'
description: 'Mined from agent traces: the same tool chain in 4 sessions (s1, s2, s3, s4).'
steps:
  - id: search
    tool: search
    inputs:
      limit: limit
      query: query
  - id: fetch
    tool: fetch
    over: urls
    item: url
    results: fetch_results
    depends_on:
      - search
"""


def _orders(pointer: str) -> list[Step]:
    return [
        Step(id="lookup_user", tool="lookup_user", inputs={"email": "email"}),
        Step(
            id="list_orders",
            tool="list_orders",
            inputs={"user_id": "/user/id"},
            depends_on=("lookup_user",),
        ),
        Step(
            id="refund",
            tool="refund",
            inputs={"order_id": pointer, "reason": "reason"},
            depends_on=("list_orders",),
        ),
    ]


def test_the_three_repeated_chains_come_out_ranked_with_support_and_replay() -> None:
    mined = mine(t.calls(), t.TOOLS)
    got = [(m.flow.name, m.support, m.sessions, m.calls_saved, m.replay_matches) for m in mined]
    assert got == [
        # 4 sessions x (1 search + 3 fetches - 1)
        ("search_then_each_fetch", 4, ("s1", "s2", "s3", "s4"), 12, True),
        ("lookup_user_then_list_orders_then_refund", 3, ("s1", "s2", "s3"), 6, True),
        ("lookup_user_then_list_orders_then_refund_2", 3, ("s4", "s5", "s6"), 6, True),
    ]
    assert dump_flow(mined[0].flow) == RESEARCH
    fan = mined[0].flow.steps[1]
    assert isinstance(fan, MapStep)
    assert (fan.over, fan.item, fan.results) == ("urls", "url", "fetch_results")


def test_an_argument_wired_two_ways_gives_two_flows() -> None:
    mined = {m.flow.name: m for m in mine(t.calls(), t.TOOLS)}
    first = mined["lookup_user_then_list_orders_then_refund"].flow
    second = mined["lookup_user_then_list_orders_then_refund_2"].flow
    assert isinstance(first, DAGFlow)
    assert list(first.steps) == _orders("/orders/0/id")
    assert list(second.steps) == _orders("/orders/1/id")


def test_below_min_support_nothing_is_offered() -> None:
    assert mine(t.calls(), t.TOOLS, min_support=5) == []
    names = [m.flow.name for m in mine(t.calls(), t.TOOLS, min_support=4)]
    assert names == ["search_then_each_fetch"]


def test_specs_alone_mine_the_same_flows_without_replay() -> None:
    with_tools = mine(t.calls(), t.TOOLS)
    specs_only = mine(t.calls(), [x.spec for x in t.TOOLS])
    assert [m.flow for m in specs_only] == [m.flow for m in with_tools]
    assert {m.replay_matches for m in specs_only} == {None}
    assert "replay needs Tools" in specs_only[0].replay_note


def test_replay_with_tools_given_separately() -> None:
    mined = mine(t.calls(), [x.spec for x in t.TOOLS], tools=t.TOOLS)
    assert [m.replay_matches for m in mined] == [True, True, True]


def test_trace_line_objects_mine_like_call_records() -> None:
    lines = [c.to_dict() for c in t.calls()]
    assert [m.flow for m in mine(lines, t.TOOLS)] == [m.flow for m in mine(t.calls(), t.TOOLS)]


def test_mined_flows_dumped_to_files_lint_clean(tmp_path: Path) -> None:
    for m in mine(t.calls(), t.TOOLS):
        dump_flow(m.flow, tmp_path / f"{m.flow.name}.yaml")
    report = lint_files([tmp_path], tools=t.TOOLS)
    assert report.file_errors == ()
    assert [d for d in report.diagnostics if d.severity != "info"] == []
    assert report.exit_code == 0


def test_mine_is_exported_from_the_package() -> None:
    from dagwright import mining

    assert dagwright.MinedFlow is mining.MinedFlow
    assert dagwright.MiningReport is mining.MiningReport
    assert mine_report(t.calls(), t.TOOLS).sessions == 6
    assert mine(t.calls(), t.TOOLS) == mining.mine(t.calls(), t.TOOLS)


def test_min_support_below_one_is_refused() -> None:
    with pytest.raises(UsageError, match="min_support"):
        mine(t.calls(), t.TOOLS, min_support=0)


def test_trace_files_and_directories_mine_like_records(tmp_path: Path) -> None:
    from dagwright.traces import write_traces

    sessions = t.sessions()
    write_traces([c for s in sessions[:3] for c in s], tmp_path / "a.jsonl")
    write_traces([c for s in sessions[3:] for c in s], tmp_path / "b.jsonl")
    expected = [m.flow for m in mine(t.calls(), t.TOOLS)]
    assert [m.flow for m in mine(tmp_path, t.TOOLS)] == expected
    assert [m.flow for m in mine([tmp_path / "b.jsonl", tmp_path / "a.jsonl"], t.TOOLS)] == (
        expected
    )


def test_a_bad_trace_line_is_a_coded_error_with_file_and_line(tmp_path: Path) -> None:
    from dagwright import TraceFileError

    path = tmp_path / "bad.jsonl"
    good = '{"session": "s", "seq": 1, "tool": "x", "arguments": {}, "result": {}, "error": null}'
    path.write_text(good + "\nnot json\n")
    with pytest.raises(TraceFileError) as caught:
        mine(path, t.TOOLS)
    assert caught.value.line == 2
    assert str(caught.value.path) == str(path)

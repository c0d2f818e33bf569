"""Mining is deterministic and order-independent: same traces, byte-identical flow files."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from dagwright import dump_flow, mine
from dagwright.traces import TraceCall
from tests.mining import _traces as t

SESSIONS = t.sessions()
SPECS = [x.spec for x in t.TOOLS]


def _texts(records: list[TraceCall]) -> list[str]:
    return [dump_flow(m.flow) for m in mine(records, SPECS)]


def _summary(records: list[TraceCall]) -> list[tuple[object, ...]]:
    return [(m.support, m.sessions, m.calls_saved) for m in mine(records, SPECS)]


EXPECTED = _texts([c for s in SESSIONS for c in s])
EXPECTED_SUMMARY = _summary([c for s in SESSIONS for c in s])


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False), st.booleans())
def test_any_session_and_record_order_mines_the_same_files(
    rnd: random.Random, interleave: bool
) -> None:
    sessions = [list(s) for s in SESSIONS]
    rnd.shuffle(sessions)
    records = [c for s in sessions for c in s]
    if interleave:
        # As if the records came from several files read in any order.
        rnd.shuffle(records)
    assert _texts(records) == EXPECTED
    assert _summary(records) == EXPECTED_SUMMARY


def test_the_expected_flows_are_the_three_chains() -> None:
    assert len(EXPECTED) == 3


def _generated(plan: list[tuple[bool, bool, int, int]]) -> list[list[TraceCall]]:
    built = []
    for i, (research, orders, which, noise) in enumerate(plan):
        s = t.Session(f"g{i:02d}")
        for k in range(noise):
            s.call(t.clock, zone=f"zone {k}")
        if research:
            t.research(s, f"subject {i}")
        if orders:
            t.orders(s, f"buyer{i}@shop.example", which)
        built.append(s.calls)
    return built


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.booleans(), st.integers(0, 1), st.integers(0, 2)),
        min_size=3,
        max_size=8,
    ),
    st.randoms(use_true_random=False),
)
def test_generated_sessions_mine_the_same_files_in_any_order(
    plan: list[tuple[bool, bool, int, int]], rnd: random.Random
) -> None:
    sessions = _generated(plan)
    expected = _texts([c for s in sessions for c in s])
    rnd.shuffle(sessions)
    records = [c for s in sessions for c in s]
    rnd.shuffle(records)
    assert _texts(records) == expected
    # Every offered flow comes from a chain at least min_support sessions made.
    researching = sum(1 for r, _, _, _ in plan if r)
    names = [text.splitlines()[2] for text in expected]
    assert ("name: search_then_each_fetch" in names) == (researching >= 3)

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

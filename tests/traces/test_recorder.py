"""Recording calls from an agent loop, and writing traces: what is read back is what was
written, and concurrent writers leave only whole lines."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from dagwright import TraceFileError, UsageError
from dagwright.traces import Recorder, TraceCall, read_traces, write_traces

ROOT = Path(__file__).resolve().parents[2]


class Hit(BaseModel):
    url: str
    score: float


def test_recorded_calls_read_back_as_recorded(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with Recorder(path, session="research-1") as rec:
        first = rec.record("search", {"query": "otters"}, {"hits": [Hit(url="u", score=0.5)]})
        rec.record("fetch", {"url": "u"}, error="timed out")
        rec.record("summarize", {"text": "t"}, "a summary")
    assert first == TraceCall(
        "research-1", 0, "search", {"query": "otters"}, {"hits": [{"url": "u", "score": 0.5}]}
    )
    assert read_traces(path) == [
        first,
        TraceCall("research-1", 1, "fetch", {"url": "u"}, None, "timed out"),
        TraceCall("research-1", 2, "summarize", {"text": "t"}, {"result": "a summary"}),
    ]


def test_a_model_is_recorded_as_its_json_and_sessions_get_fresh_ids(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with Recorder(path) as one, Recorder(path) as two:
        one.record("score", Hit(url="a", score=1.0), Hit(url="b", score=2.0))
        two.record("score", {"url": "c", "score": 0}, {})
    calls = read_traces(path)
    assert one.session != two.session and len(one.session) == 32
    assert {call.session for call in calls} == {one.session, two.session}
    assert {call.seq for call in calls} == {0}
    assert (
        TraceCall(one.session, 0, "score", {"url": "a", "score": 1.0}, {"url": "b", "score": 2.0})
        in calls
    )


def test_recording_appends_to_an_existing_file_and_reopens_after_close(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_traces([TraceCall("old", 0, "t", {}, {})], path)
    rec = Recorder(path, session="new")
    rec.record("t", {}, {})
    rec.close()
    rec.record("t", {"n": 1}, {})
    rec.close()
    assert [(c.session, c.seq) for c in read_traces(path)] == [("new", 0), ("new", 1), ("old", 0)]


def test_a_fragment_left_by_a_dead_writer_never_swallows_the_next_call(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('{"session": "s", "seq": 0, "tool": "t", "arguments": {}}\n{"sess', "utf-8")
    with Recorder(path, session="new") as rec:
        rec.record("t", {}, {})
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[1] == '{"sess' and json.loads(lines[2])["session"] == "new"
    with pytest.raises(TraceFileError, match="the line is not JSON") as caught:
        read_traces(path)
    assert caught.value.line == 2


@pytest.mark.parametrize(
    ("arguments", "result", "message"),
    [
        ({"x": float("nan")}, None, "the arguments cannot be recorded: nan"),
        ({"x": object()}, None, "the arguments cannot be recorded: a object at '/x'"),
        ({1: "a"}, None, "the arguments cannot be recorded: a dict key 1"),
        ([1], None, "arguments are an object"),
        ({}, {"r": {1, 2}}, "the result cannot be recorded: a set"),
    ],
)
def test_values_that_are_not_json_are_refused_and_nothing_is_written(
    tmp_path: Path, arguments: object, result: object, message: str
) -> None:
    path = tmp_path / "run.jsonl"
    with Recorder(path, session="s") as rec:
        with pytest.raises(UsageError) as caught:
            rec.record("t", arguments, result)
        rec.record("t", {}, {})
    assert message in str(caught.value)
    assert read_traces(path) == [TraceCall("s", 0, "t", {}, {})]


def test_a_recorder_in_a_missing_directory_is_a_coded_error(tmp_path: Path) -> None:
    with pytest.raises(TraceFileError, match="cannot be opened") as caught:
        Recorder(tmp_path / "missing" / "run.jsonl").open()
    assert caught.value.path == str(tmp_path / "missing" / "run.jsonl")


def test_wrap_records_each_call_of_a_function_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"

    def lookup(term: str, limit: int = 2) -> list[str]:
        if not term:
            raise ValueError("empty term")
        return [term] * limit

    with Recorder(path, session="s") as rec:
        recorded = rec.wrap(lookup)
        assert recorded("a") == ["a", "a"]
        with pytest.raises(ValueError, match="empty term"):
            recorded("", limit=1)
        rec.wrap(lookup, tool="find")(term="b", limit=1)
    assert read_traces(path) == [
        TraceCall("s", 0, "lookup", {"term": "a", "limit": 2}, {"result": ["a", "a"]}),
        TraceCall("s", 1, "lookup", {"term": "", "limit": 1}, None, "ValueError: empty term"),
        TraceCall("s", 2, "find", {"term": "b", "limit": 1}, {"result": ["b"]}),
    ]


@pytest.mark.timeout(60)
def test_threads_recording_at_once_write_whole_lines_with_unique_seqs(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    barrier = threading.Barrier(8)
    big = "x" * 5000  # longer than a pipe buffer's atomic size: one write still holds it
    with Recorder(path, session="s") as rec:

        def work(worker: int) -> None:
            barrier.wait()
            for n in range(50):
                rec.record("t", {"worker": worker, "n": n}, {"pad": big})

        threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    calls = read_traces(path)
    assert [call.seq for call in calls] == list(range(400))
    assert sorted((c.arguments["worker"], c.arguments["n"]) for c in calls) == [
        (w, n) for w in range(8) for n in range(50)
    ]


WRITER = """
import sys
from dagwright.traces import Recorder
path, session, ready, go = sys.argv[1:]
open(ready, "w").close()
import os, time
while not os.path.exists(go):
    time.sleep(0.001)
with Recorder(path, session=session) as rec:
    for n in range(300):
        rec.record("t", {"n": n}, {"pad": session * 700})
"""


@pytest.mark.timeout(120)
def test_two_processes_on_one_file_append_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), name, str(tmp_path / name), str(go)],
            cwd=ROOT,
        )
        for name in ("p", "q")
    ]
    try:
        while not all((tmp_path / name).exists() for name in ("p", "q")):
            if any(worker.poll() is not None for worker in workers):
                break
            threading.Event().wait(0.01)
        go.touch()
        assert [worker.wait(timeout=100) for worker in workers] == [0, 0]
    finally:
        for worker in workers:
            worker.kill()
    # A recorder opening while another writes may see a line half-copied and start a new
    # line: at worst a blank line, which readers skip.
    lines = [text for text in path.read_text(encoding="utf-8").splitlines() if text]
    assert len(lines) == 600
    assert all(json.loads(text)["result"]["pad"] in ("p" * 700, "q" * 700) for text in lines)
    calls = read_traces(path)
    for name in ("p", "q"):
        assert [c.arguments["n"] for c in calls if c.session == name] == list(range(300))


def test_write_traces_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("garbage\n", encoding="utf-8")
    write_traces([TraceCall("s", 3, "t", {"a": [1]}, None, "e")], path)
    assert path.read_text(encoding="utf-8") == (
        '{"session": "s", "seq": 3, "tool": "t", "arguments": {"a": [1]}, '
        '"result": null, "error": "e"}\n'
    )
    assert [p.name for p in tmp_path.iterdir()] == ["t.jsonl"]


def test_write_traces_refuses_values_that_are_not_json_and_keeps_the_old_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.jsonl"
    write_traces([TraceCall("s", 0, "t", {}, {})], path)
    with pytest.raises(UsageError):
        write_traces([TraceCall("s", 1, "t", {"x": float("inf")}, {})], path)
    assert read_traces(path) == [TraceCall("s", 0, "t", {}, {})]
    assert [p.name for p in tmp_path.iterdir()] == ["t.jsonl"]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
objects = st.dictionaries(st.text(max_size=5), json_values, max_size=3)


@st.composite
def trace_sets(draw: st.DrawFn) -> list[TraceCall]:
    sessions = draw(st.lists(st.text(min_size=1, max_size=4), unique=True, max_size=4))
    calls = []
    for session in sessions:
        seqs = draw(st.lists(st.integers(0, 50), unique=True, max_size=5))
        for seq in seqs:
            failed = draw(st.booleans())
            calls.append(
                TraceCall(
                    session,
                    seq,
                    draw(st.text(min_size=1, max_size=6)),
                    draw(objects),
                    None if failed else draw(objects),
                    draw(st.text()) if failed else None,
                )
            )
    return calls


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=trace_sets(), data=st.data())
def test_any_calls_written_in_any_split_and_order_read_back_equal(
    tmp_path_factory: pytest.TempPathFactory, calls: list[TraceCall], data: st.DataObject
) -> None:
    directory = tmp_path_factory.mktemp("split")
    shuffled = data.draw(st.permutations(calls))
    files = data.draw(st.integers(1, 4))
    cuts = sorted(
        data.draw(st.lists(st.integers(0, len(calls)), min_size=files - 1, max_size=files - 1))
    )
    bounds = [0, *cuts, len(calls)]
    paths = []
    for index in range(files):
        path = directory / f"part{index}.jsonl"
        write_traces(shuffled[bounds[index] : bounds[index + 1]], path)
        paths.append(path)
    expected = sorted(calls, key=lambda call: (call.session, call.seq))
    assert read_traces(data.draw(st.permutations(paths))) == expected
    assert read_traces(directory) == expected


LOOPER = """
import sys
from dagwright.traces import Recorder
with Recorder(sys.argv[1], session="s") as rec:
    n = 0
    while True:
        rec.record("t", {"n": n}, {"pad": "x" * (n % 3000)})
        n += 1
"""


@pytest.mark.timeout(120)
def test_a_recorder_killed_mid_run_leaves_only_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    worker = subprocess.Popen([sys.executable, "-c", LOOPER, str(path)], cwd=ROOT)
    try:
        while worker.poll() is None and (not path.exists() or path.read_bytes().count(b"\n") < 200):
            threading.Event().wait(0.01)
    finally:
        worker.kill()
        worker.wait(timeout=60)
    # A kill can cut the line being written (the kernel stops a write between pages):
    # the reader says so, and every line before it is whole.
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        with pytest.raises(TraceFileError, match="the last line is incomplete") as caught:
            read_traces(path)
        assert caught.value.line == data.count(b"\n") + 1
        path.write_bytes(data[: data.rindex(b"\n") + 1])
    calls = read_traces(path)
    assert len(calls) >= 200
    assert [call.arguments["n"] for call in calls] == list(range(len(calls)))


def test_write_traces_into_a_missing_directory_is_a_coded_error(tmp_path: Path) -> None:
    with pytest.raises(TraceFileError, match="cannot be written") as caught:
        write_traces([], tmp_path / "missing" / "t.jsonl")
    assert caught.value.path == str(tmp_path / "missing" / "t.jsonl")

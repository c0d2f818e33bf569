"""Reading trace files: the calls in (session, seq) order, every bad line a coded error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dagwright import TraceFileError
from dagwright.traces import TraceCall, read_traces

GOOD = '{"session": "s1", "seq": 0, "tool": "search", "arguments": {"q": "x"}, "result": {"n": 1}, "error": null}'  # noqa: E501


def write(path: Path, *lines: str, end: str = "\n") -> Path:
    path.write_text("\n".join(lines) + end, encoding="utf-8")
    return path


def line(**changes: object) -> str:
    data = json.loads(GOOD)
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data)


def test_a_file_reads_into_calls_with_their_place(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", GOOD, "", line(seq=1, result=None, error="boom"))
    calls = read_traces(path)
    assert calls == [
        TraceCall("s1", 0, "search", {"q": "x"}, {"n": 1}),
        TraceCall("s1", 1, "search", {"q": "x"}, None, "boom"),
    ]
    assert [(call.path, call.line) for call in calls] == [(str(path), 1), (str(path), 3)]
    assert calls[1].failed and not calls[0].failed


def test_result_and_error_may_be_left_out(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", line(result=..., error=...))
    assert read_traces(str(path)) == [TraceCall("s1", 0, "search", {"q": "x"})]


def test_calls_are_sorted_by_session_and_seq_whatever_the_file_order(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", line(session="b", seq=5), line(session="a", seq=2))
    b = write(tmp_path / "b.jsonl", line(session="a", seq=1), line(session="b", seq=0))
    expected = [("a", 1), ("a", 2), ("b", 0), ("b", 5)]
    assert [(c.session, c.seq) for c in read_traces([a, b])] == expected
    assert read_traces([b, a]) == read_traces([a, b])


def test_a_directory_means_every_jsonl_file_under_it(tmp_path: Path) -> None:
    write(tmp_path / "x.jsonl", line(session="x"))
    (tmp_path / "deep").mkdir()
    write(tmp_path / "deep" / "y.jsonl", line(session="y"))
    write(tmp_path / "notes.txt", "not a trace")
    assert [call.session for call in read_traces(tmp_path)] == ["x", "y"]


def test_an_empty_file_holds_no_calls(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    write(tmp_path / "blank.jsonl", "", "  ")
    assert read_traces(tmp_path) == []


def test_dicts_and_calls_are_read_and_checked_too() -> None:
    call = TraceCall("s", 1, "fetch", {"url": "u"}, {"text": "t"})
    assert read_traces([json.loads(GOOD), call]) == [
        TraceCall("s", 1, "fetch", {"url": "u"}, {"text": "t"}),
        TraceCall("s1", 0, "search", {"q": "x"}, {"n": 1}),
    ]
    with pytest.raises(TraceFileError) as caught:
        read_traces([json.loads(GOOD), {"session": "s"}])
    assert str(caught.value).startswith("<traces>:2: [DW-E025] the call has no 'seq', 'tool'")


BAD_LINES = [
    ("not json", "[DW-E025] the line is not JSON: Expecting value"),
    ('{"session": "s", ', "the line is not JSON"),
    ("[1, 2]", "the line is an array, not an object"),
    ('"text"', "the line is a string, not an object"),
    (line(tool=...), "the call has no 'tool'"),
    (line(seq=..., arguments=...), "the call has no 'seq', 'arguments'"),
    (line(extra=1), "unknown key 'extra'"),
    (line(session=3), "'session' is an integer"),
    (line(session=""), "'session' is empty"),
    (line(seq=True), "'seq' is a boolean"),
    (line(seq=1.0), "'seq' is a number"),
    (line(seq="1"), "'seq' is a string"),
    (line(seq=-1), "'seq' is negative"),
    (line(tool=None), "'tool' is null"),
    (line(tool=""), "'tool' is empty"),
    (line(arguments=[1]), "'arguments' is an array, not an object"),
    (line(arguments=None), "'arguments' is null, not an object"),
    (line(result="text"), "'result' is a string, not an object or null"),
    (line(result=[1]), "'result' is an array, not an object or null"),
    (line(error=1), "'error' is an integer, not a string or null"),
    (GOOD.replace('"seq": 0', '"seq": 0, "seq": 1'), "an object has the key 'seq' twice"),
    (GOOD.replace('"n": 1', '"n": 1, "n": 2'), "an object has the key 'n' twice"),
    (GOOD.replace('"n": 1', '"n": NaN'), "NaN is not JSON"),
    (GOOD.replace('"n": 1', '"n": Infinity'), "Infinity is not JSON"),
    (GOOD.replace('"n": 1', '"n": -Infinity'), "-Infinity is not JSON"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_LINES)
def test_each_bad_line_is_an_error_at_its_file_and_line(
    tmp_path: Path, bad: str, message: str
) -> None:
    path = write(tmp_path / "t.jsonl", GOOD, "", bad, line(seq=9))
    with pytest.raises(TraceFileError) as caught:
        read_traces(path)
    error = caught.value
    assert (error.path, error.line, error.code) == (str(path), 3, "DW-E025")
    assert str(error).startswith(f"{path}:3: [DW-E025] ")
    assert message in str(error)
    assert error.hint
    assert isinstance(error, ValueError)


def test_a_plain_result_is_refused_with_the_way_to_record_it(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", line(result=42))
    with pytest.raises(TraceFileError) as caught:
        read_traces(path)
    assert caught.value.hint == 'record a plain value as an object, such as {"result": value}'


def test_a_line_that_is_not_utf8_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(GOOD.encode() + b"\n" + GOOD.replace("x", "\xe9").encode("latin-1") + b"\n")
    with pytest.raises(TraceFileError, match="the line is not UTF-8") as caught:
        read_traces(path)
    assert (caught.value.path, caught.value.line) == (str(path), 2)


def test_a_last_line_cut_short_says_the_writer_stopped(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(GOOD + "\n" + line(seq=1)[:30], encoding="utf-8")
    with pytest.raises(TraceFileError) as caught:
        read_traces(path)
    assert caught.value.line == 2
    assert "the last line is incomplete" in str(caught.value)
    assert "stopped while writing it" in str(caught.value.hint)


def test_a_whole_last_line_without_a_newline_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", GOOD, line(seq=1), end="")
    assert [call.seq for call in read_traces(path)] == [0, 1]


def test_a_seq_repeated_in_a_session_names_both_places(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", GOOD, line(seq=1), line(session="s2"), GOOD)
    with pytest.raises(TraceFileError) as caught:
        read_traces(path)
    assert str(caught.value).startswith(
        f"{path}:4: [DW-E025] seq 0 of session 's1' is already used at {path}:1"
    )


def test_a_seq_repeated_across_files_is_an_error_too(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", GOOD)
    b = write(tmp_path / "b.jsonl", line(seq=3), GOOD)
    for order in ([a, b], [b, a]):
        with pytest.raises(TraceFileError) as caught:
            read_traces(order)
        assert (caught.value.path, caught.value.line) == (str(b), 2)
        assert f"already used at {a}:1" in str(caught.value)


def test_a_missing_file_is_a_coded_error(tmp_path: Path) -> None:
    with pytest.raises(TraceFileError, match="cannot be read") as caught:
        read_traces(tmp_path / "missing.jsonl")
    assert caught.value.path == str(tmp_path / "missing.jsonl")
    assert caught.value.line is None


def test_a_call_given_in_python_is_checked_at_its_own_place() -> None:
    bad = TraceCall("s", True, "t", {}, {}, path="from.jsonl", line=4)  # type: ignore[arg-type]
    with pytest.raises(TraceFileError, match="'seq' is a boolean") as caught:
        read_traces([bad])
    assert (caught.value.path, caught.value.line) == ("from.jsonl", 4)

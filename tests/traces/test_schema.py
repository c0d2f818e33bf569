"""The JSON Schema of a trace line: valid, current, and in agreement with the reader."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from dagwright import TraceFileError
from dagwright.traces import Recorder, read_traces, trace_json_schema
from tests.traces.test_read import BAD_LINES, GOOD

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schemas" / "trace.schema.json"
VALIDATOR = Draft202012Validator(trace_json_schema())
TRACE_FILES = sorted((ROOT / "examples" / "traces").glob("*.jsonl")) + sorted(
    (Path(__file__).parent / "fixtures").glob("*.jsonl")
)


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = trace_json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == "https://dagwright.dev/schemas/trace.schema.json"
    assert all("description" in prop for prop in schema["properties"].values())
    schema["title"] = "changed"
    assert trace_json_schema()["title"] != "changed"


def test_the_schema_file_is_current() -> None:
    expected = json.dumps(trace_json_schema(), indent=2, sort_keys=True) + "\n"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == expected, (
        "schemas/trace.schema.json is stale: regenerate it with `python schemas/generate.py`"
    )


def test_the_generator_prints_the_schema() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "schemas" / "generate.py"), "--trace", "--output", "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", TRACE_FILES, ids=lambda path: path.name)
def test_every_line_of_the_example_and_fixture_traces_validates(path: Path) -> None:
    read_traces(path)
    for text in path.read_text(encoding="utf-8").splitlines():
        if text.strip() and "resourceSpans" not in text:
            assert list(VALIDATOR.iter_errors(json.loads(text))) == []


def test_recorded_lines_validate(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with Recorder(path) as rec:
        rec.record("search", {"q": "x"}, {"hits": [1]})
        rec.record("fetch", {}, error="boom")
    for text in path.read_text(encoding="utf-8").splitlines():
        assert list(VALIDATOR.iter_errors(json.loads(text))) == []
    assert VALIDATOR.is_valid(json.loads(GOOD))


# The schema cannot say three things the reader refuses: text that is not JSON at all
# (NaN, Infinity), a key twice in an object (JSON Schema sees the parsed object), and 1.0
# as a seq (JSON Schema counts it an integer; the reader wants 1).
SCHEMA_CASES = [
    (bad, message)
    for bad, message in BAD_LINES
    if "not JSON" not in message
    and "Infinity" not in message
    and "NaN" not in message
    and "'seq' is a number" not in message
    and "twice" not in message
]


@pytest.mark.parametrize(("bad", "message"), SCHEMA_CASES)
def test_what_the_reader_refuses_the_schema_refuses(tmp_path: Path, bad: str, message: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(bad + "\n", encoding="utf-8")
    with pytest.raises(TraceFileError):
        read_traces(path)
    assert not VALIDATOR.is_valid(json.loads(bad)), message


def test_the_schema_leaves_out_only_what_it_cannot_say() -> None:
    assert len(SCHEMA_CASES) == len(BAD_LINES) - 8

"""OpenTelemetry GenAI execute_tool spans (OTLP JSON) imported as trace calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dagwright import TraceFileError
from dagwright.traces import TraceCall, read_otel

FIXTURES = Path(__file__).parent / "fixtures" / "otel"
RESEARCH = FIXTURES / "research.json"
COLLECTOR = FIXTURES / "collector.jsonl"


def test_an_export_gives_its_tool_calls_in_start_order() -> None:
    calls = read_otel(RESEARCH)
    assert calls == [
        TraceCall(
            "conv-1",
            0,
            "search",
            {"query": "otters", "limit": 2},
            {"urls": ["https://example.org/otters", "https://example.org/rivers"]},
        ),
        TraceCall(
            "conv-1",
            1,
            "fetch",
            {"url": "https://example.org/otters"},
            {"text": "Otters hold hands.", "words": 3},
        ),
        TraceCall(
            "conv-1",
            2,
            "fetch",
            {"url": "https://example.org/rivers"},
            None,
            "fetch timed out after 5 s",
        ),
        TraceCall(
            "conv-1",
            3,
            "summarize",
            {"text": "Otters hold hands."},
            {"result": "Otters hold hands while they sleep."},
        ),
    ]
    assert {call.path for call in calls} == {str(RESEARCH)}
    assert {call.line for call in calls} == {None}


def test_collector_json_lines_group_by_trace_id_without_a_conversation_id() -> None:
    calls = read_otel([COLLECTOR])
    assert [(c.session, c.seq, c.tool, c.line) for c in calls] == [
        ("0af7651916cd43dd8448eb211c80319c", 0, "search", 2),
        ("0af7651916cd43dd8448eb211c80319c", 1, "score", 2),
        ("4bf92f3577b34da6a3ce929d0e0e4736", 0, "search", 1),
    ]
    assert calls[1].arguments == {"ids": [1, 2]} and calls[1].result == {"best": 2}


def test_a_directory_reads_every_export_and_the_order_is_the_same_either_way() -> None:
    both = read_otel(FIXTURES)
    assert both == read_otel([COLLECTOR, RESEARCH]) == read_otel([RESEARCH, COLLECTOR])
    assert len(both) == 7


def span(*attributes: tuple[str, dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "traceId": "t1",
        "spanId": "s1",
        "startTimeUnixNano": "10",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
            *({"key": key, "value": value} for key, value in attributes),
        ],
        **fields,
    }


def export(*spans: dict[str, Any]) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}


def read_one(tmp_path: Path, data: Any, indent: int | None = 2) -> list[TraceCall]:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(data, indent=indent), encoding="utf-8")
    return read_otel(path)


def test_other_attribute_forms_and_names_are_understood(tmp_path: Path) -> None:
    calls = read_one(
        tmp_path,
        export(
            span(
                ("gen_ai.conversation.id", {"stringValue": "c"}),
                (
                    "gen_ai.tool.call.arguments",
                    {
                        "kvlistValue": {
                            "values": [
                                {"key": "n", "value": {"intValue": "3"}},
                                {"key": "x", "value": {"doubleValue": 0.5}},
                                {"key": "ok", "value": {"boolValue": True}},
                                {
                                    "key": "tags",
                                    "value": {"arrayValue": {"values": [{"stringValue": "a"}]}},
                                },
                            ]
                        }
                    },
                ),
                ("gen_ai.tool.call.result", {"stringValue": "[1, 2]"}),
                name="execute_tool lookup",
            ),
            span(
                ("session.id", {"stringValue": "c"}),
                ("gen_ai.tool.name", {"stringValue": "older"}),
                ("tool_arguments", {"stringValue": '{"q": 1}'}),
                ("tool_response", {"stringValue": '{"a": 2}'}),
                spanId="s2",
                startTimeUnixNano="20",
            ),
        ),
    )
    assert calls == [
        TraceCall(
            "c", 0, "lookup", {"n": 3, "x": 0.5, "ok": True, "tags": ["a"]}, {"result": [1, 2]}
        ),
        TraceCall("c", 1, "older", {"q": 1}, {"a": 2}),
    ]


def test_error_type_alone_marks_a_failed_call(tmp_path: Path) -> None:
    calls = read_one(
        tmp_path,
        export(
            span(("gen_ai.tool.name", {"stringValue": "t"}), ("error.type", {"stringValue": "E"}))
        ),
    )
    assert calls == [TraceCall("t1", 0, "t", {}, None, "E")]


def test_an_empty_file_holds_no_calls(tmp_path: Path) -> None:
    (tmp_path / "e.json").write_text("\n", encoding="utf-8")
    assert read_otel(tmp_path / "e.json") == []


BAD_EXPORTS: list[tuple[Any, str]] = [
    ([1], "the export has no resourceSpans list"),
    ({"resourceSpans": [{"scopeSpans": 3}]}, "without a scopeSpans list"),
    ({"resourceSpans": [{"scopeSpans": [{"spans": {}}]}]}, "without a spans list"),
    (export(span()), "the execute_tool span 's1' names no tool"),
    (
        export(span(("gen_ai.tool.name", {"stringValue": "t"}), traceId="")),
        "has neither gen_ai.conversation.id nor a traceId",
    ),
    (
        export(
            span(
                ("gen_ai.tool.name", {"stringValue": "t"}),
                ("gen_ai.tool.call.arguments", {"stringValue": "{not json"}),
            )
        ),
        "the arguments of span 's1' are not JSON",
    ),
    (
        export(
            span(
                ("gen_ai.tool.name", {"stringValue": "t"}),
                ("gen_ai.tool.call.arguments", {"stringValue": "[1]"}),
            )
        ),
        "the arguments of span 's1' are not a JSON object",
    ),
    (
        export(span(("gen_ai.tool.name", {"stringValue": "t"}), startTimeUnixNano="soon")),
        "the startTimeUnixNano of span 's1' is not an integer",
    ),
    (export(span(("gen_ai.tool.name", {"weird": 1}))), "is not an OTLP AnyValue ('weird')"),
]


@pytest.mark.parametrize(("data", "message"), BAD_EXPORTS)
def test_a_bad_export_is_an_error_at_its_file(tmp_path: Path, data: Any, message: str) -> None:
    with pytest.raises(TraceFileError) as caught:
        read_one(tmp_path, data)
    assert caught.value.path == str(tmp_path / "export.json")
    assert caught.value.line is None
    assert message in str(caught.value) and caught.value.hint
    with pytest.raises(TraceFileError) as caught:
        read_one(tmp_path, data, indent=None)  # on one line: JSON Lines of one export
    assert caught.value.line == 1
    assert message in str(caught.value)


def test_a_bad_line_of_json_lines_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    good = json.dumps(export(span(("gen_ai.tool.name", {"stringValue": "t"}))))
    path.write_text(f"{good}\n\n{good}\n{{cut", encoding="utf-8")
    with pytest.raises(TraceFileError) as caught:
        read_otel(path)
    assert (caught.value.path, caught.value.line) == (str(path), 4)
    path.write_text(f"{good}\n{json.dumps(export(span()))}\n", encoding="utf-8")
    with pytest.raises(TraceFileError, match="names no tool") as caught:
        read_otel(path)
    assert caught.value.line == 2


def test_a_document_that_is_not_json_is_an_error_at_its_file(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{\n  "resourceSpans": [\n', encoding="utf-8")
    with pytest.raises(TraceFileError, match="the export is not JSON") as caught:
        read_otel(path)
    assert (caught.value.path, caught.value.line) == (str(path), None)


def test_a_file_that_is_not_utf8_is_a_coded_error(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(b'{"resourceSpans": "\xff"}')
    with pytest.raises(TraceFileError, match="not UTF-8"):
        read_otel(path)

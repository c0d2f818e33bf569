"""Tool manifests: written deterministically, loaded back as equal specs, refused when
they are not manifests or no longer match their schemas."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dagwright
from dagwright import DAGFlow, Flow, Step, ToolManifestError, ToolSpec, compile_flow
from dagwright.errors import FlowCompileError
from dagwright.io import load_tool_manifest, tool_manifest, write_tool_manifest
from tests.io._tools import TOOLS, publish, search, summarize

ENTRY_KEYS = [
    "cacheable",
    "description",
    "idempotent",
    "input_schema",
    "name",
    "output_schema",
    "schema_hash",
    "version",
]


def test_the_manifest_describes_each_tool_sorted_by_name() -> None:
    manifest = tool_manifest([summarize, search, publish])
    assert manifest["format_version"] == 1
    names = [entry["name"] for entry in manifest["tools"]]
    assert names == ["publish", "search", "summarize"]
    entry = manifest["tools"][0]
    assert list(entry) == ENTRY_KEYS
    assert entry["version"] == "3"
    assert entry["idempotent"] is False
    assert entry["cacheable"] is True
    assert entry["schema_hash"] == publish.schema_hash
    assert entry["input_schema"] == publish.spec.input_json_schema
    assert entry["output_schema"] == publish.spec.output_json_schema
    assert manifest["tools"][1]["description"] == "Search the web."


def test_editing_a_manifest_changes_no_tool() -> None:
    before = search.spec.input_json_schema["properties"]["limit"]["type"]
    _tampered()
    assert search.spec.input_json_schema["properties"]["limit"]["type"] == before


def test_the_same_tool_twice_is_described_once_but_two_tools_with_one_name_are_refused() -> None:
    assert len(tool_manifest([search, search, search.spec])["tools"]) == 1
    other = ToolSpec(name="search", input_json_schema={}, output_json_schema={})
    with pytest.raises(ToolManifestError, match="two different tools are named 'search'"):
        tool_manifest([search, other])


def test_written_bytes_are_deterministic_and_end_with_a_newline(tmp_path: Path) -> None:
    a = write_tool_manifest(TOOLS, tmp_path / "a.json")
    b = write_tool_manifest(reversed(TOOLS), tmp_path / "b.json")
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text(encoding="utf-8")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text.startswith('{\n  "format_version": 1,\n  "tools": [\n')
    assert json.loads(text) == tool_manifest(TOOLS)


def test_writing_replaces_the_file_atomically_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "tools.json"
    target.write_text("old", encoding="utf-8")
    write_tool_manifest([search], target)
    assert json.loads(target.read_text(encoding="utf-8"))["tools"][0]["name"] == "search"
    assert sorted(os.listdir(tmp_path)) == ["tools.json"]


def test_an_unwritable_place_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ToolManifestError, match="cannot write tool manifest") as info:
        write_tool_manifest([search], tmp_path / "missing" / "tools.json")
    assert info.value.path == str(tmp_path / "missing" / "tools.json")


def test_loaded_specs_equal_the_tools_specs(tmp_path: Path) -> None:
    path = write_tool_manifest(TOOLS, tmp_path / "tools.json")
    specs = load_tool_manifest(path)
    assert specs == sorted((t.spec for t in TOOLS), key=lambda s: s.name)
    assert [s.schema_hash for s in specs] == [t.schema_hash for t in (publish, search, summarize)]
    assert dagwright.load_tool_manifest is load_tool_manifest


def _diagnostics(flow: Flow, tools: Any) -> list[tuple[str, str, str | None, str | None]]:
    try:
        found = compile_flow(flow, tools).diagnostics
    except FlowCompileError as exc:
        found = exc.diagnostics
    return [(d.code, d.message, d.step_id, d.hint) for d in found]


def test_compiling_against_a_manifest_gives_the_same_diagnostics(tmp_path: Path) -> None:
    # search's results are SearchResults, which lack the text a Page requires (DW202);
    # publish is retried although it is not idempotent (DW402) and has no docstring (DW403).
    flow = DAGFlow(
        "research",
        [
            Step(id="search", tool="search", inputs={"query": "question"}),
            Step(id="sum", tool="summarize", inputs={"pages": "results"}, depends_on="search"),
            Step(id="pub", tool="publish", depends_on="sum", retry={"max_attempts": 3}),
        ],
    )
    fitting = DAGFlow(
        "fitting",
        [Step(id="pub", tool="publish", inputs={"summary": "q"}, retry={"max_attempts": 2})],
    )
    specs = load_tool_manifest(write_tool_manifest(TOOLS, tmp_path / "tools.json"))
    for case in (flow, fitting):
        from_tools = _diagnostics(case, TOOLS)
        assert from_tools == _diagnostics(case, specs)
    assert {code for code, *_ in _diagnostics(flow, specs)} >= {"DW202", "DW402", "DW403"}
    assert {code for code, *_ in _diagnostics(fitting, specs)} >= {"DW402", "DW403"}
    assert compile_flow(fitting, TOOLS).digest == compile_flow(fitting, specs).digest


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _good() -> dict[str, Any]:
    return tool_manifest(TOOLS)


def _tampered() -> dict[str, Any]:
    document = _good()
    document["tools"][1]["input_schema"]["properties"]["limit"]["type"] = "string"
    return document


def _renamed() -> dict[str, Any]:
    document = _good()
    document["tools"][1]["name"] = "web_search"
    return document


def _duplicated() -> dict[str, Any]:
    document = _good()
    document["tools"].append(document["tools"][0])
    return document


def _without(key: str) -> dict[str, Any]:
    document = _good()
    del document["tools"][0][key]
    return document


def _with(key: str, value: object) -> dict[str, Any]:
    document = _good()
    document["tools"][0][key] = value
    return document


BAD = [
    ("not an object", [1, 2], "expected a JSON object, got a list"),
    ("no version", {"tools": []}, "unsupported format_version None"),
    ("future version", {"format_version": 2, "tools": []}, "unsupported format_version 2"),
    ("bool version", {"format_version": True, "tools": []}, "unsupported format_version True"),
    ("unknown key", {"format_version": 1, "tools": [], "x": 1}, "unknown key(s) 'x'"),
    ("tools not a list", {"format_version": 1, "tools": {}}, "'tools' must be a list"),
    ("entry not an object", {"format_version": 1, "tools": [3]}, "tools[0]: expected an object"),
    ("missing key", _without("schema_hash"), "tools[0] ('publish'): missing key(s) 'schema_hash'"),
    ("extra key", _with("timeout", 3), "tools[0] ('publish'): unknown key(s) 'timeout'"),
    ("wrong type", _with("idempotent", "no"), "'idempotent' must be a boolean, got a string"),
    ("schema not object", _with("input_schema", []), "'input_schema' must be an object"),
    ("bad name", _with("name", "no spaces"), "tool name 'no spaces' must start"),
    ("tampered", _tampered(), "tools[1] ('search'): schema_hash does not match"),
    ("renamed", _renamed(), "tools[1] ('web_search'): schema_hash does not match"),
    ("duplicate", _duplicated(), "tools[3]: a second tool named 'publish'"),
]


@pytest.mark.parametrize(("case", "document", "says"), BAD, ids=[b[0] for b in BAD])
def test_a_document_that_is_not_a_valid_manifest_is_refused(
    tmp_path: Path, case: str, document: object, says: str
) -> None:
    path = _write(tmp_path, document)
    with pytest.raises(ToolManifestError) as info:
        load_tool_manifest(path)
    error = info.value
    assert error.path == str(path)
    assert says in error.message
    assert error.message.startswith(f"tool manifest {str(path)!r}: ")
    assert "\n" not in str(error)
    assert error.hint


def test_a_stale_manifest_says_to_export_it_again(tmp_path: Path) -> None:
    with pytest.raises(ToolManifestError) as info:
        load_tool_manifest(_write(tmp_path, _tampered()))
    assert "edited or is stale" in info.value.message
    assert "dagwright tools export" in (info.value.hint or "")


def test_a_missing_file_and_text_that_is_not_json_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ToolManifestError, match="no such file") as info:
        load_tool_manifest(tmp_path / "nope.json")
    assert info.value.path == str(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"format_version": 1,', encoding="utf-8")
    with pytest.raises(ToolManifestError, match=r"not JSON: .* at line 1 column 22"):
        load_tool_manifest(broken)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ToolManifestError, match="cannot be read"):
        load_tool_manifest(binary)
    with pytest.raises(ToolManifestError, match="cannot be read"):
        load_tool_manifest(tmp_path)  # a directory


def test_a_schema_without_a_json_form_is_refused(tmp_path: Path) -> None:
    document = _good()
    text = json.dumps(document).replace('"type": "integer"', '"type": NaN', 1)
    path = tmp_path / "tools.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ToolManifestError, match="tools\\[0\\] \\('publish'\\): its schemas cannot"):
        load_tool_manifest(path)


_schemas = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(
    name=st.from_regex(r"[a-z][a-z0-9_.\-]{0,8}", fullmatch=True),
    version=st.text(max_size=4),
    description=st.text(max_size=10),
    inp=st.dictionaries(st.text(max_size=4), _schemas, max_size=3),
    out=st.dictionaries(st.text(max_size=4), _schemas, max_size=3),
    flags=st.tuples(st.booleans(), st.booleans()),
)
def test_any_spec_survives_the_round_trip(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    version: str,
    description: str,
    inp: dict[str, Any],
    out: dict[str, Any],
    flags: tuple[bool, bool],
) -> None:
    spec = ToolSpec(
        name=name,
        version=version,
        description=description,
        input_json_schema=inp,
        output_json_schema=out,
        idempotent=flags[0],
        cacheable=flags[1],
    )
    path = write_tool_manifest([spec], tmp_path_factory.mktemp("m") / "tools.json")
    (loaded,) = load_tool_manifest(path)
    assert loaded == spec
    assert loaded.schema_hash == spec.schema_hash

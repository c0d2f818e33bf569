"""Flow files: loading, dumping, round trips, and every way a file can be malformed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import dagwright
from dagwright import (
    DAGFlow,
    Flow,
    FlowFileError,
    Literal,
    MapStep,
    RetryPolicy,
    Step,
    dump_flow,
    load_flow,
)
from dagwright.io import flow_source, load_flows

RESEARCH = textwrap.dedent(
    """\
    format_version: 1
    kind: dag
    name: research
    version: "2"
    description: Answer a question from the web.
    on_context_collision: error
    tools:
      search: myapp.tools:search
    steps:
      - id: search
        tool: search
        inputs: {query: question, limit: {literal: 5}}
        retry: {max_attempts: 3, backoff_s: 0.1}
      - id: fetch_all
        over: results
        item: url
        tool: fetch
        max_concurrency: 4
        error_policy: collect
        results: pages
        errors: fetch_errors
        depends_on: [search]
      - id: summarize
        flow: summarize_pages
        when: "pages != []"
        depends_on: [fetch_all]
        on_error: skip
    """
)

EXPECTED = DAGFlow(
    "research",
    [
        Step(
            id="search",
            tool="search",
            inputs={"query": "question", "limit": Literal(5)},
            retry=RetryPolicy(max_attempts=3, backoff_s=0.1),
        ),
        MapStep(
            id="fetch_all",
            over="results",
            item="url",
            tool="fetch",
            max_concurrency=4,
            error_policy="collect",
            results="pages",
            errors="fetch_errors",
            depends_on=("search",),
        ),
        Step(
            id="summarize",
            flow="summarize_pages",
            when="pages != []",
            depends_on=("fetch_all",),
            on_error="skip",
        ),
    ],
    version="2",
    description="Answer a question from the web.",
    on_context_collision="error",
)


def load_error(text: str, **kw: object) -> FlowFileError:
    with pytest.raises(FlowFileError) as caught:
        load_flow(text, **kw)  # type: ignore[arg-type]
    return caught.value


# ---- loading ------------------------------------------------------------------------


def test_a_yaml_file_loads_into_the_flow_it_describes(tmp_path: Path) -> None:
    path = tmp_path / "research.flow.yaml"
    path.write_text(RESEARCH, encoding="utf-8")
    flow = load_flow(path)
    assert isinstance(flow, DAGFlow)
    assert flow == EXPECTED
    assert flow.definition_digest == EXPECTED.definition_digest
    assert flow.description == EXPECTED.description


def test_kind_flow_gives_a_linear_flow() -> None:
    flow = load_flow("format_version: 1\nkind: flow\nname: x\nsteps:\n  - tool: a\n")
    assert type(flow) is Flow
    assert flow == Flow("x", [Step(tool="a")])


def test_a_str_is_text_with_a_newline_or_a_brace_else_a_path(tmp_path: Path) -> None:
    as_json = dump_flow(EXPECTED, format="json").replace("\n", " ")
    assert load_flow(as_json) == EXPECTED  # one line, starts with "{": text
    path = tmp_path / "f.yaml"
    path.write_text(RESEARCH, encoding="utf-8")
    assert load_flow(str(path)) == EXPECTED  # no newline: a path
    source = flow_source(load_flow(str(path)))
    assert source is not None and source.path == str(path)


def test_the_suffix_decides_the_format_and_format_overrides_it(tmp_path: Path) -> None:
    text = dump_flow(EXPECTED, format="json")
    (tmp_path / "a.json").write_text(text, encoding="utf-8")
    (tmp_path / "a.flow").write_text(text, encoding="utf-8")
    (tmp_path / "b.json").write_text(RESEARCH, encoding="utf-8")
    assert load_flow(tmp_path / "a.json") == EXPECTED
    assert load_flow(tmp_path / "a.flow") == EXPECTED  # no known suffix: JSON parses
    assert load_flow(tmp_path / "b.json", format="yaml") == EXPECTED
    error = load_error(str(tmp_path / "b.json"))
    assert error.message.startswith("invalid JSON")
    assert error.path == str(tmp_path / "b.json")


def test_text_that_is_not_json_is_read_as_yaml() -> None:
    assert load_flow(RESEARCH) == EXPECTED
    assert load_flow("{format_version: 1, kind: dag, name: x, steps: []}") == DAGFlow("x", [])


def test_tools_are_recorded_and_never_imported() -> None:
    text = RESEARCH.replace("myapp.tools:search", "no_such_module_xyz.tools:search")
    flow = load_flow(text)
    source = flow_source(flow)
    assert source is not None
    assert dict(source.tools) == {"search": "no_such_module_xyz.tools:search"}
    assert "no_such_module_xyz" not in sys.modules


def test_a_flow_built_in_python_has_no_source() -> None:
    assert flow_source(EXPECTED) is None


def test_the_source_never_changes_equality_hash_or_digest(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(RESEARCH, encoding="utf-8")
    (tmp_path / "b.yaml").write_text("\n\n" + RESEARCH, encoding="utf-8")
    a, b = load_flows([tmp_path / "a.yaml", tmp_path / "b.yaml"])
    assert a == b == EXPECTED
    assert EXPECTED == a  # noqa: SIM300 - the other side's __eq__
    assert hash(a) == hash(b) == hash(EXPECTED)
    assert a.definition_digest == b.definition_digest == EXPECTED.definition_digest
    assert {a, b, EXPECTED} == {EXPECTED}
    source_a, source_b = flow_source(a), flow_source(b)
    assert source_a is not None and source_b is not None
    assert source_a.position(("steps", 0)) == (10, 5)
    assert source_b.position(("steps", 0)) == (12, 5)


def test_a_copy_keeps_the_source() -> None:
    flow = load_flow(RESEARCH)
    assert flow_source(flow.model_copy()) is flow_source(flow)


def test_load_flows_raises_the_first_bad_file(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(RESEARCH, encoding="utf-8")
    (tmp_path / "bad.yaml").write_text("format_version: 2\n", encoding="utf-8")
    (tmp_path / "worse.yaml").write_text("[", encoding="utf-8")
    with pytest.raises(FlowFileError) as caught:
        load_flows([tmp_path / "good.yaml", tmp_path / "bad.yaml", tmp_path / "worse.yaml"])
    assert caught.value.path == str(tmp_path / "bad.yaml")


def test_a_thousand_step_file_loads(tmp_path: Path) -> None:
    steps = [
        Step(id=f"s{i}", tool="t", inputs={"x": f"k{i}", "y": Literal([i, "z"])})
        for i in range(1000)
    ]
    flow = Flow("big", steps)
    for fmt in ("yaml", "json"):
        path = tmp_path / f"big.{fmt}"
        dump_flow(flow, path, format=fmt)  # type: ignore[arg-type]
        assert load_flow(path).definition_digest == flow.definition_digest


# ---- dumping ------------------------------------------------------------------------


def test_dump_writes_format_version_first_and_reads_back() -> None:
    text = dump_flow(EXPECTED)
    assert text.startswith("format_version: 1\nkind: dag\nname: research\n")
    assert load_flow(text) == EXPECTED
    data = json.loads(dump_flow(EXPECTED, format="json"))
    assert list(data)[:3] == ["format_version", "kind", "name"]
    assert data["steps"][0]["inputs"]["limit"] == {"literal": 5}


def test_dump_keeps_tools_of_a_loaded_flow() -> None:
    text = dump_flow(load_flow(RESEARCH))
    assert "tools:\n  search: myapp.tools:search\n" in text
    assert "tools" not in dump_flow(EXPECTED)


def test_dump_is_stable() -> None:
    once = dump_flow(load_flow(RESEARCH))
    assert dump_flow(load_flow(once)) == once
    as_json = dump_flow(load_flow(RESEARCH), format="json")
    assert dump_flow(load_flow(as_json), format="json") == as_json


def test_multiline_descriptions_are_blocks() -> None:
    flow = Flow("x", [Step(tool="a")], description="First line.\nSecond line.\n")
    text = dump_flow(flow)
    assert "description: |\n  First line.\n  Second line.\n" in text
    assert load_flow(text).description == flow.description


def test_dump_to_a_path_writes_atomically(tmp_path: Path) -> None:
    path = tmp_path / "out.flow.yaml"
    path.write_text("old", encoding="utf-8")
    text = dump_flow(EXPECTED, path)
    assert path.read_text(encoding="utf-8") == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.flow.yaml"]
    assert (path.stat().st_mode & 0o777) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_dump_rejects_an_unknown_format() -> None:
    with pytest.raises(FlowFileError):
        dump_flow(EXPECTED, format="toml")  # type: ignore[arg-type]


def test_json_needs_no_pyyaml_and_yaml_says_how_to_install_it(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    dump_flow(EXPECTED, path, format="json")
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["yaml"] = None  # as if PyYAML were not installed
        import dagwright
        flow = dagwright.load_flow({str(path)!r})
        assert flow.name == "research", flow
        assert dagwright.dump_flow(flow, format="json")
        try:
            dagwright.load_flow("format_version: 1\\nkind: dag\\nname: x\\nsteps: []\\n")
        except dagwright.FlowFileError as exc:
            print(exc)
        try:
            dagwright.dump_flow(flow)
        except dagwright.FlowFileError as exc:
            print(exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert "DW-E018" in first and "pip install 'dagwright[yaml]'" in first
    assert "pip install 'dagwright[yaml]'" in second and "format='json'" in second


def test_import_dagwright_does_not_import_yaml() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys, dagwright; print('yaml' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "False"


def test_top_level_exports() -> None:
    assert dagwright.load_flow is load_flow
    assert dagwright.dump_flow is dump_flow
    assert callable(dagwright.flow_json_schema)

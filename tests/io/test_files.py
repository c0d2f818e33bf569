"""Flow files: loading, dumping, round trips, and every way a file can be malformed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

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


def test_dump_to_a_missing_directory_is_a_flow_file_error(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir.yaml"
    with pytest.raises(FlowFileError) as caught:
        dump_flow(EXPECTED, target)
    assert caught.value.path == str(target) and "cannot be written" in caught.value.message
    assert not (tmp_path / "no").exists()


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


# ---- the round trip, over random flows -----------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
IDS = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,8}", fullmatch=True)
TEXT = st.text(max_size=12)
NAMES = st.text(min_size=1, max_size=12)
SOURCES = TEXT | st.builds(Literal, JSON_VALUES)
RETRIES = st.none() | st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 5),
    backoff_s=st.floats(0, 10),
    multiplier=st.floats(1, 4),
    max_backoff_s=st.floats(0, 100),
    retry_on=st.lists(TEXT, max_size=2).map(tuple),
)
ON_ERROR = st.sampled_from(["fail", "skip"]) | st.from_regex(
    r"fallback:[A-Za-z_][A-Za-z0-9_.\-]{0,6}", fullmatch=True
)


@st.composite
def steps(draw: st.DrawFn, *, linear: bool) -> Step | MapStep:
    step_id = draw(st.none() | IDS)
    target = IDS if linear and step_id is None else NAMES
    tool = flow = None
    which = draw(st.sampled_from(["tool", "flow", "both", "neither"]))
    if which in ("tool", "both"):
        tool = draw(target)
    if which in ("flow", "both"):
        # A sub-flow reference: a name without "@", pinned to a PEP 440 version or not.
        flow = draw(target.filter(lambda name: "@" not in name))
        if draw(st.booleans()):
            flow += "@" + draw(st.sampled_from(["1", "2.0rc1", "1.0.post1", "10"]))
    if which == "both" and linear and step_id is None:
        flow = tool  # the default id comes from the tool
    common = {
        "id": step_id,
        "tool": tool,
        "flow": flow,
        "inputs": draw(st.dictionaries(TEXT, SOURCES, max_size=3)),
        "depends_on": tuple(draw(st.lists(TEXT, max_size=3))),
        "when": draw(st.none() | TEXT),
        "retry": draw(RETRIES),
        "timeout_s": draw(st.none() | st.floats(min_value=0.001, max_value=1e6)),
    }
    if draw(st.booleans()):
        return MapStep(
            **common,
            over=draw(TEXT),
            item=draw(TEXT),
            results=draw(TEXT),
            errors=draw(st.none() | TEXT),
            max_concurrency=draw(st.integers(-2, 64)),
            error_policy=draw(st.sampled_from(["fail_fast", "collect"])),
        )
    return Step(
        **common,
        outputs=draw(st.none() | st.dictionaries(TEXT, TEXT, max_size=3)),
        on_error=draw(ON_ERROR),
    )


class Question(BaseModel):
    question: str
    limit: int = 5


class Answer(BaseModel):
    answer: str
    sources: list[str]


PROPERTY_TYPES = st.sampled_from(
    [{"type": "string"}, {"type": "integer", "default": 3}, {"type": "array", "items": {}}]
)
SCHEMAS = (
    st.none()
    | st.sampled_from([Question, Answer])
    | st.dictionaries(NAMES, PROPERTY_TYPES, max_size=3).map(
        lambda properties: {"type": "object", "properties": properties}
    )
)


@st.composite
def flows(draw: st.DrawFn) -> Flow:
    linear = draw(st.booleans())
    cls = Flow if linear else DAGFlow
    return cls(
        name=draw(NAMES),
        steps=draw(st.lists(steps(linear=linear), max_size=4)),
        version=draw(TEXT),
        description=draw(TEXT | st.just("Two lines,\nof text.\n")),
        on_context_collision=draw(st.sampled_from(["overwrite", "warn", "error"])),
        input_schema=draw(SCHEMAS),
        output_schema=draw(SCHEMAS),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow=flows(), fmt=st.sampled_from(["yaml", "json"]))
def test_load_of_dump_is_the_same_flow(flow: Flow, fmt: str) -> None:
    text = dump_flow(flow, format=fmt)  # type: ignore[arg-type]
    back = load_flow(text, format=fmt)  # type: ignore[arg-type]
    assert back.definition_digest == flow.definition_digest
    models = isinstance(flow.input_schema, type) or isinstance(flow.output_schema, type)
    assert (back == flow) is not models  # a model is read back as its JSON Schema
    assert type(back) is type(flow)
    assert back.description == flow.description
    assert dump_flow(back, format=fmt) == text  # type: ignore[arg-type]
    assert load_flow(text).definition_digest == flow.definition_digest  # format sniffed


# ---- malformed files: each a FlowFileError at a position, never a traceback ---------

HEAD = "format_version: 1\nkind: dag\nname: x\n"
STEP = HEAD + "steps:\n  - id: a\n    tool: t\n"
JHEAD = '{"format_version": 1, "kind": "dag", "name": "x", '

MALFORMED = [
    # (case, text, line, col, words in the message, words in the hint)
    (
        "unknown step key",
        STEP + "    dependson: [b]\n",
        7,
        5,
        "unknown key 'dependson'",
        "did you mean 'depends_on'",
    ),
    (
        "map key on a step",
        STEP + "    item: x\n",
        7,
        5,
        "unknown key 'item'",
        "belongs to map steps",
    ),
    ("unknown top key", HEAD + "stepz: []\n", 4, 1, "unknown key 'stepz'", "did you mean 'steps'"),
    (
        "unknown retry key",
        STEP + "    retry: {max_atempts: 2}\n",
        7,
        13,
        "unknown key 'max_atempts'",
        "max_attempts",
    ),
    (
        "missing map key",
        HEAD + "steps:\n  - id: a\n    over: xs\n    tool: t\n",
        5,
        5,
        "missing the required key 'item'",
        "item",
    ),
    ("missing name", "format_version: 1\nkind: dag\nsteps: []\n", 1, 1, "no 'name'", "name"),
    ("missing steps", HEAD, 1, 1, "no 'steps'", "steps"),
    ("steps not a list", HEAD + "steps: 3\n", 4, 8, "'steps' must be a list", "'- '"),
    ("step not a mapping", HEAD + "steps:\n  - a\n", 5, 5, "must be a mapping", "id"),
    (
        "wrong type",
        STEP + "    when: [1]\n",
        7,
        11,
        "'when' of step 1 ('a') is invalid",
        "docs/flow-files.md",
    ),
    (
        "version a number",
        HEAD + "version: 2\nsteps: []\n",
        4,
        10,
        "'version' is invalid",
        'version: "2"',
    ),
    (
        "bad step id",
        HEAD + "steps:\n  - id: 'a b'\n    tool: t\n",
        5,
        9,
        "not a valid step id",
        "letters",
    ),
    (
        "bad default id",
        "format_version: 1\nkind: flow\nname: x\nsteps:\n  - flow: 'a b'\n",
        5,
        11,
        "no id",
        "explicit id",
    ),
    ("bad retry", STEP + "    retry: {max_attempts: 0}\n", 7, 27, "max_attempts=0", "finite"),
    ("quoted number", STEP + "    timeout_s: '5'\n", 7, 16, "must be a number", "quotes"),
    ("bad timeout", STEP + "    timeout_s: -1\n", 7, 16, "timeout_s=-1", "timeout"),
    (
        "bad input source",
        STEP + "    inputs: {q: 3}\n",
        7,
        17,
        "context key (text) or {literal: value}",
        "literal",
    ),
    (
        "bad literal form",
        STEP + "    inputs: {q: {literal: 1, x: 2}}\n",
        7,
        17,
        "{literal: value}",
        "literal",
    ),
    (
        "bad on_error",
        STEP + "    on_error: explode\n",
        7,
        15,
        "'on_error' of step 1",
        "fallback:<tool>",
    ),
    (
        "bad tools",
        HEAD + "tools: {t: 'not a path'}\nsteps: []\n",
        4,
        12,
        "import path",
        "module:attribute",
    ),
    (
        "bad kind",
        "format_version: 1\nkind: daq\nname: x\nsteps: []\n",
        2,
        7,
        "'daq' is not a flow kind",
        "did you mean 'dag'",
    ),
    ("no kind", "format_version: 1\nname: x\nsteps: []\n", 1, 1, "no 'kind'", "kind: flow"),
    (
        "format 2",
        "format_version: 2\nkind: dag\nname: x\nsteps: []\n",
        1,
        17,
        "format_version 2 is not supported",
        "format_version: 1",
    ),
    (
        "format text",
        "format_version: '1'\nkind: dag\nname: x\nsteps: []\n",
        1,
        17,
        "not supported",
        "format_version: 1",
    ),
    ("no format", "kind: dag\nname: x\nsteps: []\n", 1, 1, "no 'format_version'", "first line"),
    (
        "bad schema",
        HEAD + "input_schema: {type: object, properties: {q: {type: strin}}}\nsteps: []\n",
        4,
        53,
        "not a valid JSON Schema",
        "JSON Schema",
    ),
    ("duplicate key", HEAD + "steps: []\nname: y\n", 5, 1, "duplicate key 'name'", "once"),
    ("duplicate nested key", STEP + "    tool: u\n", 7, 5, "duplicate key 'tool'", "once"),
    ("alias", HEAD + "steps: &s []\ndescription: *s\n", 5, 14, "aliases", "in full"),
    (
        "python tag",
        HEAD + "steps: !!python/object/apply:os.system ['true']\n",
        4,
        8,
        "!!python/object/apply:os.system",
        "plain",
    ),
    ("custom tag", HEAD + "steps: !mine []\n", 4, 8, "!mine", "plain"),
    ("binary", HEAD + "description: !!binary aGk=\nsteps: []\n", 4, 14, "!!binary", "plain"),
    ("timestamp", HEAD + "version: 2024-01-01\nsteps: []\n", 4, 10, "!!timestamp", "quote"),
    ("set", HEAD + "steps: !!set {a: null}\n", 4, 8, "!!set", "plain"),
    ("merge key", HEAD + "steps: []\n<<: {a: 1}\n", 5, 1, "merge keys", "in full"),
    ("non-text key", HEAD + "steps: []\n1: 2\n", 5, 1, "not text", "quote"),
    ("list key", HEAD + "steps: []\n? [a]\n: 1\n", 5, 3, "must be text", "plain names"),
    ("yaml inf", STEP + "    timeout_s: .inf\n", 7, 16, "not a finite number", "NaN"),
    ("yaml nan", STEP + "    inputs: {q: {literal: .NaN}}\n", 7, 27, "not a finite number", "NaN"),
    (
        "huge int",
        STEP + "    inputs: {q: {literal: " + "9" * 5000 + "}}\n",
        7,
        27,
        "too large",
        "4300",
    ),
    (
        "two documents",
        HEAD + "steps: []\n---\na: 1\n",
        5,
        1,
        "more than one YAML document",
        "'---'",
    ),
    ("tab indent", HEAD + "steps:\n\t- a\n", 5, 1, "invalid YAML", "spaces"),
    (
        "control character",
        HEAD + 'steps: []\ndescription: "\x07"\n',
        5,
        15,
        "control characters",
        "printable",
    ),
    ("bad yaml", HEAD + "steps: [\n", 5, 1, "invalid YAML", "indentation"),
    ("top-level list", "- a\n- b\n", 1, 1, "not a list", "format_version"),
    ("top-level text", "just words\n", 1, 1, "not the text", "format_version"),
    ("empty", "\n\n", 1, 1, "empty", "format_version"),
    ("only a comment", "# nothing here\n", 1, 1, "empty", "format_version"),
    (
        "json NaN",
        JHEAD + '"steps": [], "description": NaN}',
        1,
        79,
        "NaN is not a JSON number",
        "finite",
    ),
    ("json Infinity", JHEAD + '"steps": [-Infinity]}', 1, 61, "-Infinity", "finite"),
    ("json huge float", JHEAD + '"steps": [1e999]}', 1, 61, "too large", "finite"),
    ("json huge int", JHEAD + '"steps": [' + "1" * 5000 + "]}", 1, 61, "too large", "4300"),
    (
        "json duplicate",
        JHEAD + '\n "name": "y", "steps": []}',
        2,
        2,
        "duplicate key 'name'",
        "once",
    ),
    ("json syntax", JHEAD + '\n "steps": [] "x": 1}', 2, 14, "invalid JSON", "commas"),
    (
        "json surrogate",
        JHEAD + '"description": "\\ud800", "steps": []}',
        1,
        66,
        "lone surrogate",
        "character",
    ),
    ("json trailing", JHEAD + '"steps": []} []', 1, 64, "invalid JSON", "commas"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("text", "line", "col", "message", "hint"),
    [pytest.param(*case[1:], id=case[0]) for case in MALFORMED],
)
def test_a_malformed_file_is_one_positioned_error(
    text: str, line: int, col: int, message: str, hint: str
) -> None:
    error = load_error(text)
    assert (error.line, error.col) == (line, col), str(error)
    assert message in error.message, str(error)
    assert error.hint is not None and hint in error.hint, str(error)
    assert error.path is None and str(error).startswith(f"<text>:{line}:{col}: [DW-E018] ")
    assert error.code == "DW-E018"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_deep_nesting_is_refused_without_recursion(fmt: str) -> None:
    depth = 100_000
    if fmt == "yaml":
        text = STEP + "    inputs: {q: {literal: " + "[" * depth + "]" * depth + "}}\n"
    else:
        text = JHEAD + '"steps": ' + "[" * depth + "]" * depth + "}"
    error = load_error(text, format=fmt)
    assert "nest" in error.message and error.line is not None


def test_nesting_within_the_bound_loads() -> None:
    value: object = "leaf"
    for _ in range(150):
        value = [value]
    flow = DAGFlow("x", [Step(id="a", tool="t", inputs={"q": Literal(value)})])
    for fmt in ("yaml", "json"):
        assert load_flow(dump_flow(flow, format=fmt)) == flow  # type: ignore[arg-type]


@pytest.mark.timeout(30)
def test_billion_laughs_is_refused_at_the_first_alias() -> None:
    lines = ["format_version: 1", "kind: dag", "name: x", "a0: &a0 [lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 30)]
    error = load_error("\n".join(lines) + "\nsteps: []\n")
    assert "aliases" in error.message and (error.line, error.col) == (5, 10)


def test_python_tags_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = HEAD + f"steps: !!python/object/apply:os.system ['touch {marker}']\n"
    load_error(text)
    assert not marker.exists()


def test_a_missing_file_a_directory_and_other_bytes(tmp_path: Path) -> None:
    missing = load_error(str(tmp_path / "nope.yaml"))
    assert missing.message == "no such file" and missing.path == str(tmp_path / "nope.yaml")
    assert missing.line is None
    folder = load_error(str(tmp_path))
    assert "directory" in folder.message
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"format_version: 1\nname: caf\xe9\n")
    error = load_error(str(latin))
    assert (error.line, error.col) == (2, 10) and "UTF-8" in error.message
    latin.write_bytes("format_version: 1\nname: é ".encode() + b"caf\xe9\n")
    error = load_error(str(latin))
    assert (error.line, error.col) == (2, 12), "columns count characters, not bytes"
    with pytest.raises(FlowFileError):
        load_flow(42)  # type: ignore[arg-type]
    with pytest.raises(FlowFileError):
        load_flow(RESEARCH, format="toml")  # type: ignore[arg-type]


def test_a_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + RESEARCH.encode())
    assert load_flow(path) == EXPECTED


def test_a_file_too_large_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagwright.io import files

    monkeypatch.setattr(files, "MAX_FILE_BYTES", 100)
    path = tmp_path / "big.yaml"
    path.write_text(RESEARCH, encoding="utf-8")
    assert "larger than" in load_error(str(path)).message


def test_json_positions_are_recorded() -> None:
    text = dump_flow(EXPECTED, format="json")
    source = flow_source(load_flow(text))
    assert source is not None
    lines = text.splitlines()
    line, col = source.position(("steps", 1, "over"))
    assert lines[line - 1][col - 1 :].startswith('"over": "results"')
    line, col = source.position(("steps", 1, "depends_on", 0))
    assert lines[line - 1][col - 1 :].startswith('"search"')


@pytest.mark.timeout(60)
def test_the_pure_python_yaml_parser_reads_files_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    yaml_cases = [case for case in MALFORMED if not case[1].startswith("{")]
    with_libyaml = [str(load_error(case[1])) for case in yaml_cases]
    assert load_flow(RESEARCH) == EXPECTED
    positions = dict(flow_source(load_flow(RESEARCH)).positions)  # type: ignore[union-attr]
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    without = [str(load_error(case[1])) for case in yaml_cases]
    assert load_flow(RESEARCH) == EXPECTED
    source = flow_source(load_flow(RESEARCH))
    assert source is not None and source.position(("steps", 1, "depends_on", 0)) == (22, 18)
    assert dict(source.positions) == positions
    differ = [(a, b) for a, b in zip(with_libyaml, without, strict=True) if a != b]
    # The two parsers word some syntax errors differently; positions and refusals agree.
    assert all(a.split(" [")[0] == b.split(" [")[0] for a, b in differ), differ
    deep = STEP + "    inputs: {q: {literal: " + "[" * 10_000 + "]" * 10_000 + "}}\n"
    assert "deeper than 256" in load_error(deep).message


YAML_LOOKALIKES = [
    "1e3",
    "-1.5E+2",
    "yes",
    "off",
    "null",
    "~",
    "2024-01-01",
    "<<",
    "*a",
    "&a",
    "!tag",
    "0x10",
    "1:30",
    ".inf",
    ".NaN",
    "=",
    "- x",
    "# c",
    "a: b",
    "'",
    '"',
    "\x85",
    "\u2028",
    "\ufeffx",
    " padded ",
    "tab\there",
    "line\nbreaks\n",
]


@pytest.mark.parametrize("text", YAML_LOOKALIKES)
def test_text_that_looks_like_other_yaml_stays_text(text: str) -> None:
    flow = Flow(
        text.strip() or "x",
        [Step(tool="a", inputs={text: text, "q": Literal(text)})],
        description=text,
        version=text,
    )
    for fmt in ("yaml", "json"):
        back = load_flow(dump_flow(flow, format=fmt), format=fmt)  # type: ignore[arg-type]
        assert back == flow and back.description == text


def test_the_source_survives_pickling_and_deep_copies() -> None:
    import copy
    import pickle

    flow = load_flow(RESEARCH)
    for clone in (pickle.loads(pickle.dumps(flow)), copy.deepcopy(flow), copy.copy(flow)):
        assert clone == flow and clone.definition_digest == flow.definition_digest
        source = flow_source(clone)
        assert source is not None and dict(source.tools) == {"search": "myapp.tools:search"}
        assert source.position(("steps", 2)) == (23, 5)


FUZZ_PIECES = st.sampled_from(
    [
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "-",
        " ",
        "\n",
        "  ",
        '"',
        "'",
        "&a",
        "*a",
        "!!",
        "<<",
        "#",
        "|",
        ">",
        "?",
        "~",
        "0x1f",
        "1e400",
        ".nan",
        "\t",
        "\\u",
        "\x00",
        "\ud800",
        "é",
        "steps",
        "over",
        "literal",
        "kind",
        "dag",
        "format_version",
        "9" * 50,
        "null",
        "true",
    ]
)


@st.composite
def mangled(draw: st.DrawFn) -> str:
    text = dump_flow(draw(flows()), format=draw(st.sampled_from(["yaml", "json"])))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 3))
        text = text[:at] + draw(FUZZ_PIECES | st.text(max_size=3)) + text[at + cut :]
    return text


@pytest.mark.timeout(120)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mangled())
def test_mangled_files_load_or_raise_one_flow_file_error(text: str) -> None:
    try:
        flow = load_flow(text)
    except FlowFileError as error:
        assert error.line is None or error.line >= 1
        str(error)
    else:
        assert load_flow(dump_flow(flow)).definition_digest == flow.definition_digest


def test_anchors_alone_and_standard_tags_are_plain_yaml() -> None:
    text = (
        "format_version: !!int '1'\nkind: !!str dag\nname: &n x\nversion: !!str 2\n"
        "steps: !!seq\n  - !!map {id: a, tool: t, timeout_s: !!float '1.5', when: !!null ''}\n"
    )
    flow = load_flow(text)
    assert flow == DAGFlow("x", [Step(id="a", tool="t", timeout_s=1.5)], version="2")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_too_many_values_are_refused(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagwright.io import _json_source, _yaml_source

    monkeypatch.setattr(_yaml_source, "MAX_VALUES", 1000)
    monkeypatch.setattr(_json_source, "MAX_VALUES", 1000)
    flow = DAGFlow("x", [Step(id="a", tool="t", inputs={"q": Literal(list(range(2000)))})])
    error = load_error(dump_flow(flow, format=fmt), format=fmt)  # type: ignore[arg-type]
    assert "more than 1,000 values" in error.message and error.line is not None
    small = DAGFlow("x", [Step(id="a", tool="t", inputs={"q": Literal(list(range(900)))})])
    assert load_flow(dump_flow(small, format=fmt), format=fmt) == small  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow=flows())
def test_the_round_trip_holds_with_the_pure_python_yaml_parser(flow: Flow) -> None:
    import yaml

    text = dump_flow(flow)
    with pytest.MonkeyPatch.context() as patch:
        patch.delattr(yaml, "CSafeLoader", raising=False)
        back = load_flow(text, format="yaml")
    assert back.definition_digest == flow.definition_digest
    assert flow_source(back) is not None

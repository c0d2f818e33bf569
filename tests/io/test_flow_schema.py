"""The JSON Schema of flow files: valid, current, and in agreement with the loader."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from dagwright import Flow, FlowFileError, dump_flow, flow_json_schema, load_flow
from dagwright.io._json_source import parse_json
from dagwright.io._yaml_source import parse_yaml
from tests.io.test_files import EXPECTED, RESEARCH, flows

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schemas" / "flow.schema.json"
VALIDATOR = Draft202012Validator(flow_json_schema())


def file_data(text: str) -> Any:
    """A flow file's plain data, read as the loader reads it."""
    return (
        parse_json(text, None).value
        if text.lstrip().startswith("{")
        else parse_yaml(text, None).value
    )


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = flow_json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://dagwright.dev/schemas/flow.schema.json"
    assert schema["title"] and schema["additionalProperties"] is False
    assert all("description" in prop for prop in schema["properties"].values())


def test_each_call_returns_a_fresh_copy() -> None:
    first = flow_json_schema()
    first["title"] = "changed"
    assert flow_json_schema()["title"] != "changed"


def test_the_schema_file_is_current() -> None:
    expected = json.dumps(flow_json_schema(), indent=2, sort_keys=True) + "\n"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == expected, (
        "schemas/flow.schema.json is stale: regenerate it with `python schemas/generate.py`"
    )


def test_the_generator_prints_the_schema() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "schemas" / "generate.py"), "--output", "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


def test_the_design_example_validates() -> None:
    assert list(VALIDATOR.iter_errors(file_data(RESEARCH))) == []
    assert list(VALIDATOR.iter_errors(json.loads(dump_flow(EXPECTED, format="json")))) == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow=flows())
def test_every_dumped_flow_validates(flow: Flow) -> None:
    data = json.loads(dump_flow(flow, format="json"))
    errors = [error.message for error in VALIDATOR.iter_errors(data)]
    assert errors == []
    assert file_data(dump_flow(flow)) == data


HEAD = "format_version: 1\nkind: dag\nname: x\n"
STEP = HEAD + "steps:\n  - id: a\n    tool: t\n"

INVALID = {
    "unknown top key": HEAD + "stepz: []\n",
    "unknown step key": STEP + "    dependson: [b]\n",
    "map key on a step": STEP + "    item: x\n",
    "unknown retry key": STEP + "    retry: {max_atempts: 2}\n",
    "missing map key": HEAD + "steps:\n  - id: a\n    over: xs\n    tool: t\n",
    "missing name": "format_version: 1\nkind: dag\nsteps: []\n",
    "empty name": "format_version: 1\nkind: dag\nname: ''\nsteps: []\n",
    "missing steps": HEAD,
    "missing kind": "format_version: 1\nname: x\nsteps: []\n",
    "missing format": "kind: dag\nname: x\nsteps: []\n",
    "format 2": "format_version: 2\nkind: dag\nname: x\nsteps: []\n",
    "format true": "format_version: true\nkind: dag\nname: x\nsteps: []\n",
    "bad kind": "format_version: 1\nkind: daq\nname: x\nsteps: []\n",
    "steps not a list": HEAD + "steps: 3\n",
    "step not a mapping": HEAD + "steps:\n  - a\n",
    "version a number": HEAD + "version: 2\nsteps: []\n",
    "bad id": HEAD + "steps:\n  - id: 'a b'\n    tool: t\n",
    "bad retry": STEP + "    retry: {max_attempts: 0}\n",
    "bad backoff": STEP + "    retry: {max_backoff_s: 1e12}\n",
    "quoted number": STEP + "    timeout_s: '5'\n",
    "boolean number": STEP + "    retry: {max_attempts: true}\n",
    "bad timeout": STEP + "    timeout_s: -1\n",
    "zero timeout": STEP + "    timeout_s: 0\n",
    "bad input source": STEP + "    inputs: {q: 3}\n",
    "bad literal form": STEP + "    inputs: {q: {literal: 1, x: 2}}\n",
    "empty literal": STEP + "    inputs: {q: {}}\n",
    "value literal": STEP + "    inputs: {q: {value: 3}}\n",
    "bad on_error": STEP + "    on_error: explode\n",
    "bad error_policy": HEAD + "steps:\n  - {id: a, over: x, item: i, results: r, "
    "error_policy: sometimes}\n",
    "bad collision policy": HEAD + "on_context_collision: shrug\nsteps: []\n",
    "bad tools": HEAD + "tools: {t: 'not a path'}\nsteps: []\n",
    "tools not a mapping": HEAD + "tools: [a]\nsteps: []\n",
    "tools null": HEAD + "tools: null\nsteps: []\n",
    "outputs not text": STEP + "    outputs: {a: 1}\n",
    "depends_on not text": STEP + "    depends_on: [1]\n",
    "schema not an object": HEAD + "input_schema: 3\nsteps: []\n",
    "schema not valid": HEAD + "input_schema: {type: object, properties: {q: {type: strin}}}\n"
    "steps: []\n",
    "description a list": HEAD + "description: [a]\nsteps: []\n",
    "top-level list": "- a\n",
    "$schema not text": HEAD + "$schema: 1\nsteps: []\n",
}


@pytest.mark.parametrize("text", list(INVALID.values()), ids=list(INVALID))
def test_the_schema_and_the_loader_refuse_the_same_files(text: str) -> None:
    with pytest.raises(FlowFileError):
        load_flow(text)
    assert list(VALIDATOR.iter_errors(file_data(text))), "the schema accepts it"


VALID = {
    "minimal": "format_version: 1\nkind: flow\nname: x\nsteps: []\n",
    "one dependency as text": STEP + "    depends_on: b\n",
    "nulls": STEP + "    when: null\n    retry: null\n    timeout_s: null\n",
    "every literal": STEP + "    inputs: {a: {literal: null}, b: {literal: [1, {x: y}]}}\n",
    "format 1.0": "format_version: 1.0\nkind: dag\nname: x\nsteps: []\n",
    "null schemas": HEAD + "input_schema: null\noutput_schema: null\nsteps: []\n",
    "a map step": HEAD + "steps:\n  - {id: a, over: x, item: i, results: r, tool: t}\n",
    "an editor's $schema": "$schema: https://dagwright.dev/schemas/flow.schema.json\n"
    + HEAD
    + "steps: []\n",
}


@pytest.mark.parametrize("text", list(VALID.values()), ids=list(VALID))
def test_the_schema_and_the_loader_accept_the_same_files(text: str) -> None:
    load_flow(text)
    assert list(VALIDATOR.iter_errors(file_data(text))) == []


def test_every_example_flow_file_validates_and_loads() -> None:
    examples = [*ROOT.glob("examples/**/*.flow.yaml"), *ROOT.glob("examples/**/*.flow.json")]
    for path in sorted(examples):
        text = path.read_text(encoding="utf-8")
        errors = [error.message for error in VALIDATOR.iter_errors(file_data(text))]
        assert errors == [], path
        assert load_flow(path).name, path


def test_the_documented_example_loads_and_validates() -> None:
    page = (ROOT / "docs" / "flow-files.md").read_text(encoding="utf-8")
    example = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert list(VALIDATOR.iter_errors(file_data(example))) == []
    flow = load_flow(example)
    assert [step.id for step in flow.steps] == ["search", "fetch_all", "summarize"]


ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2.5,
    0.0,
    1e12,
    "x",
    "",
    "a b",
    "1e3",
    "fail",
    "skip",
    "collect",
    "dag",
    "flow",
    "warn",
    [],
    ["a"],
    [1],
    {},
    {"a": "b"},
    {"a": 1},
    {"literal": 1},
    {"type": "object"},
    {"type": "array"},
]
TOP_KEYS = [
    "format_version",
    "kind",
    "name",
    "version",
    "description",
    "on_context_collision",
    "input_schema",
    "output_schema",
    "tools",
    "steps",
    "x",
]
STEP_KEYS = [
    "id",
    "tool",
    "flow",
    "inputs",
    "outputs",
    "depends_on",
    "when",
    "retry",
    "timeout_s",
    "on_error",
    "over",
    "item",
    "results",
    "errors",
    "max_concurrency",
    "error_policy",
    "x",
]
RETRY_KEYS = ["max_attempts", "backoff_s", "multiplier", "max_backoff_s", "retry_on", "x"]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow=flows(), data=st.data())
def test_the_schema_and_the_loader_agree_on_altered_files(flow: Flow, data: st.DataObject) -> None:
    """One key of a valid file set to an odd value: both accept it, or both refuse it."""
    document = json.loads(dump_flow(flow, format="json"))
    where = data.draw(st.sampled_from(["top", "step", "retry", "input"]))
    value = data.draw(st.sampled_from(ODD_VALUES))
    if where == "top" or not document["steps"]:
        document[data.draw(st.sampled_from(TOP_KEYS))] = value
    else:
        step = data.draw(st.sampled_from(document["steps"]))
        if where == "step":
            step[data.draw(st.sampled_from(STEP_KEYS))] = value
        elif where == "retry" and isinstance(step.setdefault("retry", {}), dict):
            step["retry"][data.draw(st.sampled_from(RETRY_KEYS))] = value
        else:
            step.setdefault("inputs", {})["q"] = value
    schema_errors = [error.message for error in VALIDATOR.iter_errors(document)]
    try:
        load_flow(json.dumps(document), format="json")
    except FlowFileError as error:
        assert schema_errors, f"only the loader refuses it: {error}"
    else:
        assert not schema_errors, f"only the schema refuses it: {schema_errors}"

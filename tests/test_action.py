"""The GitHub Action (``action.yml``): its metadata is consistent, and its lint step,
run here as GitHub runs it (the step's own ``env``, ``working-directory`` and ``run``),
annotates, writes a valid SARIF log and exits with lint's code."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from dagwright.io._sarif import PROJECT_URL

ROOT = Path(__file__).resolve().parents[1]
ACTION_TEXT = (ROOT / "action.yml").read_text(encoding="utf-8")
ACTION: dict[str, Any] = yaml.safe_load(ACTION_TEXT)
STEPS: list[dict[str, Any]] = ACTION["runs"]["steps"]
SARIF_SCHEMA = json.loads(
    (ROOT / "tests" / "fixtures" / "sarif-2.1.0.schema.json").read_text(encoding="utf-8")
)
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.DOTALL)

# The command-line tests' tools, plus one more the action's flows call.
TOOLS = (
    (ROOT / "tests" / "cli" / "cli_tools.py").read_text(encoding="utf-8")
    + '''

@tool
def publish(total: int) -> Total:
    """Publish the total (and write it again)."""
    return Total(total=total)
'''
)

SUMS = """\
format_version: 1
kind: dag
name: sums
version: "1"
description: Doubles and squares, then adds.
steps:
  - id: double
    tool: double
  - id: square
    tool: square
  - id: add
    tool: add
    depends_on: [double, square]
"""
BROKEN = SUMS.replace("name: sums", "name: broken").replace("[double, square]", "[double, sqare]")
# publish writes `total` again after add: DW301, a warning.
WARNED = SUMS.replace("name: sums", "name: warned") + (
    "  - id: publish\n    tool: publish\n    depends_on: [add]\n"
)


def _strings(node: object) -> list[str]:
    if isinstance(node, dict):
        return [text for value in node.values() for text in _strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in _strings(value)]
    return [node] if isinstance(node, str) else []


def _expressions() -> list[str]:
    """Every expression of the steps and outputs: inside ``${{ }}``, and whole ``if:``s
    (which GitHub evaluates without the braces)."""
    found = [e for text in _strings([STEPS, ACTION["outputs"]]) for e in EXPRESSION.findall(text)]
    return found + [step["if"] for step in STEPS if "if" in step]


def _step(step_id: str) -> dict[str, Any]:
    return next(step for step in STEPS if step.get("id") == step_id)


def _step_named(prefix: str) -> dict[str, Any]:
    return next(step for step in STEPS if step["name"].startswith(prefix))


def test_the_action_is_a_composite_with_the_documented_inputs_and_outputs() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert ACTION["name"] and ACTION["description"]
    inputs = ACTION["inputs"]
    assert set(inputs) == {
        "files", "tools", "tools-manifest", "select", "ignore", "strict",
        "python-version", "version", "sarif-file", "upload-sarif",
    }  # fmt: skip
    for name, spec in inputs.items():
        assert spec["description"], name
        assert isinstance(spec["default"], str), name  # inputs are strings on GitHub
    assert inputs["files"]["default"] == "."
    assert inputs["sarif-file"]["default"] == "dagwright.sarif"
    used = {m for e in _expressions() for m in re.findall(r"inputs\.([\w-]+)", e)}
    # Every input referenced is declared, and every declared one is used by a step.
    assert used == set(inputs)
    for step in STEPS:
        if "run" in step:
            assert step["shell"] == "bash", step["name"]
    ids = {step["id"] for step in STEPS if "id" in step}
    for expression in _expressions():
        for step_id in re.findall(r"steps\.([\w-]+)\.", expression):
            assert step_id in ids, expression
    script = (ROOT / "scripts" / "action-lint.sh").read_text(encoding="utf-8")
    for name, spec in ACTION["outputs"].items():
        assert spec["value"] == f"${{{{ steps.lint.outputs.{name} }}}}"
        assert f"{name}=" in script  # the step writes it to GITHUB_OUTPUT


def test_the_steps_set_up_python_install_lint_and_upload() -> None:
    setup = _step_named("Set up Python")
    assert setup["uses"].startswith("actions/setup-python@")
    assert setup["if"] == "inputs.python-version != ''"
    install = _step_named("Install dagwright")["run"]
    assert '"$ACTION_PATH[cli]"' in install
    assert '"dagwright[cli]==$DAGWRIGHT_VERSION"' in install
    lint = _step("lint")
    assert "action-lint.sh" in lint["run"]
    assert lint["working-directory"] == "${{ github.workspace }}"
    upload = _step_named("Upload")
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert "\n" not in upload["if"]  # folded into one expression
    condition = upload["if"]
    assert condition.startswith("always() && inputs.upload-sarif == 'true'")
    assert "steps.lint.outputs.sarif-file != ''" in condition
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition
    assert upload["with"]["sarif_file"] == "${{ steps.lint.outputs.sarif-file }}"


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    outputs: dict[str, str]
    workspace: Path

    @property
    def annotations(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.startswith("::")]

    def sarif(self) -> dict[str, Any]:
        log: dict[str, Any] = json.loads(
            (self.workspace / self.outputs["sarif-file"]).read_text(encoding="utf-8")
        )
        jsonschema.validate(log, SARIF_SCHEMA)
        return log

    def results(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.sarif()["runs"][0]["results"]
        return found


def _evaluate(text: str, context: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        assert match.group(1) in context, f"the test cannot evaluate {match.group(0)}"
        return context[match.group(1)]

    return EXPRESSION.sub(value, text)


def run_lint_step(workspace: Path, **given: str) -> Outcome:
    """The action's lint step as GitHub runs it, in ``workspace``: its ``env`` evaluated
    with ``given`` inputs (underscores for dashes) over the declared defaults."""
    inputs = {name: spec["default"] for name, spec in ACTION["inputs"].items()}
    for key, value in given.items():
        name = key.replace("_", "-")
        assert name in inputs, name
        inputs[name] = value
    context = {f"inputs.{name}": value for name, value in inputs.items()}
    context |= {"github.workspace": str(workspace), "github.action_path": str(ROOT)}
    step = _step("lint")
    output_file = workspace.parent / f"{workspace.name}.github_output"
    output_file.write_text("", encoding="utf-8")
    env = {
        **os.environ,
        # `python -m dagwright` is this interpreter, as setup-python's would be.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_OUTPUT": str(output_file),
    }
    env |= {name: _evaluate(str(value), context) for name, value in step["env"].items()}
    done = subprocess.run(
        ["bash", "-c", step["run"]],
        cwd=_evaluate(step["working-directory"], context),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = output_file.read_text(encoding="utf-8").splitlines()
    outputs = dict(line.split("=", 1) for line in lines)
    return Outcome(done.returncode, done.stdout, done.stderr, outputs, workspace)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A checkout: flows/ with a clean flow, and the tools module at its root."""
    root = tmp_path / "repo"
    (root / "flows").mkdir(parents=True)
    (root / "flowtools.py").write_text(TOOLS, encoding="utf-8")
    (root / "flows" / "sums.flow.yaml").write_text(SUMS, encoding="utf-8")
    return root


@pytest.mark.timeout(120)
def test_the_examples_lint_clean_with_a_valid_sarif_log(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "examples", root / "examples")
    tools = "examples.pipeline_tools examples.crash_tools"
    done = run_lint_step(root, files="examples", tools=tools)
    assert done.code == 0, done.err
    assert done.annotations == []
    assert done.outputs == {"exit-code": "0", "sarif-file": "dagwright.sarif"}
    log = done.sarif()
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["tool"]["driver"]["informationUri"] == PROJECT_URL


@pytest.mark.timeout(120)
def test_a_broken_flow_fails_with_annotations_and_sarif_results(workspace: Path) -> None:
    (workspace / "flows" / "broken.flow.yaml").write_text(BROKEN, encoding="utf-8")
    (workspace / "dagwright.sarif").write_text("stale", encoding="utf-8")
    # An absolute path inside the checkout still gives URIs relative to its root.
    done = run_lint_step(workspace, files=f"{workspace / 'flows'}", tools="flowtools.py")
    assert done.code == 1, done.err
    assert done.outputs == {"exit-code": "1", "sarif-file": "dagwright.sarif"}
    errors = [line for line in done.annotations if line.startswith("::error ")]
    assert errors, done.out
    assert any(
        line.startswith(f"::error file={workspace / 'flows' / 'broken.flow.yaml'},line=13,col=26,"
                        "title=DW102::depends on unknown step 'sqare'")
        for line in errors
    )  # fmt: skip
    results = done.results()
    assert "DW102" in {r["ruleId"] for r in results}
    for result in results:
        location = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert location == {"uri": "flows/broken.flow.yaml", "uriBaseId": "%SRCROOT%"}


@pytest.mark.timeout(120)
def test_strict_makes_warnings_fail(workspace: Path) -> None:
    (workspace / "flows" / "warned.flow.yaml").write_text(WARNED, encoding="utf-8")
    done = run_lint_step(workspace, files="flows", tools="flowtools.py")
    assert done.code == 0, done.err
    assert [line.split(" ", 1)[0] for line in done.annotations] == ["::warning"]
    assert "title=DW301::" in done.annotations[0]
    strict = run_lint_step(workspace, files="flows", tools="flowtools.py", strict="true")
    assert strict.code == 1
    assert strict.annotations[0].startswith("::error file=flows/warned.flow.yaml,")
    assert [r["level"] for r in strict.results()] == ["error"]
    wrong = run_lint_step(workspace, files="flows", strict="yes please")
    assert wrong.code == 2
    assert wrong.annotations == [
        "::error title=dagwright lint::strict must be true or false, got 'yes please'"
    ]
    assert wrong.outputs == {"exit-code": "2", "sarif-file": ""}


@pytest.mark.timeout(120)
def test_select_and_ignore_narrow_the_findings(workspace: Path) -> None:
    (workspace / "flows" / "broken.flow.yaml").write_text(BROKEN, encoding="utf-8")
    (workspace / "flows" / "warned.flow.yaml").write_text(WARNED, encoding="utf-8")
    everything = run_lint_step(workspace, files="flows", tools="flowtools.py")
    assert {r["ruleId"] for r in everything.results()} == {"DW102", "DW201", "DW301"}
    ignored = run_lint_step(workspace, files="flows", tools="flowtools.py", ignore="DW102, dw2")
    assert ignored.code == 0
    assert {r["ruleId"] for r in ignored.results()} == {"DW301"}
    assert len(ignored.annotations) == 1
    selected = run_lint_step(workspace, files="flows", tools="flowtools.py", select="DW1 DW3")
    assert selected.code == 1
    assert {r["ruleId"] for r in selected.results()} == {"DW102", "DW301"}
    unknown = run_lint_step(workspace, files="flows", select="XX9")
    assert unknown.code == 2
    assert unknown.outputs == {"exit-code": "2", "sarif-file": ""}
    assert unknown.annotations[0].startswith("::error title=dagwright lint::dagwright: error: ")
    assert "[DW-E017]" in unknown.annotations[0]
    assert not (workspace / "dagwright.sarif").exists()


@pytest.mark.timeout(120)
def test_a_tools_manifest_checks_without_importing(workspace: Path) -> None:
    (workspace / "flows" / "warned.flow.yaml").write_text(WARNED, encoding="utf-8")
    exported = subprocess.run(
        [sys.executable, "-m", "dagwright", "tools", "export", "flowtools.py", "-o", "tools.json"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    by_module = run_lint_step(workspace, files="flows", tools="flowtools.py")
    (workspace / "flowtools.py").unlink()  # the manifest needs no code
    by_manifest = run_lint_step(workspace, files="flows", tools_manifest="tools.json")
    assert by_manifest.code == 0, by_manifest.err
    assert by_manifest.annotations == by_module.annotations
    assert "title=DW301::" in by_manifest.annotations[0]
    both = run_lint_step(workspace, files="flows", tools="x", tools_manifest="tools.json")
    assert both.code == 2
    assert both.annotations == [
        "::error title=dagwright lint::give tools or tools-manifest, not both"
    ]


@pytest.mark.timeout(120)
def test_globs_a_missing_file_and_a_sarif_file_in_a_new_directory(workspace: Path) -> None:
    nested = workspace / "flows" / "more"
    nested.mkdir()
    (nested / "broken.flow.yaml").write_text(BROKEN, encoding="utf-8")
    (workspace / "notes.yaml").write_text("not: a flow\n", encoding="utf-8")
    done = run_lint_step(
        workspace,
        files="flows/**/*.flow.yaml\nmissing/*.flow.yaml",
        tools="flowtools.py",
        sarif_file="reports/dagwright.sarif",
    )
    assert done.code == 2  # the glob that matches nothing is a missing file
    assert done.outputs == {"exit-code": "2", "sarif-file": "reports/dagwright.sarif"}
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in done.results()
    }
    assert uris == {"flows/more/broken.flow.yaml", "missing/%2A.flow.yaml"}
    assert any(line.startswith("::error file=missing/*.flow.yaml,") for line in done.annotations)
    assert not any("notes.yaml" in line for line in done.annotations)


def test_the_docs_show_the_action_first_with_its_inputs() -> None:
    doc = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.DOTALL)
    workflow = yaml.safe_load(blocks[0])
    steps = workflow["jobs"]["lint-flows"]["steps"]
    uses = next(step for step in steps if "dagwright" in step.get("uses", ""))
    repository = PROJECT_URL.removeprefix("https://github.com/")
    assert uses["uses"] == f"{repository}@v1"
    assert set(uses["with"]) <= set(ACTION["inputs"])
    assert workflow["jobs"]["lint-flows"]["permissions"]["security-events"] == "write"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("version", "installed"),
    [("", f"{ROOT}[cli]"), ("1.2.3", "dagwright[cli]==1.2.3")],
)
def test_the_install_step_installs_the_checkout_or_a_release(
    tmp_path: Path, version: str, installed: str
) -> None:
    # A `python` that records its arguments stands in for setup-python's.
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "python"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{tmp_path / "argv"}"\n', encoding="utf-8")
    fake.chmod(0o755)
    step = _step_named("Install dagwright")
    context = {"inputs.version": version, "github.action_path": str(ROOT)}
    env = {name: _evaluate(str(value), context) for name, value in step["env"].items()}
    done = subprocess.run(
        ["bash", "-c", step["run"]],
        env={**os.environ, **env, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    argv = (tmp_path / "argv").read_text(encoding="utf-8").splitlines()
    assert argv == ["-m", "pip", "install", "--disable-pip-version-check", installed]

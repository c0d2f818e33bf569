"""SARIF 2.1.0 output: valid against the official schema, one rule per code, results
pointing at files relative to the checkout."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

import dagwright
from dagwright import Diagnostic, FlowFileError
from dagwright.compiler import CODES
from dagwright.io import LintReport, lint_files
from dagwright.io._sarif import DIAGNOSTICS_DOC, artifact_location, sarif_log
from tests.io._tools import TOOLS

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests/fixtures/sarif-2.1.0.schema.json").read_text(encoding="utf-8"))
DOC = ROOT / "docs/reference/diagnostics.md"

ERROR = Diagnostic(
    "DW202",
    "error",
    "input 'pages' expects string, got integer",
    step_id="sum",
    hint="map a compatible source",
    path="flows/research.yaml",
    line=11,
    col=14,
)
WARNING = Diagnostic(
    "DW402", "warning", "retries tool 'publish'", path="flows/p.yaml", line=8, col=5
)
INFO = Diagnostic(
    "DW404", "info", "flow 'p' has no description", path="flows/p.yaml", line=1, col=1
)
BAD = FlowFileError("the flow has an unknown key 'stpes'", path="flows/bad.yaml", line=4, col=1)
MISSING = FlowFileError("no such file", path="flows/gone.yaml")

REPORTS = {
    "clean": LintReport(files=("flows/a.yaml",)),
    "findings": LintReport(diagnostics=(ERROR, WARNING, INFO), files=("flows/research.yaml",)),
    "file errors": LintReport(file_errors=(BAD, MISSING), skipped=("DW104", "DW201")),
}


def _validate(log: dict[str, Any]) -> None:
    validator = Draft4Validator(SCHEMA, format_checker=Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


@pytest.mark.parametrize("name", list(REPORTS))
def test_the_log_validates_against_the_sarif_schema(name: str) -> None:
    report = REPORTS[name]
    log = json.loads(report.to_sarif())
    _validate(log)
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    assert log == sarif_log(report)


def test_the_driver_has_one_rule_per_code_and_one_for_file_errors() -> None:
    driver = sarif_log(REPORTS["clean"])["runs"][0]["tool"]["driver"]
    assert driver["name"] == "dagwright"
    assert driver["version"] == dagwright.__version__
    assert driver["informationUri"].startswith("https://")
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids == [*CODES, "DW-E018"]
    by_id = {rule["id"]: rule for rule in driver["rules"]}
    assert by_id["DW102"]["shortDescription"]["text"] == "unknown dependency"
    assert by_id["DW102"]["fullDescription"]["text"] == CODES["DW102"].description
    assert by_id["DW102"]["name"] == "UnknownDependency"
    assert by_id["DW102"]["helpUri"] == f"{DIAGNOSTICS_DOC}#dw102"
    levels = {rule["id"]: rule["defaultConfiguration"]["level"] for rule in driver["rules"]}
    assert (levels["DW102"], levels["DW301"], levels["DW404"]) == ("error", "warning", "note")


def test_every_help_uri_anchor_exists_in_the_diagnostics_reference() -> None:
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', DOC.read_text(encoding="utf-8")))
    rules = sarif_log(REPORTS["clean"])["runs"][0]["tool"]["driver"]["rules"]
    for rule in rules:
        base, _, anchor = rule["helpUri"].partition("#")
        assert base == DIAGNOSTICS_DOC
        assert anchor in anchors, rule["id"]


def test_results_carry_rule_level_message_and_a_relative_location() -> None:
    log = sarif_log(REPORTS["findings"])
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    first, second, third = run["results"]
    assert first["ruleId"] == "DW404" and first["level"] == "note"
    assert third == {
        "ruleId": "DW202",
        "ruleIndex": list(CODES).index("DW202"),
        "level": "error",
        "message": {
            "text": "input 'pages' expects string, got integer\nhint: map a compatible source"
        },
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": "flows/research.yaml", "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": 11, "startColumn": 14},
                }
            }
        ],
    }
    assert second["ruleId"] == "DW402" and second["level"] == "warning"
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in run["results"])
    assert run["invocations"] == [{"executionSuccessful": True}]
    assert run["columnKind"] == "unicodeCodePoints"


def test_file_errors_are_results_of_their_own_rule() -> None:
    run = sarif_log(REPORTS["file errors"])["runs"][0]
    bad, gone = run["results"]
    assert bad["ruleId"] == gone["ruleId"] == "DW-E018"
    assert bad["locations"][0]["physicalLocation"]["region"] == {"startLine": 4, "startColumn": 1}
    assert "region" not in gone["locations"][0]["physicalLocation"]
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    assert "DW104, DW201" in invocation["toolExecutionNotifications"][0]["message"]["text"]


def test_locations_are_relative_with_forward_slashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert artifact_location("flows/a b.yaml") == {
        "uri": "flows/a%20b.yaml",
        "uriBaseId": "%SRCROOT%",
    }
    assert artifact_location(str(tmp_path / "flows" / "x.yaml"))["uri"] == "flows/x.yaml"
    assert artifact_location("./flows/../y.yaml")["uri"] == "y.yaml"
    outside = artifact_location("/elsewhere/z.yaml")
    assert outside == {"uri": "file:///elsewhere/z.yaml"}


def test_a_real_lint_gives_a_valid_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "f.yaml").write_text(
        "format_version: 1\nkind: dag\nname: f\nsteps:\n"
        "  - id: a\n    tool: search\n    depends_on: [b]\n",
        encoding="utf-8",
    )
    (flows / "bad.json").write_text("{", encoding="utf-8")
    for tools in (None, TOOLS):
        report = lint_files(["flows/f.yaml", "flows/bad.json"], tools=tools)
        log = json.loads(report.to_sarif())
        _validate(log)
        uris = {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in log["runs"][0]["results"]
        }
        assert uris == {"flows/f.yaml", "flows/bad.json"}

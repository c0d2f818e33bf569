"""The exact text, JSON and GitHub renderings of a small fixed report."""

from __future__ import annotations

import json
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from dagwright import Diagnostic, FlowFileError
from dagwright.io import LintReport
from dagwright.io._formats import escape_data, escape_property

BAD_FILE = FlowFileError(
    "the flow has an unknown key 'stpes'",
    path="flows/bad.yaml",
    line=4,
    col=1,
    hint="did you mean 'steps'?",
)
UNKNOWN_DEP = Diagnostic(
    "DW102",
    "error",
    "depends on unknown step 'nope'",
    step_id="summarize",
    hint="depends_on must name the id of another step of this flow",
    path="flows/research.yaml",
    line=12,
    col=26,
)
UNREACHABLE = Diagnostic(
    "DW401",
    "warning",
    "step can never run: its `when` 'False' is always false",
    step_id="pub",
    hint="remove the step, or fix its `when`",
    path="flows/research.yaml",
    line=3,
    col=5,
)
NO_DESCRIPTION = Diagnostic(
    "DW404", "info", "flow 'sub' has no description", path="flows/sub.yaml", line=1, col=1
)
REPORT = LintReport(
    diagnostics=(UNREACHABLE, UNKNOWN_DEP, NO_DESCRIPTION),
    skipped=("DW104", "DW201"),
    file_errors=(BAD_FILE,),
    files=("flows/bad.yaml", "flows/research.yaml", "flows/sub.yaml"),
)

TEXT = """\
flows/bad.yaml:4:1: DW-E018 the flow has an unknown key 'stpes'
  hint: did you mean 'steps'?
flows/research.yaml:3:5: DW401 step can never run: its `when` 'False' is always false
  hint: remove the step, or fix its `when`
flows/research.yaml:12:26: DW102 depends on unknown step 'nope'
  hint: depends_on must name the id of another step of this flow
flows/sub.yaml:1:1: DW404 flow 'sub' has no description

Found 2 errors, 1 warning and 1 info in 3 files.
Skipped checks that need tools (DW104, DW201): pass --tools MODULE or --tools-manifest FILE."""


def test_text_is_ruffs_shape_with_hints_a_summary_and_the_skipped_checks() -> None:
    assert REPORT.to_text() == TEXT
    assert REPORT.exit_code == 2


def test_a_clean_report_says_all_checks_passed() -> None:
    assert LintReport(files=("a.yaml",)).to_text() == "All checks passed!"
    skipped = LintReport(files=("a.yaml",), skipped=("DW104",))
    assert skipped.to_text() == (
        "All checks passed!\n"
        "Skipped checks that need tools (DW104): pass --tools MODULE or --tools-manifest FILE."
    )
    assert LintReport().exit_code == 0


def test_the_summary_counts_in_the_singular_and_the_plural() -> None:
    one = LintReport(diagnostics=(UNKNOWN_DEP,))
    assert one.to_text().splitlines()[-1] == "Found 1 error in 1 file."
    two_warnings = LintReport(diagnostics=(UNREACHABLE, UNREACHABLE))
    assert two_warnings.to_text().splitlines()[-1] == "Found 2 warnings in 1 file."
    mixed = LintReport(diagnostics=(UNKNOWN_DEP, UNREACHABLE, NO_DESCRIPTION, NO_DESCRIPTION))
    assert mixed.to_text().splitlines()[-1] == "Found 1 error, 1 warning and 2 infos in 2 files."
    assert LintReport(diagnostics=(UNREACHABLE,)).exit_code == 0
    assert LintReport(diagnostics=(UNKNOWN_DEP, UNREACHABLE)).exit_code == 1


def test_json_lists_every_finding_in_report_order() -> None:
    records = json.loads(REPORT.to_json())
    assert records == [
        {
            "code": "DW-E018",
            "severity": "error",
            "message": "the flow has an unknown key 'stpes'",
            "hint": "did you mean 'steps'?",
            "path": "flows/bad.yaml",
            "line": 4,
            "col": 1,
            "step_id": None,
        },
        {
            "code": "DW401",
            "severity": "warning",
            "message": "step can never run: its `when` 'False' is always false",
            "hint": "remove the step, or fix its `when`",
            "path": "flows/research.yaml",
            "line": 3,
            "col": 5,
            "step_id": "pub",
        },
        {
            "code": "DW102",
            "severity": "error",
            "message": "depends on unknown step 'nope'",
            "hint": "depends_on must name the id of another step of this flow",
            "path": "flows/research.yaml",
            "line": 12,
            "col": 26,
            "step_id": "summarize",
        },
        {
            "code": "DW404",
            "severity": "info",
            "message": "flow 'sub' has no description",
            "hint": None,
            "path": "flows/sub.yaml",
            "line": 1,
            "col": 1,
            "step_id": None,
        },
    ]
    assert REPORT.to_json() == json.dumps(records, indent=2)
    assert LintReport().to_json() == "[]"


def test_github_annotations_one_per_finding_and_a_notice_for_skipped_checks() -> None:
    assert REPORT.to_github().splitlines() == [
        "::error file=flows/bad.yaml,line=4,col=1,title=DW-E018::"
        "the flow has an unknown key 'stpes'%0Ahint: did you mean 'steps'?",
        "::warning file=flows/research.yaml,line=3,col=5,title=DW401::"
        "step can never run: its `when` 'False' is always false%0A"
        "hint: remove the step, or fix its `when`",
        "::error file=flows/research.yaml,line=12,col=26,title=DW102::"
        "depends on unknown step 'nope'%0A"
        "hint: depends_on must name the id of another step of this flow",
        "::notice file=flows/sub.yaml,line=1,col=1,title=DW404::flow 'sub' has no description",
        "::notice title=dagwright lint::"
        "Skipped checks that need tools (DW104, DW201): "
        "pass --tools MODULE or --tools-manifest FILE.",
    ]
    assert LintReport().to_github() == ""


def test_github_escapes_data_and_properties_as_the_runner_unescapes_them() -> None:
    assert escape_data("50% a:b, c\r\nd") == "50%25 a:b, c%0D%0Ad"
    assert escape_property("50% a:b, c\r\nd") == "50%25 a%3Ab%2C c%0D%0Ad"
    odd = Diagnostic("DW102", "error", "100% wrong\nreally", path="my,dir/a:b.yaml", line=2, col=3)
    assert LintReport(diagnostics=(odd,)).to_github() == (
        "::error file=my%2Cdir/a%3Ab.yaml,line=2,col=3,title=DW102::100%25 wrong%0Areally"
    )


def test_a_file_error_without_a_position_is_shown_at_its_start() -> None:
    missing = FlowFileError("no such file", path="gone.yaml", hint="check the path")
    report = LintReport(file_errors=(missing,))
    assert report.to_text().splitlines()[0] == "gone.yaml:1:1: DW-E018 no such file"
    assert json.loads(report.to_json())[0]["line"] is None
    assert report.to_github().startswith("::error file=gone.yaml,line=1,col=1,title=DW-E018::")


def _unescape(value: str) -> str:
    # What the Actions runner does to a command's message and properties.
    for encoded, plain in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        value = value.replace(encoded, plain)
    return value


@given(st.text())
def test_escaping_survives_the_runners_unescaping(value: str) -> None:
    data, prop = escape_data(value), escape_property(value)
    assert "\n" not in data and "\r" not in data
    assert not {"\n", "\r", ":", ","} & set(prop)
    assert _unescape(prop) == value
    assert _unescape(data) == value


def test_renderings_are_deterministic() -> None:
    again = LintReport(
        diagnostics=(NO_DESCRIPTION, UNKNOWN_DEP, UNREACHABLE),
        skipped=REPORT.skipped,
        file_errors=REPORT.file_errors,
        files=REPORT.files,
    )
    for render in ("to_text", "to_json", "to_github", "to_sarif"):
        assert getattr(again, render)() == getattr(REPORT, render)(), render


def test_importing_dagwright_io_stays_light() -> None:
    code = (
        "import sys, dagwright, dagwright.io\n"
        "heavy = {'yaml', 'jsonschema', 'rich', 'dagwright.cli'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr

"""Linting: which checks run, each finding reported once at its own file, selection,
strictness and exit codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dagwright import DAGFlow, Flow, FlowFileError, MapStep, Step, UsageError
from dagwright.compiler import CODES
from dagwright.io import lint_files, load_tool_manifest, write_tool_manifest
from dagwright.io.lint import TOOL_FREE_CODES, LintReport, lint_loaded, parse_codes
from dagwright.registry import _TOOL_FREE
from tests.io._tools import TOOLS

# A sub-flow with an error of its own (an unknown dependency) and a warning (a
# non-idempotent tool retried), and a flow that calls it.
SUB = DAGFlow(
    "summarize_pages",
    [
        Step(id="sum", tool="summarize", inputs={"pages": "pages"}, depends_on="nope"),
        Step(id="pub", tool="publish", depends_on="sum", retry={"max_attempts": 2}),
    ],
    description="Summarize and publish.",
)
FIXED_SUB = SUB.model_copy(
    update={
        "steps": (
            Step(id="sum", tool="summarize", inputs={"pages": "pages"}),
            Step(id="pub", tool="publish", depends_on="sum", retry={"max_attempts": 2}),
        )
    }
)
CALLER = DAGFlow(
    "research",
    [
        Step(id="search", tool="search", inputs={"query": "question"}),
        Step(
            id="summarize", flow="summarize_pages", inputs={"pages": "results"}, depends_on="search"
        ),
    ],
    description="Research a question.",
)


def _codes(report: LintReport, path: str | None = None) -> list[str]:
    return [d.code for d in report.diagnostics if path is None or d.path == path]


def test_the_tool_free_set_extends_the_registry_set() -> None:
    assert _TOOL_FREE <= TOOL_FREE_CODES <= set(CODES)


def test_without_tools_only_checks_that_need_none_run_and_the_others_are_listed() -> None:
    flow = DAGFlow(
        "f",
        [Step(id="a", tool="search"), Step(id="b", tool="nothere", depends_on="x", when="False")],
    )
    report = lint_loaded([("f.yaml", flow)])
    assert _codes(report) == ["DW102", "DW401", "DW404"]
    assert report.skipped == tuple(c for c in CODES if c not in TOOL_FREE_CODES)
    assert "DW104" in report.skipped and "DW102" not in report.skipped
    assert report.exit_code == 1
    assert report.to_text().endswith(
        f"Skipped checks that need tools ({', '.join(report.skipped)}): "
        "pass --tools MODULE or --tools-manifest FILE."
    )


def test_with_tools_every_check_runs_and_nothing_is_skipped() -> None:
    flow = DAGFlow(
        "f",
        [
            Step(id="a", tool="search", inputs={"query": "q"}),
            Step(id="b", tool="summarize", inputs={"pages": "results"}, depends_on="a"),
            Step(id="c", tool="nothere", depends_on="b"),
        ],
        description="d",
    )
    report = lint_loaded([("f.yaml", flow)], tools=TOOLS)
    assert _codes(report) == ["DW104", "DW202"]
    assert report.skipped == ()
    assert "Skipped" not in report.to_text()
    # An empty tool set is tools given: every step's tool is unknown.
    assert "DW104" in _codes(lint_loaded([("f.yaml", flow)], tools=[]))
    (unknown,) = (d for d in report.diagnostics if d.code == "DW104")
    assert unknown.hint == (
        "known: publish, search, summarize; import the module that defines it (--tools MODULE), "
        "or export it into the manifest (--tools-manifest FILE)"
    )


def test_a_subflow_finding_is_reported_once_at_the_subflow_file() -> None:
    report = lint_loaded([("research.yaml", CALLER), ("sub.yaml", SUB)], tools=TOOLS)
    assert _codes(report, "research.yaml") == []
    assert _codes(report, "sub.yaml") == ["DW102", "DW402", "DW403"]
    assert report.exit_code == 1


def test_a_subflow_warning_is_not_repeated_through_its_caller() -> None:
    report = lint_loaded([("research.yaml", CALLER), ("sub.yaml", FIXED_SUB)], tools=TOOLS)
    assert [(d.path, d.code, d.severity) for d in report.diagnostics] == [
        ("sub.yaml", "DW402", "warning"),
        ("sub.yaml", "DW403", "warning"),
    ]
    assert report.exit_code == 0
    strict = lint_loaded(
        [("research.yaml", CALLER), ("sub.yaml", FIXED_SUB)], tools=TOOLS, strict=True
    )
    assert [(d.path, d.code, d.severity) for d in strict.diagnostics] == [
        ("sub.yaml", "DW402", "error"),
        ("sub.yaml", "DW403", "error"),
    ]
    assert strict.exit_code == 1


def test_the_callers_own_findings_about_a_call_stay() -> None:
    caller = CALLER.model_copy(
        update={
            "steps": (
                *CALLER.steps[:1],
                Step(id="summarize", flow="summarize_pages", inputs={"bogus": "results"}),
            )
        }
    )
    report = lint_loaded([("research.yaml", caller), ("sub.yaml", FIXED_SUB)], tools=TOOLS)
    assert _codes(report, "research.yaml") == ["DW205"]


def test_a_call_cycle_is_reported_at_each_file_of_it() -> None:
    ping = Flow("ping", [Step(flow="pong")], description="Calls pong.")
    pong = Flow("pong", [Step(flow="ping")], description="Calls ping.")
    report = lint_loaded([("ping.yaml", ping), ("pong.yaml", pong)])
    assert [(d.path, d.code) for d in report.diagnostics] == [
        ("ping.yaml", "DW108"),
        ("pong.yaml", "DW108"),
    ]
    assert "ping -> pong -> ping" in report.diagnostics[0].message


def test_an_unknown_subflow_asks_for_its_file() -> None:
    report = lint_loaded([("research.yaml", CALLER)])
    (found,) = report.diagnostics
    assert found.code == "DW105"
    assert "lint the file that defines the sub-flow together with this one" in (found.hint or "")


def test_two_files_defining_one_flow_differently_make_a_file_error() -> None:
    other = FIXED_SUB.model_copy(update={"steps": FIXED_SUB.steps[:1]})
    report = lint_loaded([("a.yaml", FIXED_SUB), ("b.yaml", other)], tools=TOOLS)
    (error,) = report.file_errors
    assert error.path == "b.yaml"
    assert "also defined, differently, in a.yaml" in error.message
    assert report.exit_code == 2
    assert _codes(report, "a.yaml") == ["DW402", "DW403"]


def test_file_errors_make_exit_code_2_and_the_other_files_are_still_linted() -> None:
    broken = FlowFileError("unknown key 'stpes'", path="bad.yaml", line=3, col=1)
    flow = DAGFlow("f", [Step(id="a", tool="search", depends_on="x")])
    report = lint_loaded([("f.yaml", flow)], file_errors=[broken], files=["bad.yaml", "f.yaml"])
    assert report.file_errors == (broken,)
    assert _codes(report) == ["DW102", "DW404"]
    assert report.exit_code == 2


def test_select_and_ignore_take_codes_and_prefixes_and_ignore_wins() -> None:
    flow = DAGFlow(
        "f",
        [
            Step(id="a", tool="search", inputs={"query": "q"}),
            Step(id="c", tool="publish", depends_on=["a", "x"], retry={"max_attempts": 2}),
        ],
    )
    loaded = [("f.yaml", flow)]
    assert _codes(lint_loaded(loaded, tools=TOOLS)) == ["DW102", "DW402", "DW403", "DW404"]
    assert _codes(lint_loaded(loaded, tools=TOOLS, select=["DW4"])) == ["DW402", "DW403", "DW404"]
    assert _codes(lint_loaded(loaded, tools=TOOLS, select=["dw4"], ignore=["DW403"])) == [
        "DW402",
        "DW404",
    ]
    assert _codes(lint_loaded(loaded, tools=TOOLS, select=["DW402"], ignore=["DW4"])) == []
    assert _codes(lint_loaded(loaded, tools=TOOLS, ignore=["DW1,DW404"])) == ["DW402", "DW403"]
    # What is not selected is not said to be skipped either.
    assert lint_loaded(loaded, select=["DW1", "DW20"]).skipped == tuple(
        c for c in CODES if c.startswith(("DW1", "DW20")) and c not in TOOL_FREE_CODES
    )


@pytest.mark.parametrize(
    ("selector", "says"),
    [("DW999", "did you mean"), ("E501", "unknown diagnostic code or prefix 'E501'")],
)
def test_an_unknown_selector_is_a_usage_error(selector: str, says: str) -> None:
    with pytest.raises(UsageError) as info:
        lint_loaded([], ignore=[selector])
    assert says in f"{info.value.message} {info.value.hint}"
    assert info.value.message.startswith("ignore: ")


def test_parse_codes_normalizes_and_deduplicates() -> None:
    assert parse_codes(["dw2, DW301", "DW2"]) == ("DW2", "DW301")
    assert parse_codes("DW1 DW4") == ("DW1", "DW4")
    with pytest.raises(UsageError, match="'DW109'"):
        parse_codes(["DW19"[:3] + "09x"])


def test_strict_makes_warnings_errors_and_leaves_infos() -> None:
    flow = DAGFlow("f", [Step(id="a", tool="search", when="False")])
    loose = lint_loaded([("f.yaml", flow)])
    assert [(d.code, d.severity) for d in loose.diagnostics] == [
        ("DW401", "warning"),
        ("DW404", "info"),
    ]
    assert loose.exit_code == 0
    strict = lint_loaded([("f.yaml", flow)], strict=True)
    assert [(d.code, d.severity) for d in strict.diagnostics] == [
        ("DW401", "error"),
        ("DW404", "info"),
    ]
    assert strict.exit_code == 1


def test_findings_are_sorted_by_path_then_position_then_code() -> None:
    a = DAGFlow("a", [Step(id="s", tool="t", depends_on="x")])
    b = MapStep(id="m", over="xs", tool="t", item="x", results="r", errors="r", max_concurrency=0)
    report = lint_loaded([("z.yaml", a), ("b.yaml", DAGFlow("b", [b]))])
    assert [(d.path, d.code) for d in report.diagnostics] == [
        ("b.yaml", "DW107"),
        ("b.yaml", "DW112"),
        ("b.yaml", "DW404"),
        ("z.yaml", "DW102"),
        ("z.yaml", "DW404"),
    ]


# ---- files ----

RESEARCH = """\
format_version: 1
kind: dag
name: research
description: Answer a question.
steps:
  - id: search
    tool: search
    inputs: {query: question}
  - id: sum
    tool: summarize
    inputs: {pages: results}
    depends_on: [search]
  - id: publish
    flow: publish_summary
    depends_on: [sum]
"""

PUBLISH = """\
format_version: 1
kind: dag
name: publish_summary
description: Publish a summary.
steps:
  - id: pub
    tool: publish
    retry: {max_attempts: 2}
"""


def _files(tmp_path: Path, **texts: str) -> list[Path]:
    paths = []
    for name, text in texts.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def test_files_given_together_resolve_each_others_subflows(tmp_path: Path) -> None:
    research, publish = _files(tmp_path, research=RESEARCH, publish=PUBLISH)
    report = lint_files([research, publish], tools=TOOLS)
    assert report.files == (str(research), str(publish))
    # research feeds SearchResults (no text) to summarize, which wants Pages (DW202).
    # The sub-flow's warnings are reported at its own file only.
    assert [(d.path, d.line, d.col, d.code) for d in report.diagnostics] == [
        (str(publish), 7, 5, "DW403"),
        (str(publish), 8, 5, "DW402"),
        (str(research), 11, 14, "DW202"),
    ]
    alone = lint_files([research], tools=TOOLS)
    assert [d.code for d in alone.diagnostics] == ["DW202", "DW105"]


def test_a_file_that_cannot_be_read_does_not_stop_the_others(tmp_path: Path) -> None:
    (research,) = _files(tmp_path, research=RESEARCH.replace("steps:", "stpes:"))
    (publish,) = _files(tmp_path, publish=PUBLISH)
    missing = tmp_path / "missing.yaml"
    report = lint_files([research, missing, publish])
    assert [(e.path, e.line) for e in report.file_errors] == [
        (str(missing), None),
        (str(research), 5),
    ]
    assert report.diagnostics == ()
    assert report.exit_code == 2


def test_a_bad_selector_is_refused_before_any_file_is_read(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="did you mean 'DW103'"):
        lint_files([tmp_path / "missing.yaml"], select=["DW1O3"])


def test_linting_against_a_manifest_reports_what_the_tools_do(tmp_path: Path) -> None:
    paths = _files(tmp_path, research=RESEARCH, publish=PUBLISH)
    manifest = write_tool_manifest(TOOLS, tmp_path / "tools.json")
    with_tools = lint_files(paths, tools=TOOLS)
    with_manifest = lint_files(paths, tools=load_tool_manifest(manifest))
    assert with_manifest.diagnostics == with_tools.diagnostics
    assert with_manifest.to_text() == with_tools.to_text()
    assert {d.code for d in with_tools.diagnostics} >= {"DW202", "DW402"}


def test_a_directory_stands_for_the_flow_files_under_it(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    (flows / "nested").mkdir(parents=True)
    (flows / ".hidden").mkdir()
    (flows / "research.yaml").write_text(RESEARCH, encoding="utf-8")
    (flows / "nested" / "publish.yml").write_text(PUBLISH, encoding="utf-8")
    (flows / ".hidden" / "x.yaml").write_text("not: a flow", encoding="utf-8")
    (flows / "notes.md").write_text("# notes", encoding="utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    report = lint_files([flows, flows / "research.yaml", empty], tools=TOOLS)
    assert report.files == (str(flows / "nested" / "publish.yml"), str(flows / "research.yaml"))
    assert [d.code for d in report.diagnostics] == ["DW403", "DW402", "DW202"]
    (error,) = report.file_errors
    assert (error.path, error.message) == (
        str(empty),
        "no flow files (.yaml, .yml, .json) in this directory",
    )


def test_the_reference_lists_the_checks_run_without_tools() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs/reference/diagnostics.md").read_text(
        encoding="utf-8"
    )
    listed = doc.split("**Without tools** only the checks whose verdict needs no tool run:")[1]
    listed = listed.split(".")[0]
    assert set(re.findall(r"DW\d{3}", listed)) == TOOL_FREE_CODES


def test_render_and_write_give_each_format(tmp_path: Path) -> None:
    flow = tmp_path / "broken.flow.yaml"
    flow.write_text(
        "format_version: 1\nkind: dag\nname: b\nsteps:\n  - id: a\n    tool: t\n"
        "    depends_on: [missing]\n",
        encoding="utf-8",
    )
    report = lint_files([flow])
    for form, method in [("text", report.to_text), ("json", report.to_json),
                         ("sarif", report.to_sarif), ("github", report.to_github)]:  # fmt: skip
        assert report.render(form) == method()
        target = tmp_path / f"report.{form}"
        report.write(target, format=form)
        assert target.read_text(encoding="utf-8") == method() + "\n"
    with pytest.raises(UsageError, match="unknown lint report format 'xml'") as info:
        report.render("xml")
    assert info.value.hint == "use one of: text, json, sarif, github"
    with pytest.raises(FileNotFoundError) as missing:
        report.write(tmp_path / "nowhere" / "r.txt")
    assert missing.value.filename == str(tmp_path / "nowhere" / "r.txt")

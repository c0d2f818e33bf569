"""Flow files that pin sub-flow versions: loading, dumping, the schema, lint and
``dagwright run``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from dagwright import FlowFileError, dump_flow, flow_json_schema, load_flow
from dagwright.io import lint_files
from tests.cli.conftest import Cli
from tests.cli.flows import write

pytestmark = pytest.mark.timeout(120)

TOOLS = ("--tools", "tests.cli.cli_tools")


def branches(version: str, second: str = "square") -> str:
    """The ``branches`` sub-flow; version 2 doubles twice instead of squaring."""
    return f"""\
format_version: 1
kind: dag
name: branches
version: "{version}"
description: Two branches.
steps:
  - id: double
    tool: double
  - id: square
    tool: {second}
"""


def outer(reference: str, name: str = "outer") -> str:
    return f"""\
format_version: 1
kind: flow
name: {name}
version: "1"
description: Adds the branches.
steps:
  - flow: {reference}
  - tool: add
"""


SQUARE_AS_DOUBLE = """\
from pydantic import BaseModel
from dagwright import tool


class Squared(BaseModel):
    squared: int


@tool(name="square_twice")
def square_twice(n: int) -> Squared:
    '''Stands in for square in version 2: four times n.'''
    return Squared(squared=4 * n)
"""


def test_a_pinned_sub_flow_in_a_file_loads_dumps_and_defaults_its_id(tmp_path: Path) -> None:
    flow = load_flow(outer("branches@2"))
    assert flow.steps[0].flow == "branches@2"
    assert flow.steps[0].target == "branches"
    assert load_flow(dump_flow(flow)) == flow
    validator = Draft202012Validator(flow_json_schema())
    data = json.loads(dump_flow(flow, format="json"))
    assert list(validator.iter_errors(data)) == []


@pytest.mark.parametrize(
    ("reference", "says"),
    [("branches@", "nothing after '@'"), ("branches@two", "not a PEP 440 version")],
)
def test_a_malformed_pin_in_a_file_is_a_positioned_file_error(reference: str, says: str) -> None:
    with pytest.raises(FlowFileError, match=says) as caught:
        load_flow(outer(reference))
    assert (caught.value.line, caught.value.col) == (7, 11)
    data = json.loads(json.dumps({**_plain(outer("branches@2")), "steps": [{"flow": reference}]}))
    assert list(Draft202012Validator(flow_json_schema()).iter_errors(data)), "the schema agrees"


def _plain(text: str) -> dict[str, object]:
    return json.loads(dump_flow(load_flow(text), format="json"))  # type: ignore[no-any-return]


def test_lint_resolves_pins_among_the_files_given_together(tmp_path: Path) -> None:
    one = write(tmp_path, "branches-1.flow.yaml", branches("1"))
    two = write(tmp_path, "branches-2.flow.yaml", branches("2.0", "double"))
    good = write(tmp_path, "good.flow.yaml", outer("branches@2"))
    bad = write(tmp_path, "bad.flow.yaml", outer("branches@3", name="other"))
    report = lint_files([one, two, good, bad])
    assert [(d.code, d.path, d.line) for d in report.diagnostics] == [("DW105", bad, 7)]
    (found,) = report.diagnostics
    assert "version '3', which is not registered" in found.message
    assert "1 (active), 2.0 (active)" in (found.hint or "")
    assert report.exit_code == 1
    assert lint_files([one, two, good]).exit_code == 0


def test_lint_reports_a_version_defined_twice_under_equal_spellings(tmp_path: Path) -> None:
    one = write(tmp_path, "a.flow.yaml", branches("1"))
    again = write(tmp_path, "b.flow.yaml", branches("1.0", "double"))
    same = write(tmp_path, "c.flow.yaml", branches("1.0.0"))
    report = lint_files([one, again, same])
    assert [(e.path, e.code) for e in report.file_errors] == [(again, "DW-E018")]
    assert f"also defined, differently, in {one}" in report.file_errors[0].message


def test_lint_reports_a_version_the_registry_refuses_as_a_file_error(tmp_path: Path) -> None:
    path = write(tmp_path, "odd.flow.yaml", branches("latest"))
    report = lint_files([path])
    assert [(e.path, e.line) for e in report.file_errors] == [(path, 4)], "at `version`"
    assert "not a PEP 440 version" in report.file_errors[0].message
    assert report.exit_code == 2


def test_dagwright_run_refuses_a_version_that_is_not_pep_440_at_its_file(
    cli: Cli, tmp_path: Path
) -> None:
    path = write(tmp_path, "odd.flow.yaml", branches("latest"))
    code, out, err = cli("run", path, *TOOLS, "--input", '{"n": 3}')
    assert (code, out) == (2, "")
    assert err.startswith(f"dagwright: error: {path}:4:1: [DW-E018] flow 'branches' version")
    assert "PEP 440" in err


def test_dagwright_run_runs_the_pinned_sub_flow_version(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "twice_tools.py").write_text(SQUARE_AS_DOUBLE, encoding="utf-8")
    one = write(tmp_path, "branches-1.flow.yaml", branches("1"))
    two = write(tmp_path, "branches-2.flow.yaml", branches("2", "square_twice"))
    store = str(tmp_path / "runs.sqlite")
    for reference, total in (("branches@1", 2 * 3 + 3 * 3), ("branches@2", 2 * 3 + 4 * 3)):
        main = write(tmp_path, "outer.flow.yaml", outer(reference))
        code, out, err = cli(
            "run", main, one, two, *TOOLS, "--tools", "twice_tools", "--input", '{"n": 3}',
            "--store", store, "--json",
        )  # fmt: skip
        assert code == 0, err
        result = json.loads(out)
        assert result["output"]["total"] == total, reference
        assert [s["step_id"] for s in result["steps"]] == ["branches", "add"]
        assert result["steps"][0]["flow"] == reference
    # A bare name runs the latest active version: 2.
    main = write(tmp_path, "outer.flow.yaml", outer("branches"))
    code, out, err = cli(
        "run", main, one, two, *TOOLS, "--tools", "twice_tools", "--input", '{"n": 3}',
        "--store", store, "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["output"]["total"] == 2 * 3 + 4 * 3


def test_dagwright_run_names_a_pin_that_no_file_defines(cli: Cli, tmp_path: Path) -> None:
    one = write(tmp_path, "branches-1.flow.yaml", branches("1"))
    main = write(tmp_path, "outer.flow.yaml", outer("branches@2"))
    code, out, err = cli(
        "run", main, one, *TOOLS, "--input", '{"n": 3}', "--store", str(tmp_path / "r.sqlite")
    )
    assert (code, out) == (2, "")
    assert "DW105" in err and "1 (active)" in err, err

"""``dagwright lint`` and ``dagwright graph``: thin wrappers with ruff-like exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, run_script
from tests.cli.flows import FAILING, SUMS, write

TOOLS = ("--tools", "tests.cli.cli_tools")
BROKEN = SUMS.replace("[double, square]", "[double, sqare]")


def test_lint_exit_codes(cli: Cli, tmp_path: Path) -> None:
    clean = write(tmp_path, "sums.flow.yaml", SUMS)
    warned = write(tmp_path, "failing.flow.yaml", FAILING.replace("name: sums", "name: failing"))
    broken = write(tmp_path, "broken.flow.yaml", BROKEN.replace("name: sums", "name: broken"))
    assert cli("lint", clean, *TOOLS)[0] == 0
    code, out, _ = cli("lint", warned, *TOOLS)
    assert code == 0
    assert "DW301" in out
    assert cli("lint", warned, *TOOLS, "--strict")[0] == 1
    code, out, _ = cli("lint", broken)
    assert code == 1
    assert f"{broken}:12:26: DW102 depends on unknown step 'sqare'" in out
    assert "Skipped checks that need tools" in out
    code, out, _ = cli("lint", clean, str(tmp_path / "missing.flow.yaml"))
    assert code == 2
    assert "missing.flow.yaml" in out


def test_lint_formats_select_and_a_manifest(cli: Cli, tmp_path: Path) -> None:
    warned = write(tmp_path, "failing.flow.yaml", FAILING)
    code, out, _ = cli("lint", warned, *TOOLS, "--format", "json")
    assert code == 0
    assert {item["code"] for item in json.loads(out)} == {"DW301", "DW404"}
    code, out, _ = cli("lint", warned, *TOOLS, "--format", "sarif", "--select", "DW3")
    runs = json.loads(out)["runs"]
    assert [r["ruleId"] for r in runs[0]["results"]] == ["DW301"]
    code, out, _ = cli("lint", warned, *TOOLS, "--format", "github", "--ignore", "DW404")
    assert out.startswith("::warning file=")
    manifest = tmp_path / "tools.json"
    assert cli("tools", "export", "tests.cli.cli_tools", "-o", str(manifest))[0] == 0
    code, by_manifest, _ = cli("lint", warned, "--tools-manifest", str(manifest))
    assert by_manifest == cli("lint", warned, *TOOLS)[1]


def test_lint_refuses_an_unknown_code_in_one_line(cli: Cli, tmp_path: Path) -> None:
    clean = write(tmp_path, "sums.flow.yaml", SUMS)
    code, out, err = cli("lint", clean, "--select", "XX9")
    assert (code, out) == (2, "")
    assert err.startswith("dagwright: error: [DW-E017] ")


@pytest.mark.timeout(120)
def test_lint_and_graph_through_the_console_script(tmp_path: Path) -> None:
    clean = write(tmp_path, "sums.flow.yaml", SUMS)
    broken = write(tmp_path, "broken.flow.yaml", BROKEN)
    assert run_script("lint", clean, *TOOLS).returncode == 0
    done = run_script("lint", broken)
    assert done.returncode == 1
    assert "Found 1 error" in done.stdout
    done = run_script("graph", clean, "--format", "dot")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('digraph "sums" {')
    done = run_script("graph", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2
    assert done.stderr.startswith("dagwright: error: ")


def test_graph_draws_the_flow_and_colours_a_run(cli: Cli, tmp_path: Path) -> None:
    flow = write(tmp_path, "failing.flow.yaml", FAILING)
    code, out, _ = cli("graph", flow)
    assert code == 0
    assert out.startswith("flowchart TD")
    assert "n2 --> n3" in out
    store = str(tmp_path / "s.sqlite")
    assert cli("run", flow, *TOOLS, "--input", '{"n": 2}', "--store", store,
               "--run-id", "g1")[0] == 1  # fmt: skip
    code, coloured, _ = cli("graph", flow, "--run", "g1", "--store", store)
    assert code == 0
    assert coloured != out
    assert "completed" in coloured
    assert "class n3 failed" in coloured  # publish failed: its record says so
    code, _, err = cli("graph", flow, "--run", "g1", "--store", str(tmp_path / "none.sqlite"))
    assert code == 2
    assert "[DW-E011] no checkpoint store at" in err
    code, _, err = cli("graph", flow, "--run", "zz", "--store", store)
    assert code == 2
    assert "[DW-E009]" in err


def test_lint_output_writes_the_report_to_a_file(cli: Cli, tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.flow.yaml", BROKEN)
    code, printed, _ = cli("lint", broken, "--format", "sarif")
    report = tmp_path / "reports" / "lint.sarif"
    report.parent.mkdir()
    report.write_text("an older report", encoding="utf-8")
    code, out, err = cli("lint", broken, "--format", "sarif", "--output", str(report))
    assert (code, out, err) == (1, "", "")  # the same exit code; nothing printed
    assert report.read_text(encoding="utf-8") == printed  # what stdout would show
    assert [p.name for p in report.parent.iterdir()] == ["lint.sarif"]  # no temp file left
    code, out, _ = cli("lint", broken, "--format", "github", "-o", str(report))
    assert (code, out) == (1, "")
    assert "::error file=" in report.read_text(encoding="utf-8")
    missing = tmp_path / "nowhere" / "lint.sarif"
    code, out, err = cli("lint", broken, "-o", str(missing))
    assert (code, out) == (2, "")
    assert err == f"dagwright: error: {missing}: No such file or directory\n"

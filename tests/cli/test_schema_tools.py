"""``dagwright schema`` and ``dagwright tools export``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dagwright import flow_json_schema, load_tool_manifest
from tests.cli.cli_tools import TOOLS
from tests.cli.conftest import Cli, run_script


def test_schema_prints_the_flow_file_schema(cli: Cli) -> None:
    code, out, err = cli("schema")
    assert (code, err) == (0, "")
    assert json.loads(out) == flow_json_schema()


def test_schema_through_the_console_script() -> None:
    done = run_script("schema")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["$schema"].endswith("2020-12/schema")


def test_tools_export_prints_the_manifest(cli: Cli, tmp_path: Path) -> None:
    code, out, _ = cli("tools", "export", "tests.cli.cli_tools")
    assert code == 0
    manifest = json.loads(out)
    assert sorted(entry["name"] for entry in manifest["tools"]) == sorted(t.name for t in TOOLS)
    target = tmp_path / "tools.json"
    code, said, _ = cli("tools", "export", "tests.cli.cli_tools", "-o", str(target))
    assert code == 0
    assert said.strip() == f"wrote the manifest of {len(TOOLS)} tool(s) to {target}"
    assert target.read_text(encoding="utf-8") == out  # the same bytes either way
    specs = load_tool_manifest(target)
    assert {spec.name: spec.schema_hash for spec in specs} == {t.name: t.schema_hash for t in TOOLS}


def test_tools_export_of_a_module_that_does_not_import_is_one_line(cli: Cli) -> None:
    code, out, err = cli("tools", "export", "no_such_module_anywhere")
    assert (code, out) == (2, "")
    assert err.startswith("dagwright: error: [DW-E019] cannot import tools module")
    assert "Traceback" not in err


def test_tools_export_through_the_console_script(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    done = run_script("tools", "export", "tests.cli.cli_tools", "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert json.loads(target.read_text(encoding="utf-8"))["format_version"] == 1
    done = run_script("tools", "export", "nope_nope")
    assert done.returncode == 2
    assert done.stderr.startswith("dagwright: error: [DW-E019] ")


@pytest.mark.timeout(60)
def test_a_reader_that_stops_early_gets_no_error_message() -> None:
    import subprocess

    from tests.cli.conftest import ROOT, script

    with subprocess.Popen(
        [script(), "schema"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.read(1) == b"{"
        process.stdout.close()  # as `| head -1` does
        err = process.stderr.read()
        process.wait(timeout=60)
    assert err == b""

"""docs/cli.md and the README show what the command really prints."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dagwright.cli._app import build_parser
from tests.cli.conftest import ROOT, Cli

DOC = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
QUESTION = '{"question": "How does dependency-driven scheduling keep workers busy?"}'


def test_every_command_has_a_section() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in commands:
        heading = f"## `dagwright {name}`" if name != "tools" else "## `dagwright tools export`"
        assert heading in DOC, name


def test_the_documented_digests_are_the_runs_own(cli: Cli, tmp_path: Path) -> None:
    store = str(tmp_path / "runs.sqlite")
    code, out, _ = cli("run", "examples/pipeline.flow.yaml", "examples/summarize.flow.yaml",
                       "--input", QUESTION, "--store", store, "--json")  # fmt: skip
    assert code == 0
    digest = json.loads(out)["digest"]
    assert f"digest {digest}" in DOC
    assert f"digest {digest}" in README
    inputs = json.dumps({"text": "  hello   world ", "marker_dir": str(tmp_path / "marker")})
    (tmp_path / "marker").mkdir()
    (tmp_path / "marker" / "crashed-once").write_text("", encoding="utf-8")  # no crash
    code, out, _ = cli("run", "examples/crash.flow.yaml", "--input", inputs, "--store", store,
                       "--json")  # fmt: skip
    assert code == 0
    output = json.loads(out)["output"]
    assert f'"report": "{output["report"]}"' in DOC


def test_the_documented_failed_run_shows_what_runs_show_prints(cli: Cli, tmp_path: Path) -> None:
    section = DOC.split("saved as `dead-link.flow.yaml`", 1)[1]
    flow_text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    console = section.split("```console\n", 1)[1].split("```", 1)[0]
    documented = console.split("$ dagwright runs show dead-link\n", 1)[1].splitlines()
    inputs = console.split("--input '", 1)[1].split("'\n", 1)[0]
    flow = tmp_path / "dead-link.flow.yaml"
    flow.write_text(flow_text, encoding="utf-8")
    store = str(tmp_path / "runs.sqlite")
    code, _, _ = cli("run", str(flow), "--run-id", "dead-link", "--input", inputs,
                     "--store", store, "--no-progress")  # fmt: skip
    assert code == 1
    code, out, _ = cli("runs", "show", "dead-link", "--store", store)
    assert code == 0

    def stable(lines: list[str]) -> list[str]:
        return [
            re.sub(r"\d+\.\d\ds", "N.NNs", line)
            for line in lines
            if not line.startswith(("started", "ended"))
        ]

    assert stable(out.splitlines()) == stable(documented)

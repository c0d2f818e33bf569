"""docs/cli.md and the README show what the command really prints."""

from __future__ import annotations

import json
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

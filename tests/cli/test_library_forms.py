"""What the command line prints comes from the library: ``--json`` is the result's
``to_dict()``, reading commands open stores without making them, warnings are the
compiler's diagnostics, each once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dagwright.results import ExecutionResult
from tests.cli.conftest import Cli
from tests.cli.flows import FAILING, SUMS, write

TOOLS = ("--tools", "tests.cli.cli_tools")


@pytest.mark.parametrize("text", [SUMS, FAILING], ids=["succeeded", "failed"])
def test_run_json_prints_exactly_the_results_to_dict(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    made: list[dict[str, Any]] = []
    original = ExecutionResult.to_dict

    def spy(self: ExecutionResult) -> dict[str, Any]:
        data = original(self)
        made.append(data)
        return data

    monkeypatch.setattr(ExecutionResult, "to_dict", spy)
    flow = write(tmp_path, "f.flow.yaml", text)
    store = str(tmp_path / "runs.sqlite")
    code, out, _ = cli("run", flow, *TOOLS, "--input", '{"n": 3}', "--store", store, "--json")
    assert code == (0 if text == SUMS else 1)
    assert len(made) == 1
    assert json.loads(out) == made[0]
    assert out == json.dumps(made[0], indent=2, ensure_ascii=False) + "\n"

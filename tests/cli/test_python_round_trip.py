"""A flow written with the Python API, dumped to files and run by `dagwright run` gives
the digest of the same flow run from Python: the file form loses nothing that matters."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from dagwright import (
    DAGFlow,
    Flow,
    FlowExecutor,
    FlowRegistry,
    Literal,
    MapStep,
    RetryPolicy,
    Step,
    dump_flow,
)
from tests.cli.cli_tools import TOOLS
from tests.cli.conftest import run_script


class Numbers(BaseModel):
    n: int
    items: list[int] = [1, 2, 3]


class Branches(BaseModel):
    doubled: int
    squared: int


def _flows() -> tuple[DAGFlow, Flow]:
    branches = Flow(
        "branches",
        [Step(tool="double"), Step(tool="square", inputs={"n": Literal(5)})],
        output_schema=Branches,
        description="Both branches of a number.",
    )
    outer = DAGFlow(
        "outer",
        [
            MapStep(
                id="each", over="items", item="n", tool="square", results="squares",
                max_concurrency=2, error_policy="collect", errors="failures",
            ),
            Step(id="branches", flow="branches", retry=RetryPolicy(max_attempts=2)),
            Step(id="add", tool="add", depends_on=("branches",), when="n > 0"),
            Step(id="noted", tool="leave", depends_on=("add",), when="n > 100"),
        ],
        version="3",
        input_schema=Numbers,
        description="Squares, branches and their sum.",
    )  # fmt: skip
    return outer, branches


def test_a_dumped_python_flow_runs_from_its_files_with_the_same_digest(tmp_path: Path) -> None:
    outer, branches = _flows()
    with FlowExecutor(TOOLS, registry=FlowRegistry([branches])) as ex:
        expected = ex.run(outer, {"n": 3})
    assert expected.success, expected.error
    outer_file = tmp_path / "outer.flow.yaml"
    branches_file = tmp_path / "branches.flow.json"
    dump_flow(outer, outer_file)
    dump_flow(branches, branches_file, format="json")
    done = run_script(
        "run", str(outer_file), str(branches_file), "--tools", "tests.cli.cli_tools",
        "--input", json.dumps({"n": 3}), "--store", str(tmp_path / "runs.sqlite"), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["digest"] == expected.digest
    assert printed["output"] == json.loads(json.dumps(expected.output))
    assert [s["status"] for s in printed["steps"]] == [s.status for s in expected.steps]

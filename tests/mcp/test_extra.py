"""The ``mcp`` extra: ``import dagwright`` never loads the SDK, and without the SDK both
``dagwright.mcp`` and ``dagwright serve`` say which extra to install."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT, run_script

BLOCK_SDK = "import sys; sys.modules['mcp'] = None\n"


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(60)
def test_import_dagwright_and_its_cli_load_no_mcp_module() -> None:
    done = python(
        "import sys, json\n"
        "import dagwright, dagwright.io, dagwright.checkpoint\n"
        "from dagwright.cli._app import build_parser\n"
        "build_parser()\n"
        "heavy = ('mcp', 'mcp_types', 'dagwright.mcp', 'uvicorn', 'starlette', 'anyio')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy\n"
        "    or m.startswith('dagwright.mcp'))))\n"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


@pytest.mark.timeout(60)
def test_without_the_sdk_importing_dagwright_mcp_names_the_extra() -> None:
    done = python(
        BLOCK_SDK + "import json\n"
        "from dagwright import IntegrationUnavailableError\n"
        "try:\n"
        "    import dagwright.mcp\n"
        "except ImportError as error:\n"
        "    print(json.dumps([isinstance(error, IntegrationUnavailableError), error.code,\n"
        "        error.hint, type(error.__cause__).__name__]))\n"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        True,
        "DW-E021",
        "pip install 'dagwright[mcp]'",
        "ModuleNotFoundError",
    ]


@pytest.mark.timeout(60)
def test_without_the_sdk_dagwright_serve_exits_2_with_the_hint() -> None:
    done = python(
        BLOCK_SDK + "from dagwright.cli._app import main\n"
        "sys.exit(main(['serve', 'tests/mcp/flows/fetch.flow.yaml', '--store', 'x']))\n"
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "[DW-E021]" in done.stderr
    assert "hint: pip install 'dagwright[mcp]'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["serve", "tests/mcp/flows/missing.flow.yaml"], "[DW-E018]"),
        (["serve", "tests/mcp/flows/fetch.flow.yaml", "--max-concurrency", "0"], "at least 1"),
        (["serve", "tests/mcp/flows/fetch.flow.yaml", "--port", "70000"], "--port"),
        (["serve", "tests/mcp/flows/fetch.flow.yaml", "--transport", "sse"], "invalid choice"),
    ],
)
def test_serve_refuses_unusable_input_with_exit_2(argv: list[str], says: str) -> None:
    done = run_script(*argv)
    assert done.returncode == 2
    assert says in done.stderr
    assert done.stdout == ""


@pytest.mark.timeout(60)
def test_serve_refuses_a_flow_that_does_not_compile(tmp_path: Path) -> None:
    flow = tmp_path / "broken.flow.yaml"
    flow.write_text(
        "format_version: 1\nkind: flow\nname: broken\nversion: '1'\nsteps:\n  - tool: nowhere\n",
        encoding="utf-8",
    )
    done = run_script("serve", str(flow), "--store", str(tmp_path / "runs.sqlite"))
    assert done.returncode == 2
    assert "[DW-E002] flow 'broken' has 1 error(s):" in done.stderr
    assert done.stdout == ""

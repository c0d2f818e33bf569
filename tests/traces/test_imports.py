"""``import dagwright`` leaves the trace readers unloaded; they load nothing heavy."""

from __future__ import annotations

import subprocess
import sys


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_import_dagwright_does_not_import_the_traces_package() -> None:
    assert run("import sys, dagwright; print('dagwright.traces' in sys.modules)") == "False"


def test_the_traces_package_imports_no_optional_dependency() -> None:
    loaded = run(
        "import sys, dagwright.traces; print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'yaml', 'jsonschema', 'rich', 'networkx', 'mcp', 'dagwright.cli'}))"
    )
    assert loaded == "[]"
    assert run("import sys, dagwright.traces; print('dagwright.cli' in sys.modules)") == "False"

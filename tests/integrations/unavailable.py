"""Helpers that prove an integration's import contract in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter at the repository root (bounded)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def import_without(module: str, blocked: str) -> subprocess.CompletedProcess[str]:
    """Import ``module`` with the framework package ``blocked`` made unimportable; print
    the error's type, code and hint."""
    return run_python(
        "import sys\n"
        f"sys.modules[{blocked!r}] = None\n"
        "try:\n"
        f"    import {module}\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc.code, exc.hint, sep='|')\n"
        "else:\n"
        "    print('imported')\n"
    )


def modules_after_import(module: str) -> set[str]:
    """The top-level packages loaded after importing ``module`` in a fresh interpreter."""
    done = run_python(f"import sys, {module}\nprint(' '.join(sorted(sys.modules)))")
    assert done.returncode == 0, done.stderr
    return {name.split(".")[0] for name in done.stdout.split()}

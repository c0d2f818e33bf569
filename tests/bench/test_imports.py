"""Profiling loads on first use: ``import dagwright`` does not import it."""

from __future__ import annotations

import subprocess
import sys

import dagwright
import dagwright.profiling


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_import_dagwright_does_not_load_profiling() -> None:
    assert run("import sys, dagwright; print('dagwright.profiling' in sys.modules)") == "False"
    loaded = (
        "import sys, dagwright; dagwright.BenchReport; print('dagwright.profiling' in sys.modules)"
    )
    assert run(loaded) == "True"


def test_the_top_level_names_are_the_profiling_ones() -> None:
    # importing the package never hides the function behind a module of the same name
    assert callable(dagwright.bench)
    assert dagwright.BenchReport is dagwright.profiling.BenchReport
    assert dagwright.TimelineBar is dagwright.profiling.TimelineBar

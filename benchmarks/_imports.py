"""Import time in fresh interpreters, as a ``compare.py`` case.

Each sample starts a new interpreter that imports one module and reports how long the
import took (``time.perf_counter`` around it) and how many modules it loaded. Bytecode is
compiled into a private ``PYTHONPYCACHEPREFIX`` shared by the group's cases, by the
answer check that runs before any sample, so every sample sees what a user sees after
the first import. ``PYTHONDONTWRITEBYTECODE`` is cleared for the children.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from _sampling import BenchmarkError, Case, Env

_ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import sys, time
before = set(sys.modules)
start = time.perf_counter()
import {module}
elapsed = time.perf_counter() - start
print(elapsed, len(set(sys.modules) - before))
"""


def _pycache(env: Env) -> str:
    def make() -> str:
        folder = env.stack.enter_context(tempfile.TemporaryDirectory(prefix="dw-pycache-"))
        return str(folder)

    return env.shared("pycache", make)


def _probe(module: str, env: Env) -> tuple[float, int]:
    child = dict(os.environ)
    child.pop("PYTHONDONTWRITEBYTECODE", None)
    child["PYTHONPYCACHEPREFIX"] = _pycache(env)
    child["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), child.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)],
        env=child,
        cwd=_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise BenchmarkError(f"import {module} failed: {done.stderr.strip()[-500:]}")
    seconds, modules = done.stdout.split()
    counts: dict[str, int] = env.shared("modules loaded", dict)
    counts[module] = int(modules)
    return float(seconds), int(modules)


def import_case(module: str, env: Env) -> Case:
    """``import module`` in a fresh interpreter; the answer is that it imported."""
    return Case(
        partial(_probe, module, env),
        answer=lambda measured: measured[1] > 0,
        timer=lambda measured: measured[0],
        max_number=1,
    )

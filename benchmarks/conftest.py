"""pytest setup for the benchmarks (run them with ``make bench``).

The project's pytest configuration collects ``tests/`` only, with ``test_*.py`` files and
``--benchmark-disable``; ``make bench`` runs ``pytest benchmarks --benchmark-enable
--benchmark-only``. This file makes that run collect the ``bench_*.py`` modules here and
import the working tree's ``dagwright`` even when it is not installed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(1, str(_ROOT))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect ``bench_*.py`` files as test modules.

    A file named on the command line is collected by pytest itself already; collecting
    it here too would run every benchmark twice.
    """
    if parent.session.isinitpath(file_path):
        return None
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
        return module
    return None


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for every async-lane run of a benchmark module."""
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()

"""Fixtures of the framework-integration tests: an executor over the local tools."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dagwright import FlowExecutor
from tests.integrations.flows import executor


@pytest.fixture
def ex(tmp_path: Path) -> Iterator[FlowExecutor]:
    """An executor journaling into a fresh SQLite store, closed after the test."""
    with executor(tmp_path / "runs.db") as ex:
        yield ex

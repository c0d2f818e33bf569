"""Worked examples in the concept docs run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs" / "concepts"


def runnable_blocks(path: Path) -> list[str]:
    """Python blocks that are whole programs (they import dagwright)."""
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)
    return [b for b in blocks if "from dagwright import" in b]


@pytest.mark.parametrize("page", ["map.md"])
def test_worked_examples_run(page: str, tmp_path: Path) -> None:
    blocks = runnable_blocks(DOCS / page)
    assert blocks, f"{page} has no runnable example"
    for number, block in enumerate(blocks):
        script = tmp_path / f"example_{number}.py"
        script.write_text(block, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"{page} example {number} failed:\n{done.stderr}"

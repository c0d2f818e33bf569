"""Every Python block of the README and the docs runs as written, pasted into a file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# An opening fence may be indented (a block inside a list item); its closing fence
# has the same indentation, which is stripped from every line of the block.
FENCE = re.compile(r"^(?P<indent>[ \t]*)```python[ \t]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)


def python_blocks(page: Path) -> list[str]:
    """The page's ```python blocks, in order, dedented by their fence's indentation."""
    blocks = []
    for match in FENCE.finditer(page.read_text(encoding="utf-8")):
        indent = len(match["indent"])
        blocks.append("".join(line[indent:] for line in match["body"].splitlines(True)))
    return blocks


BLOCKS = [
    pytest.param(page, number, block, id=f"{page.relative_to(ROOT)}#{number}")
    for page in PAGES
    for number, block in enumerate(python_blocks(page), start=1)
]


def test_the_docs_have_python_blocks() -> None:
    assert len(BLOCKS) >= 7, "the extraction lost blocks"


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("page", "number", "block"), BLOCKS)
def test_block_runs(page: Path, number: int, block: str, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(block, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    where = f"{page.relative_to(ROOT)}, python block {number}"
    assert done.returncode == 0, f"{where} failed:\n{done.stderr}"

"""Tools of ``examples/crash.flow.yaml``: a flow whose second step kills its process once.

``fragile`` ends the process with ``os._exit(1)`` (no clean-up, no exception: what a
crash or a killed machine looks like) the first time it runs for a marker directory,
and remembers that in a marker file there. Run the flow with a checkpointer, see it
die, then resume the run: ``prepare`` is not run again (its result is in the journal)
and ``fragile`` now succeeds, so the resumed run ends like an uninterrupted one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dagwright import tool

MARKER = "crashed-once"
"""The file ``fragile`` leaves in the marker directory before it crashes."""


def _mark(directory: Path) -> None:
    """Create the marker atomically: it exists in full or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{MARKER}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("fragile crashed here once\n")
    os.replace(temp, directory / MARKER)


@tool(output="cleaned")
def prepare(text: str) -> str:
    """Normalise the text: trimmed, single spaces."""
    return " ".join(text.split())


@tool(output="shouted")
def fragile(cleaned: str, marker_dir: str) -> str:
    """Upper-case the text, after crashing the process on its first call for ``marker_dir``."""
    directory = Path(marker_dir)
    if not (directory / MARKER).exists():
        _mark(directory)
        os._exit(1)
    return cleaned.upper()


@tool(output="report")
def finish(shouted: str) -> str:
    """Wrap up."""
    return f"done: {shouted}"


TOOLS = [prepare, fragile, finish]
"""Every tool the crash flow calls."""

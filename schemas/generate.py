"""Regenerate ``schemas/flow.schema.json`` from ``dagwright.flow_json_schema()``.

Run from anywhere: ``python schemas/generate.py`` (``--output -`` prints it instead).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from dagwright.io.schema import main  # noqa: E402

if __name__ == "__main__":
    arguments = sys.argv[1:] or ["--output", str(HERE / "flow.schema.json")]
    if arguments == ["--output", "-"]:
        arguments = []
    raise SystemExit(main(arguments))

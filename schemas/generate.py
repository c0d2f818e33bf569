"""Regenerate the JSON Schemas in ``schemas/`` from the code that defines them.

``python schemas/generate.py`` rewrites ``flow.schema.json`` (``dagwright.flow_json_schema``)
and ``trace.schema.json`` (``dagwright.traces.trace_json_schema``); ``--output -`` prints
the flow schema instead, ``--trace --output -`` the trace schema.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from dagwright.io.files import _write_atomic  # noqa: E402
from dagwright.io.schema import main  # noqa: E402
from dagwright.traces.schema import schema_text as trace_schema_text  # noqa: E402

if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments == ["--trace", "--output", "-"]:
        sys.stdout.write(trace_schema_text())
        raise SystemExit(0)
    if not arguments:
        _write_atomic(str(HERE / "trace.schema.json"), trace_schema_text())
        arguments = ["--output", str(HERE / "flow.schema.json")]
    if arguments == ["--output", "-"]:
        arguments = []
    raise SystemExit(main(arguments))

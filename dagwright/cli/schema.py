"""``dagwright schema``: print the JSON Schema of flow files (draft 2020-12)."""

from __future__ import annotations

import argparse
import json

from dagwright.cli._errors import OK


def command(args: argparse.Namespace) -> int:
    """Print ``dagwright.flow_json_schema()`` as indented JSON; exit 0."""
    from dagwright import flow_json_schema

    print(json.dumps(flow_json_schema(), indent=2, ensure_ascii=False))
    return OK

"""Reading and writing what lives outside Python: flow files and their JSON Schema, tool
manifests, tool imports, and linting.

A client of the public API: nothing here is needed to build or run flows in Python, and
importing it stays light (PyYAML, jsonschema and rich are imported only by the functions
that need them).
"""

from dagwright._source import SourceMap
from dagwright.io.files import dump_flow, flow_source, load_flow, load_flows
from dagwright.io.lint import LintReport, lint_files
from dagwright.io.manifest import load_tool_manifest, tool_manifest, write_tool_manifest
from dagwright.io.modules import import_tool_paths, import_tools
from dagwright.io.schema import flow_json_schema

__all__ = [
    "LintReport",
    "SourceMap",
    "dump_flow",
    "flow_json_schema",
    "flow_source",
    "import_tool_paths",
    "import_tools",
    "lint_files",
    "load_flow",
    "load_flows",
    "load_tool_manifest",
    "tool_manifest",
    "write_tool_manifest",
]

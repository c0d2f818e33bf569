"""Flow files, tool manifests, tool imports and linting: clients of the public API.

Nothing here is needed to build or run flows in Python, and nothing here is imported by
the core; importing this package stays light (PyYAML, jsonschema and rich are imported
only by the functions that need them).
"""

from dagwright._source import SourceMap
from dagwright.io.files import dump_flow, flow_source, load_flow, load_flows
from dagwright.io.manifest import load_tool_manifest, tool_manifest, write_tool_manifest
from dagwright.io.modules import import_tool_paths, import_tools
from dagwright.io.schema import flow_json_schema

__all__ = [
    "SourceMap",
    "dump_flow",
    "flow_json_schema",
    "flow_source",
    "import_tool_paths",
    "import_tools",
    "load_flow",
    "load_flows",
    "load_tool_manifest",
    "tool_manifest",
    "write_tool_manifest",
]

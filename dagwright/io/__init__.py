"""Flow files, tool manifests, tool imports and linting: clients of the public API.

Nothing here is imported by the core; importing this package stays light (PyYAML,
jsonschema and rich are imported only by the functions that need them).
"""

from dagwright.io.manifest import load_tool_manifest, tool_manifest, write_tool_manifest
from dagwright.io.modules import import_tool_paths, import_tools

__all__ = [
    "import_tool_paths",
    "import_tools",
    "load_tool_manifest",
    "tool_manifest",
    "write_tool_manifest",
]

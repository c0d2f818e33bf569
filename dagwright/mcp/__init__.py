"""dagwright and the Model Context Protocol (the ``mcp`` extra, the official ``mcp`` SDK).

Serving flows as MCP tools: :func:`flow_server` builds the SDK's server with one tool per
flow, :func:`serve` runs it over stdio or streamable HTTP (``dagwright serve`` is both).
Using an MCP server's tools: :func:`connect` turns a server's tools into dagwright
``Tool``\\ s; :func:`server_specs` gives their ``ToolSpec``\\ s (for manifests and linting).

Importing this package without the SDK raises
:class:`~dagwright.IntegrationUnavailableError` (an ``ImportError``) whose hint is
``pip install 'dagwright[mcp]'``. ``import dagwright`` never imports this package.
"""

from __future__ import annotations

from dagwright.errors import IntegrationUnavailableError

try:
    import mcp as _sdk  # noqa: F401  (only to know whether the extra is installed)
except ImportError as _missing:
    raise IntegrationUnavailableError(
        "dagwright.mcp needs the MCP SDK (the 'mcp' package), which is not installed",
        hint="pip install 'dagwright[mcp]'",
    ) from _missing

# ---- serving flows as MCP tools ----
from dagwright.mcp._results import RUN_ID_META
from dagwright.mcp._serve import Transport, serve
from dagwright.mcp._server import flow_server

# ---- using an MCP server's tools ----
from dagwright.mcp.client import MCPConnection, connect, server_specs

__all__ = [
    "RUN_ID_META",
    "MCPConnection",
    "Transport",
    "connect",
    "flow_server",
    "serve",
    "server_specs",
]

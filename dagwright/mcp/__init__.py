"""dagwright and the Model Context Protocol (extra ``mcp``: ``pip install 'dagwright[mcp]'``).

:func:`connect` turns an MCP server's tools into dagwright ``Tool``\\ s; :func:`server_specs`
gives their ``ToolSpec``\\ s (for manifests and linting). Importing this
package without the ``mcp`` SDK installed raises
:class:`~dagwright.errors.IntegrationUnavailableError`.
"""

from __future__ import annotations

try:
    import mcp as _mcp  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in an environment without the extra
    from dagwright.errors import IntegrationUnavailableError

    raise IntegrationUnavailableError(
        "dagwright.mcp needs the MCP SDK, which is not installed",
        hint="pip install 'dagwright[mcp]'",
    ) from exc

from dagwright.mcp.client import MCPConnection, connect, server_specs

__all__ = ["MCPConnection", "connect", "server_specs"]

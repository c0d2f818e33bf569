"""A tiny MCP server over stdio, written with the official SDK (``pip install
'dagwright[mcp]'``), whose tools a dagwright flow can call through ``dagwright.mcp``.

``search`` returns structured results (its return model becomes the advertised output
schema) and is read-only; ``fetch`` returns plain text. Start it by hand with
``python -m examples.mcp_server`` (from the repository root; stdio), or
``python -m examples.mcp_server --http PORT`` to serve streamable HTTP at
``http://127.0.0.1:PORT/mcp``. ``docs/integrations/mcp.md`` connects to it from Python
and ``dagwright tools export --mcp`` lists its tools.
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import BaseModel

PAGES = {
    "https://docs.example/dags": "A DAG is a directed graph without cycles.",
    "https://docs.example/mcp": "MCP lets agents call tools over a protocol.",
}

server = MCPServer("docs")


class Hits(BaseModel):
    """The pages whose address contains the query."""

    urls: list[str]
    total: int


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def search(query: str, limit: int = 3) -> Hits:
    """Find pages about a topic."""
    urls = [url for url in sorted(PAGES) if query.lower() in url][:limit]
    return Hits(urls=urls, total=len(urls))


@server.tool(annotations=ToolAnnotations(read_only_hint=True), structured_output=False)
def fetch(url: str) -> str:
    """The text of a page."""
    return PAGES.get(url, "")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")

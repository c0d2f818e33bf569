"""A small MCP server over stdio for the client tests, written with the official SDK's
low-level server so every answer (including broken ones) is exactly what the test needs.

Tools: ``search`` (structured results, an output schema, read-only), ``fetch`` (text,
idempotent), ``fail`` (an ``isError`` result), ``broken`` (structured content that breaks
its own output schema), ``crash`` (the server dies inside the call), ``slow`` (answers
after a minute), ``delete`` (a destructive tool) and ``2fast`` (a name that is not a
dagwright tool name). With ``RESEARCH_EXTRA=collide`` it also lists ``a/b`` and ``a_b``
(one dagwright name); with ``RESEARCH_EXTRA=bad_schema`` a tool whose input schema is
not a JSON Schema.
"""

from __future__ import annotations

import os
from typing import Any

import anyio
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.types import (
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
    Tool,
    ToolAnnotations,
)

SEARCH_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "what to look for"},
        "limit": {"type": "integer", "minimum": 1, "default": 2},
    },
    "required": ["query"],
}
SEARCH_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "urls": {"type": "array", "items": {"type": "string"}},
        "total": {"type": "integer"},
    },
    "required": ["urls", "total"],
}
URL_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {"url": {"type": "string"}},
    "required": ["url"],
}
EMPTY_INPUT: dict[str, Any] = {"type": "object", "properties": {}}

TOOLS = [
    Tool(
        name="search",
        description="Search the test corpus.",
        input_schema=SEARCH_INPUT,
        output_schema=SEARCH_OUTPUT,
        annotations=ToolAnnotations(read_only_hint=True),
    ),
    Tool(
        name="fetch",
        description="Fetch a page as text.",
        input_schema=URL_INPUT,
        annotations=ToolAnnotations(read_only_hint=False, idempotent_hint=True),
    ),
    Tool(name="fail", description="Always fails.", input_schema=EMPTY_INPUT),
    Tool(
        name="broken",
        description="Breaks its own output schema.",
        input_schema=EMPTY_INPUT,
        output_schema=SEARCH_OUTPUT,
    ),
    Tool(name="crash", description="Kills the server mid-call.", input_schema=EMPTY_INPUT),
    Tool(name="slow", description="Answers after a minute.", input_schema=EMPTY_INPUT),
    Tool(
        name="delete",
        description="Deletes a page.",
        input_schema=URL_INPUT,
        annotations=ToolAnnotations(destructive_hint=True),
    ),
    Tool(name="2fast", description="A name that starts with a digit.", input_schema=EMPTY_INPUT),
]


def text(value: str, *, error: bool = False) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=value)], is_error=error)


EXTRA = {
    "collide": [
        Tool(name="a/b", input_schema=EMPTY_INPUT),
        Tool(name="a_b", input_schema=EMPTY_INPUT),
    ],
    "bad_schema": [
        Tool(name="odd", input_schema={"type": "object", "properties": {"x": {"type": 12}}}),
    ],
}


async def list_tools(ctx: Any, params: PaginatedRequestParams | None) -> ListToolsResult:
    return ListToolsResult(tools=TOOLS + EXTRA.get(os.environ.get("RESEARCH_EXTRA", ""), []))


async def call_tool(ctx: Any, params: CallToolRequestParams) -> CallToolResult:
    args = params.arguments or {}
    if params.name == "search":
        limit = int(args.get("limit", 2))
        urls = [f"https://example.org/{args['query']}/{i}" for i in range(limit)]
        structured = {"urls": urls, "total": limit}
        return CallToolResult(
            content=[TextContent(type="text", text=" ".join(urls))],
            structured_content=structured,
        )
    if params.name == "fetch":
        return text(f"page at {args['url']}")
    if params.name == "fail":
        return text("the corpus is offline", error=True)
    if params.name == "broken":
        return CallToolResult(content=[], structured_content={"urls": "not a list", "total": 1})
    if params.name == "crash":
        os._exit(3)
    if params.name == "slow":
        await anyio.sleep(60)
        return text("late")
    if params.name == "delete":
        return text(f"deleted {args['url']}")
    if params.name == "2fast":
        return text("fast")
    return text(f"unknown tool {params.name}", error=True)


server: Server[Any] = Server("research", on_list_tools=list_tools, on_call_tool=call_tool)


async def main() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)

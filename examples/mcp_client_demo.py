"""Call the example pipeline as an MCP tool: start ``dagwright serve`` on it and talk to
it with the MCP SDK's own stdio client (needs the ``mcp`` extra).

    python examples/mcp_client_demo.py [--store PATH]

Run from the repository root (the flows' tools import from ``examples``). It lists the
server's tools, calls ``research_pipeline`` with a question, prints the answer and the
run id the call was journaled under, then makes a call the flow refuses.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import TextContent

from dagwright.mcp import RUN_ID_META

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ("examples/pipeline.flow.yaml", "examples/summarize.flow.yaml")
QUESTION = "How does dependency-driven scheduling keep workers busy?"


def dagwright_command() -> str:
    """The console script next to this interpreter (else the one on PATH)."""
    found = shutil.which("dagwright", path=str(Path(sys.executable).parent))
    return found or shutil.which("dagwright") or "dagwright"


async def main(store: str) -> None:
    server = StdioServerParameters(
        command=dagwright_command(),
        args=["serve", *FLOWS, "--store", store],
        cwd=str(ROOT),
    )
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for listed in (await session.list_tools()).tools:
            print(f"tool {listed.name}: {listed.description}")
        answer = await session.call_tool("research_pipeline", {"question": QUESTION})
        assert not answer.is_error and answer.structured_content is not None
        outputs = answer.structured_content
        print(f"summary: {outputs['summary']}")
        print(f"grade: {outputs['grade']} (confidence {outputs['confidence']})")
        run_id = (answer.meta or {}).get(RUN_ID_META)
        print(f"journaled as run {run_id}: dagwright runs show {run_id} --store {store}")
        refused = await session.call_tool("research_pipeline", {"question": ""})
        texts = [block.text for block in refused.content if isinstance(block, TextContent)]
        print("refused:", *texts)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=".dagwright/runs.sqlite")
    options = parser.parse_args()
    Path(options.store).parent.mkdir(parents=True, exist_ok=True)
    anyio.run(main, options.store)

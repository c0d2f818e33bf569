"""Tools of the MCP tests' flows (``tests/mcp/flows/``), imported from the repository root.

``fetch`` fails with a ``ConnectionError`` for any host but ``up``; ``shout`` prints to
stdout before it answers, as a careless tool would, so the tests can check that this
never reaches the protocol's stdout under stdio.
"""

from __future__ import annotations

from pydantic import BaseModel

from dagwright import tool


class Page(BaseModel):
    body: str


class Loud(BaseModel):
    loud: str


@tool
def fetch(host: str) -> Page:
    """Fetch a page from a host; only ``up`` answers."""
    if host != "up":
        raise ConnectionError(f"{host} is down")
    return Page(body=f"hello from {host}")


@tool
def shout(word: str) -> Loud:
    """Print to stdout, then return the word in capitals."""
    print(f"shouting {word} on stdout")
    return Loud(loud=word.upper())

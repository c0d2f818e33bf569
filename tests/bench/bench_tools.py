"""Tools the profiling tests run: fixed short sleeps, a failing item, a cacheable tool.

Also used by the ``dagwright bench`` tests as ``--tools tests.bench.bench_tools``
(imported from the repository root). Every output depends only on the input, so every
run of a flow of them has the same digest; ``drift`` is the exception, on purpose.
"""

from __future__ import annotations

import itertools
import time

from dagwright import tool

_DRIFT = itertools.count()


@tool(output="waited")
def wait(ms: int) -> int:
    """Sleep ``ms`` milliseconds; return ``ms``."""
    time.sleep(ms / 1000)
    return ms


@tool(output="got")
def fetch_item(item: int, ms: int = 10) -> int:
    """Sleep ``ms`` milliseconds and return ``item * 10``; item 3 cannot be fetched."""
    time.sleep(ms / 1000)
    if item == 3:
        raise ConnectionError(f"item {item} is gone")
    return item * 10


@tool(output="doubled", cacheable=True)
def double(n: int) -> int:
    """Twice ``n``, after 20 ms (a pure function: its results may be cached)."""
    time.sleep(0.02)
    return 2 * n


@tool(output="broken")
def explode(n: int) -> int:
    """Always fails."""
    raise ValueError(f"cannot handle {n}")


@tool(output="counter")
def drift(n: int) -> int:
    """A different number on every call: a flow using it is nondeterministic."""
    return n + next(_DRIFT)

"""A process that uses a shared SQLite step cache: started twice at once by the tests.

``python -m tests.cache.cache_worker CACHE GO N``: waits until the file GO exists, then
runs a map over N items whose cacheable tool the other worker calls with the same
inputs, then stores and reads the same keys directly; prints a JSON summary.
"""

from __future__ import annotations

import json
import os
import sys
import time

from dagwright import CacheEntry, CacheKey, DAGFlow, FlowExecutor, MapStep, SQLiteStepCache, tool


@tool(cacheable=True)
def square(n: int) -> int:
    """n squared."""
    return n * n


FLOW = DAGFlow(
    name="squares",
    steps=[MapStep(id="all", over="numbers", tool="square", item="n", results="squares",
                   max_concurrency=4)],
)  # fmt: skip


def main() -> int:
    path, go, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    deadline = time.monotonic() + 30
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            return 3
        time.sleep(0.001)
    cache = SQLiteStepCache(path, busy_timeout_s=30)
    with FlowExecutor([square], cache=cache, max_concurrency=4) as ex:
        result = ex.run(FLOW, {"numbers": list(range(count))})
    assert result.success, result.error
    assert result.output["squares"] == [{"square": n * n} for n in range(count)]
    for n in range(count):
        key = CacheKey("direct", "s", f"{n:064x}")
        cache.put(key, CacheEntry({"n": n}, 1.0))
        got = cache.get(key)
        assert got is not None and got.outputs == {"n": n}, got
    hits = sum(1 for child in result.steps[0].children if child.cached)
    cache.close()
    print(json.dumps({"hits": hits}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

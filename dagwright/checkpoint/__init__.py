"""Checkpoints: append-only run journals and the stores that keep them.

``InMemoryCheckpointer`` for tests, ``SQLiteCheckpointer`` (WAL, one transaction per
record) as the embedded durable default. Give one to ``FlowExecutor(checkpointer=...)``;
``executor.resume(run_id)`` then finishes an interrupted run without re-running what it
recorded. ``read_run(checkpointer, run_id)`` reads a stored run without touching it. See
``docs/concepts/checkpoints.md``.
"""

from typing import TYPE_CHECKING

from dagwright._lazy import lazy_names
from dagwright.checkpoint.lease import Lease, Owner
from dagwright.checkpoint.memory import InMemoryCheckpointer
from dagwright.checkpoint.protocol import Checkpointer, RunHeader, RunList, RunStatus

if TYPE_CHECKING:
    from dagwright.checkpoint.inspect import StoredRun, read_run
    from dagwright.checkpoint.sqlite import SQLiteCheckpointer

# The SQLite store and the run reader load on first use (sqlite3 with them).
__getattr__, __dir__ = lazy_names(
    __name__,
    {
        "SQLiteCheckpointer": "dagwright.checkpoint.sqlite",
        "StoredRun": "dagwright.checkpoint.inspect",
        "read_run": "dagwright.checkpoint.inspect",
    },
    globals(),
)

__all__ = [
    "Checkpointer",
    "InMemoryCheckpointer",
    "Lease",
    "Owner",
    "RunHeader",
    "RunList",
    "RunStatus",
    "SQLiteCheckpointer",
    "StoredRun",
    "read_run",
]

"""A driver process for the crash test: a checkpointed Dask run that SIGKILLs itself.

Usage::

    python -m tests.runners.dask_driver ADDRESS DB LOG MODE KILL_AT

``MODE`` ``run`` starts run ``r1`` of the flow below on the cluster at ``ADDRESS``;
with ``KILL_AT`` N > 0 the process SIGKILLs itself right after the Nth journal entry
is durably written (mid-map: the cluster keeps the calls in flight). ``resume``
resumes ``r1`` in this fresh process. Either prints the result as JSON: digest,
success, output. Every call appends its item to ``LOG`` (``logged``).
"""

from __future__ import annotations

import json
import sys

import distributed

from dagwright import DAGFlow, FlowExecutor, Literal, MapStep, Step
from dagwright.runners import DaskRunner
from tests.crash_worker import KillingCheckpointer
from tests.runners import dask_tools as t

N_ITEMS = 30


def flow(log: str) -> DAGFlow:
    """A map of ``logged`` calls, then their sum."""
    return DAGFlow(
        "crash-map",
        [
            MapStep(id="fan", over="xs", tool="logged", item="x", results="ys",
                    inputs={"log": Literal(log)}, max_concurrency=4),
            Step(id="sum", tool="sum_field", inputs={"values": "ys", "field": Literal("logged")},
                 depends_on=["fan"]),
        ],
    )  # fmt: skip


def main(argv: list[str]) -> int:
    address, db, log, mode, kill_at = argv
    store = KillingCheckpointer(db, kill_at=int(kill_at), before=False)
    with (
        distributed.Client(address, timeout=30) as client,
        FlowExecutor(
            [t.logged, t.sum_field],
            runner=DaskRunner(client),
            checkpointer=store,
            max_concurrency=4,
        ) as ex,
    ):
        if mode == "run":
            result = ex.run(flow(log), {"xs": list(range(N_ITEMS))}, run_id="r1")
        else:
            result = ex.resume("r1", flow(log))
    print(json.dumps({"digest": result.digest, "success": result.success,
                      "output": result.output}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

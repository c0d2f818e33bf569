"""The determinism property on a Dask cluster: random DAGs (map steps among them, sync
and async tools that take a random few milliseconds) give on the cluster, in both lanes,
the outputs, untimed records and digest of the sequential local run."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings

from dagwright import DAGFlow, FlowExecutor
from dagwright.runners import DaskRunner
from tests.test_determinism import ITEMS, amix, mix, random_dags


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(flow=random_dags())
def test_dask_runs_match_the_sequential_local_run(client: Any, flow: DAGFlow) -> None:
    with FlowExecutor([mix, amix], max_concurrency=1) as local:
        baseline = local.run(flow, ITEMS)
    assert baseline.success, baseline.error
    runner = DaskRunner(client)
    with FlowExecutor([mix, amix], runner=runner, max_concurrency=8) as remote:
        results = [remote.run(flow, ITEMS), asyncio.run(remote.arun(flow, ITEMS))]
    for other in results:
        assert other.output == baseline.output
        assert [s.to_dict(times=False) for s in other.steps] == [
            s.to_dict(times=False) for s in baseline.steps
        ]
        assert other.digest == baseline.digest

"""A local Dask cluster for the runner tests: two worker processes, as a real one.

``distributed.scheduler.allowed-failures`` is 0 on these clusters, so a worker that dies
under a call is reported to dagwright at once (``WorkerLostError``) instead of being
re-run by Dask first: the step's retry policy is the only one deciding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import dask
import distributed
import pytest

from dagwright.errors import keep_own_pickling

# Importing distributed changed how every exception class pickles (tblib); DaskRunner
# restores dagwright's errors when it is built, but other tests of this session may
# run before any runner is.
keep_own_pickling()


def local_cluster(workers: int = 2, threads: int = 2) -> Any:
    """A ``LocalCluster`` of ``workers`` processes (the caller closes it)."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        return distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=threads,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )


@pytest.fixture(scope="session")
def cluster() -> Iterator[Any]:
    """One cluster for the whole session (workers start once)."""
    made = local_cluster()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="session")
def client(cluster: Any) -> Iterator[Any]:
    """A client of :func:`cluster` shared by the tests."""
    made = distributed.Client(cluster)
    try:
        yield made
    finally:
        made.close()

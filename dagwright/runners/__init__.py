"""Runners: where a run's tool calls are made.

By default a :class:`~dagwright.FlowExecutor` makes calls in its own process (inline,
on its event loop, on its worker pool). ``FlowExecutor(..., runner=DaskRunner(client))``
makes every call on a Dask cluster instead, while scheduling, validation, the step
cache and the checkpoint journal stay in the calling process. See
``docs/distributed.md``. ``DaskRunner`` needs the ``dask`` extra
(``pip install 'dagwright[dask]'``); importing this package does not import Dask.
"""

from __future__ import annotations

from dagwright.runners.dask import DaskRunner

__all__ = ["DaskRunner"]

"""structlog wiring that stays quiet, and costs nothing, unless something is logged.

dagwright logs through structlog bound to the standard-library logger ``"dagwright"``:
nothing shows unless the application configures logging for it (run events are DEBUG;
problems a user should see, such as an input key overwritten by a step, are WARNING).
dagwright never configures structlog or logging globally. structlog is imported on the
first log call, so ``import dagwright`` does not pay for it (or for ``rich``, which
structlog loads when installed).
"""

from __future__ import annotations

import logging
from typing import Any

_STDLIB_LOGGER = logging.getLogger("dagwright")
_base: Any = None


def get_logger(**bound: Any) -> Any:
    """A structlog logger writing to the ``dagwright`` stdlib logger, with ``bound`` values."""
    global _base  # noqa: PLW0603  (one wrapped logger per process, built on first use)
    if _base is None:
        import structlog

        _base = structlog.wrap_logger(
            _STDLIB_LOGGER,
            wrapper_class=structlog.stdlib.BoundLogger,
            processors=[
                structlog.stdlib.filter_by_level,
                structlog.stdlib.add_log_level,
                structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True),
            ],
        )
    return _base.bind(**bound) if bound else _base


def enabled_for(level: int) -> bool:
    """Whether a record at ``level`` would be handled: check before building log data."""
    return _STDLIB_LOGGER.isEnabledFor(level)

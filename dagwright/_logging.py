"""structlog wiring that stays quiet unless the application asks.

dagwright logs through structlog bound to the standard-library logger ``"dagwright"``:
nothing shows unless the application configures logging for it (run events are DEBUG;
problems a user should see, such as an input key overwritten by a step, are WARNING).
dagwright never configures structlog or logging globally.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

_STDLIB_LOGGER = logging.getLogger("dagwright")


def get_logger(**bound: Any) -> Any:
    """A structlog logger writing to the ``dagwright`` stdlib logger, with ``bound`` values."""
    logger = structlog.wrap_logger(
        _STDLIB_LOGGER,
        wrapper_class=structlog.stdlib.BoundLogger,
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True),
        ],
    )
    return logger.bind(**bound) if bound else logger

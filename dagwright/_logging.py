"""structlog wiring that stays quiet, and costs nothing, unless something is logged.

dagwright logs through structlog bound to the standard-library logger ``"dagwright"``:
nothing shows unless the application configures logging for it (run events are DEBUG;
problems a user should see, such as an input key overwritten by a step, are WARNING).
dagwright never configures structlog or logging globally. structlog is imported on the
first log call, so ``import dagwright`` does not pay for it (or for ``rich``, which
structlog loads when installed).

A log call may pass ``record={"name": value}``: those values are not rendered into the
message but set as attributes of the ``logging.LogRecord`` (the ``flow_warnings``
record's ``diagnostics`` are the :class:`~dagwright.compiler.Diagnostic` objects).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
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
                _Render(structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True)),
            ],
        )
    return _base.bind(**bound) if bound else _base


class _Render:
    """The final processor: the event as ``key=value`` text, and the values given as
    ``record=`` set as attributes of the stdlib ``LogRecord`` (``extra``), unrendered,
    for handlers that want the objects rather than their text."""

    def __init__(self, text: Any) -> None:
        self._text = text

    def __call__(self, logger: Any, name: str, event: MutableMapping[str, Any]) -> Any:
        extra = event.pop("record", None)
        text = self._text(logger, name, event)
        return ((text,), {"extra": extra}) if extra else text


def enabled_for(level: int) -> bool:
    """Whether a record at ``level`` would be handled: check before building log data."""
    return _STDLIB_LOGGER.isEnabledFor(level)

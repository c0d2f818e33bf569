"""Public names that load their module on first use (PEP 562 ``__getattr__``).

A package lists ``{name: module}`` and calls :func:`lazy_names` to get its module-level
``__getattr__`` and ``__dir__``: ``import dagwright`` then pays only for what every run
needs, and ``dagwright.SQLiteCheckpointer`` (or ``from dagwright import ...``) imports
its module the first time it is asked for. The value is then stored in the package, so
later lookups are plain attribute reads.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(
    package: str, names: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose ``namespace`` (its
    ``globals()``) gets each of ``names`` from its module on first use."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__

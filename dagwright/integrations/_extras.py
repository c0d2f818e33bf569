"""The one error an integration raises when its framework is not installed."""

from __future__ import annotations

from dagwright import IntegrationUnavailableError


def unavailable(module: str, framework: str, extra: str) -> IntegrationUnavailableError:
    """``IntegrationUnavailableError`` for ``module``, which needs ``framework`` from the
    extra ``extra``; raise it ``from`` the ``ImportError``."""
    return IntegrationUnavailableError(
        f"{module} needs {framework}, which is not installed",
        hint=f"pip install 'dagwright[{extra}]'",
    )

"""A frozen pydantic base whose derived values are cached and never go stale.

Frozen models compute some derived values once (a digest, a JSON Schema spec) with
``functools.cached_property``, which stores them in the instance ``__dict__``.
``model_copy(update=...)`` copies that ``__dict__``, so a copy with changed fields would
carry the original's derived values. This base drops them on every copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, Self

from pydantic import BaseModel


class FrozenModel(BaseModel):
    """Base of dagwright's frozen models that cache derived values."""

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy (see pydantic), with cached derived values recomputed on first use."""
        copy = super().model_copy(update=update, deep=deep)
        for klass in type(self).__mro__:
            for name, member in vars(klass).items():
                if isinstance(member, cached_property):
                    copy.__dict__.pop(name, None)
        return copy

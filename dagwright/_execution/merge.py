"""The one context-merge helper.

The compiler has already ordered or refused every collision between steps, so merging
step outputs in canonical order (later wins) is always right for them. What the compiler
could not see are keys the caller passes as inputs that a step also writes (a flow with
no ``input_schema`` accepts any extra key): :func:`input_collisions` finds those once per
run, and ``on_context_collision`` decides what they mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dagwright.errors import ContextCollisionError


def merge_step_outputs(
    base: Mapping[str, Any], writes: Iterable[Mapping[str, Any] | None]
) -> dict[str, Any]:
    """Return ``base`` updated with each step's writes in the given (canonical) order.

    ``None`` entries (steps that wrote nothing: skipped, failed, never run) are passed
    over. A later writer wins, as the ordered-collision rule says.
    """
    context = dict(base)
    for written in writes:
        if written:
            context.update(written)
    return context


def input_collisions(
    inputs: Mapping[str, Any],
    written_keys: frozenset[str],
    policy: str,
    *,
    declared: frozenset[str] = frozenset(),
) -> tuple[str, ...]:
    """Extra input keys (not ``declared`` flow inputs) that a step will overwrite, sorted.

    Declared inputs that a step overwrites (``n`` in a flow of ``n = f(n)`` steps) are
    ordered collisions the compiler already saw. Raises :class:`ContextCollisionError`
    when ``policy`` is ``"error"``; with ``"warn"`` or ``"overwrite"`` returns the keys so
    the caller can log (or not).
    """
    if len(inputs) <= len(declared) and declared.issuperset(inputs):
        return ()
    clashes = tuple(sorted(written_keys.intersection(inputs).difference(declared)))
    if clashes and policy == "error":
        raise ContextCollisionError(
            f"input key(s) {', '.join(map(repr, clashes))} are also written by steps of the flow",
            hint="rename the input, or set on_context_collision='overwrite' to let steps win",
        )
    return clashes

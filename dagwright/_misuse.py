"""The checks that turn a wrong argument into a coded :class:`UsageError`.

They run at the call, before anything is compiled, journaled or started, so every entry
point (``run``, ``arun``, ``stream``, ``astream``, ``resume``...) refuses the same
mistakes with the same code and hint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagwright.errors import UsageError

if TYPE_CHECKING:
    from dagwright.checkpoint.protocol import Checkpointer


def check_max_concurrency(value: Any) -> None:
    """``value`` must be an int >= 1 (a bool is not one, though Python says it is)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(
            f"max_concurrency must be an int >= 1, got {type(value).__name__} {value!r}",
            hint="pass a whole number of calls, e.g. max_concurrency=8 (1 runs sequentially)",
        )
    if value < 1:
        raise UsageError(
            f"max_concurrency must be >= 1, got {value}",
            hint="pass max_concurrency=1 to run every step in the calling thread",
        )


def check_plan_cache_size(value: Any) -> None:
    """``value`` must be an int >= 1: the executor keeps at least the plan it runs."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(
            f"plan_cache_size must be an int >= 1, got {type(value).__name__} {value!r}",
            hint="pass how many compiled plans to keep, e.g. plan_cache_size=256",
        )


def check_run_id(run_id: Any, *, optional: bool) -> None:
    """A run id is a non-empty string (``None`` too, when the caller may omit it)."""
    if run_id is None and optional:
        return
    if not isinstance(run_id, str) or not run_id:
        shown = repr(run_id) if isinstance(run_id, str) else type(run_id).__name__
        raise UsageError(
            f"a run id must be a non-empty string, got {shown}",
            hint="pass a string such as 'order-42'"
            + (", or leave run_id out to get a random one" if optional else ""),
        )


def flow_ref_error(value: object, *, names: bool = True) -> UsageError:
    """What a flow reference that is neither a ``Flow`` nor (when ``names``) a name raises."""
    if names:
        expected, hint = "a Flow or a registered flow name", "or the name it is registered under"
    else:
        expected, hint = "a Flow", "not a name or a dict"
    return UsageError(
        f"expected {expected}, got {type(value).__name__}",
        hint=f"pass a Flow or DAGFlow object, {hint}",
    )


def need_checkpointer(checkpointer: Checkpointer | None, what: str) -> Checkpointer:
    """The executor's checkpointer; resuming without one is a misuse."""
    if checkpointer is None:
        raise UsageError(
            f"{what} needs a FlowExecutor built with a checkpointer",
            hint="build it with FlowExecutor(..., checkpointer=SQLiteCheckpointer(path))",
        )
    return checkpointer


def check_cache(cache: object) -> None:
    """A step cache is ``None`` or has callable ``get`` and ``put`` (``StepCache``)."""
    if cache is None:
        return
    if not (callable(getattr(cache, "get", None)) and callable(getattr(cache, "put", None))):
        raise UsageError(
            f"cache must be a StepCache (with get(key) and put(key, entry)), "
            f"got {type(cache).__name__}",
            hint="pass InMemoryStepCache(), SQLiteStepCache(path), or None for no cache",
        )


def check_runner(runner: object) -> None:
    """A runner is ``None`` (the executor's own pool) or one of dagwright's runners."""
    if runner is None:
        return
    from dagwright.lanes.runner import CallRunner

    if not isinstance(runner, CallRunner) or not isinstance(getattr(runner, "remote", None), bool):
        raise UsageError(
            f"runner must be a dagwright runner such as DaskRunner(client), "
            f"got {type(runner).__name__}",
            hint="pass dagwright.runners.DaskRunner(client), or None to run calls in this process",
        )

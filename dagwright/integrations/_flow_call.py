"""A flow bound as one tool: what every framework integration shares.

:class:`FlowCall` pins the flow (a name is resolved once, so the tool keeps the version it
was made from), compiles it through the executor (``FlowCompileError`` at once), and runs
it with a fresh run id from ``executor.new_run_id()``, so every call is a run of its own,
journaled when the executor has a checkpointer. A call ends in an :class:`Outcome`: the
flow's outputs, or the text an agent should see about why there are none.

Only what an agent can act on becomes an outcome: arguments that break the schema the
agent was given (checked here, with ``jsonschema``, before anything runs: most frameworks
pass a hand-made schema through unchecked) or that the flow rejects (``FlowInputError``),
both "fix them and call again", and a run that failed (the error's code, type and
message, and the run id). Any other error (a closed executor, a broken store) is the
application's, and propagates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from dagwright import CompiledFlow, ExecutionResult, Flow, FlowExecutor, FlowInputError

_MAX_ARGUMENT_ERRORS = 5


@dataclass(frozen=True, slots=True)
class Outcome:
    """The end of one call: ``outputs`` when the run succeeded, else ``message``.

    ``retry`` is true when the arguments were rejected (nothing ran): the caller
    should call again with other ones. ``run_id`` is the run's id (``None`` when the
    arguments were rejected, as no run started).
    """

    outputs: dict[str, Any] | None
    message: str | None
    retry: bool
    run_id: str | None

    def outputs_json(self) -> str:
        """The outputs as JSON text, for frameworks whose tools return strings."""
        return json.dumps(self.outputs, ensure_ascii=False, sort_keys=False)


class FlowCall:
    """One flow of one executor, callable with a tool's JSON arguments."""

    def __init__(
        self,
        executor: FlowExecutor,
        flow_or_name: Flow | str,
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        self.executor = executor
        self.flow: Flow = executor.resolve(flow_or_name)
        self.compiled: CompiledFlow = executor.compile(self.flow)
        self.name: str = name if name is not None else self.flow.name
        self.description: str = description if description is not None else self.flow.description
        self._validator = Draft202012Validator(self.parameters())

    def parameters(self) -> dict[str, Any]:
        """The flow's input JSON Schema (a fresh dict on every call)."""
        return self.compiled.input_json_schema()

    def run(self, arguments: Mapping[str, Any] | None) -> Outcome:
        """Run the flow on the sync lane with ``arguments`` as its inputs."""
        rejected = self._check(arguments)
        if rejected is not None:
            return rejected
        run_id = self.executor.new_run_id()
        try:
            result = self.executor.run(self.flow, dict(arguments or {}), run_id=run_id)
        except FlowInputError as exc:
            return self._rejected(exc)
        return self._outcome(result)

    async def arun(self, arguments: Mapping[str, Any] | None) -> Outcome:
        """Run the flow on the async lane with ``arguments`` as its inputs."""
        rejected = self._check(arguments)
        if rejected is not None:
            return rejected
        run_id = self.executor.new_run_id()
        try:
            result = await self.executor.arun(self.flow, dict(arguments or {}), run_id=run_id)
        except FlowInputError as exc:
            return self._rejected(exc)
        return self._outcome(result)

    def _check(self, arguments: Mapping[str, Any] | None) -> Outcome | None:
        """The rejection of arguments that break the tool's schema, else ``None``."""
        errors = sorted(
            self._validator.iter_errors(dict(arguments or {})), key=lambda e: list(map(str, e.path))
        )
        if not errors:
            return None
        shown = [
            f"at {'/'.join(map(str, e.path))!r}: {e.message}" if e.path else e.message
            for e in errors[:_MAX_ARGUMENT_ERRORS]
        ]
        if len(errors) > _MAX_ARGUMENT_ERRORS:
            shown.append(f"and {len(errors) - _MAX_ARGUMENT_ERRORS} more")
        message = f"invalid arguments for {self.name!r}: [{FlowInputError.code}] {'; '.join(shown)}"
        return Outcome(None, message, True, None)

    def _rejected(self, exc: FlowInputError) -> Outcome:
        # The hint speaks to Python callers; the agent gets the code and the message.
        message = f"invalid arguments for {self.name!r}: [{exc.code}] {exc.message}"
        return Outcome(None, message, True, None)

    def _outcome(self, result: ExecutionResult) -> Outcome:
        if result.success:
            return Outcome(self.compiled.outputs_of(result), None, False, result.run_id)
        return Outcome(None, failure_message(self.name, result), False, result.run_id)


def failure_message(name: str, result: ExecutionResult) -> str:
    """What an agent sees of a failed run: the failing step, the error's code, type and
    message, and the run id (to find it in the store, or resume it)."""
    error = result.error
    if error is None:
        return f"flow {name!r} failed (run {result.run_id})"
    where = ""
    if error.step_id is not None:
        where = f" at step {error.step_id!r}"
        if error.index is not None:
            where += f" (item {error.index})"
    return (
        f"flow {name!r} failed{where}: [{error.code}] {error.type}: {error.message} "
        f"(run {result.run_id})"
    )

"""Tools: typed descriptions of the callables a flow runs.

A :class:`Tool` pairs a callable with its input and output pydantic models. The compiler
never needs the callable: it works from a :class:`ToolSpec` (name, version and the two
JSON Schemas), so a flow file can be linted without importing any tool code.
"""

from __future__ import annotations

import inspect
import math
import re
import sys
import typing
from collections.abc import Awaitable, Callable
from functools import cached_property
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from dagwright._execution.canonical import digest
from dagwright._models import FrozenModel
from dagwright.errors import ToolDefinitionError

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")

ToolFunction = Callable[[Any], Any] | Callable[[Any], Awaitable[Any]]


def _check_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        # Not a ValueError: pydantic would wrap it in an uncoded ValidationError.
        raise ToolDefinitionError(
            f"tool name {value!r} must start with a letter or '_' and contain only "
            "letters, digits, '_', '-' and '.'",
            hint="name tools like identifiers, e.g. 'web_search' or 'math.add'",
        )
    return value


def _schema_hash(name: str, version: str, inp: dict[str, Any], out: dict[str, Any]) -> str:
    return digest({"name": name, "version": version, "input": inp, "output": out})


class ToolSpec(FrozenModel):
    """What the compiler knows of a tool: its name, version and JSON Schemas.

    Build one from a :class:`Tool` with ``tool.spec``, or directly from a schema file
    when linting flows whose tools are not importable.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str
    version: str = "1"
    description: str = ""
    input_json_schema: dict[str, Any]
    output_json_schema: dict[str, Any]
    idempotent: bool = True
    cacheable: bool = False

    @field_validator("name", mode="before")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _check_name(value)

    @cached_property
    def schema_hash(self) -> str:
        """sha256 over name, version and both JSON Schemas (canonical JSON)."""
        return _schema_hash(
            self.name, self.version, self.input_json_schema, self.output_json_schema
        )

    def __hash__(self) -> int:
        return hash(self.schema_hash)


class Tool(FrozenModel):
    """A frozen, hashable description of one callable.

    ``fn`` receives an instance of ``input_schema`` and returns an instance of
    ``output_schema`` or a dict with exactly its fields (sync or ``async``). Every call
    validates the input against ``input_schema`` and the output against ``output_schema``.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", arbitrary_types_allowed=True, defer_build=True
    )

    name: str
    fn: Callable[..., Any]
    input_schema: type[BaseModel]
    output_schema: type[BaseModel]
    description: str = ""
    version: str = "1"
    cacheable: bool = False
    idempotent: bool = True
    timeout_s: float | None = Field(default=None, gt=0)

    @field_validator("name", mode="before")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _check_name(value)

    @field_validator("timeout_s", mode="before")
    @classmethod
    def _finite_timeout(cls, value: Any) -> Any:
        # Before pydantic's bound, which would raise an uncoded ValidationError and let
        # an infinite timeout through.
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and (not math.isfinite(value) or value <= 0):
            raise ToolDefinitionError(
                f"tool timeout_s={value!r} is invalid: it must be a finite number of seconds > 0",
                hint="leave timeout_s out (None) for no timeout",
            )
        return value

    @cached_property
    def spec(self) -> ToolSpec:
        """The :class:`ToolSpec` the compiler checks flows against."""
        return ToolSpec(
            name=self.name,
            version=self.version,
            description=self.description,
            input_json_schema=self.input_schema.model_json_schema(),
            output_json_schema=self.output_schema.model_json_schema(),
            idempotent=self.idempotent,
            cacheable=self.cacheable,
        )

    @property
    def schema_hash(self) -> str:
        """sha256 over name, version and both JSON Schemas (canonical JSON)."""
        return self.spec.schema_hash

    @cached_property
    def is_async(self) -> bool:
        """True when ``fn`` is a coroutine function (its calls must be awaited)."""
        return inspect.iscoroutinefunction(self.fn)

    def __hash__(self) -> int:
        return hash((self.name, self.version, self.fn, self.input_schema, self.output_schema))


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\-.]", name) if part)


def _decorating_scope() -> dict[str, Any]:
    """Locals of the code applying ``@tool``: models defined in a function body are not
    module globals, yet string annotations (``from __future__ import annotations``)
    name them."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back  # type: ignore[assignment]
    return dict(frame.f_locals) if frame is not None else {}


def _build_tool(
    fn: Callable[..., Any],
    *,
    name: str | None,
    description: str | None,
    version: str,
    cacheable: bool,
    idempotent: bool,
    timeout_s: float | None,
) -> Tool:
    tool_name = _check_name(fn.__name__ if name is None else name)
    where = f"@tool {tool_name!r}"
    try:
        hints = typing.get_type_hints(fn, include_extras=True, localns=_decorating_scope())
    except Exception as exc:  # unresolved forward references
        raise ToolDefinitionError(
            f"{where}: cannot resolve type annotations: {exc}",
            hint="define the annotated types at module level before the function",
        ) from exc
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise ToolDefinitionError(
                f"{where}: parameter {param.name!r} is {param.kind.description}",
                hint="tool parameters become input fields: use plain named parameters",
            )
        if param.name not in hints:
            raise ToolDefinitionError(
                f"{where}: parameter {param.name!r} has no type annotation",
                hint="annotate every parameter; the annotations build the input model",
            )
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints[param.name], default)
    returned = hints.get("return")
    if not (isinstance(returned, type) and issubclass(returned, BaseModel)):
        raise ToolDefinitionError(
            f"{where}: return annotation must be a pydantic BaseModel subclass, got {returned!r}",
            hint="declare a BaseModel for the outputs; its fields become context keys",
        )
    input_model = create_model(
        f"{_camel(tool_name)}Input", __config__=ConfigDict(extra="ignore"), **fields
    )

    call: Callable[..., Any]
    if inspect.iscoroutinefunction(fn):

        async def call_async(inp: BaseModel) -> Any:
            return await fn(**inp.__dict__)

        call = call_async
    else:

        def call_sync(inp: BaseModel) -> Any:
            # The generated input model allows no extra fields: its __dict__ holds exactly
            # the function's parameters.
            return fn(**inp.__dict__)

        call = call_sync
    call.__name__ = fn.__name__
    call.__qualname__ = fn.__qualname__
    call.__doc__ = fn.__doc__
    setattr(call, "__wrapped__", fn)  # noqa: B010  (functools.wraps would copy __dict__ too)

    doc = description if description is not None else inspect.getdoc(fn) or ""
    return Tool(
        name=tool_name,
        fn=call,
        input_schema=input_model,
        output_schema=returned,
        description=doc,
        version=version,
        cacheable=cacheable,
        idempotent=idempotent,
        timeout_s=timeout_s,
    )


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    version: str = "1",
    cacheable: bool = False,
    idempotent: bool = True,
    timeout_s: float | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    version: str = "1",
    cacheable: bool = False,
    idempotent: bool = True,
    timeout_s: float | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Build a :class:`Tool` from a typed function.

    Parameters become the fields of the input model (defaults kept), the return
    annotation (a pydantic ``BaseModel``) is the output model, and the docstring is the
    description. Works on plain and ``async`` functions, bare (``@tool``) or with
    options (``@tool(name="search", version="2")``).
    """

    def build(func: Callable[..., Any]) -> Tool:
        return _build_tool(
            func,
            name=name,
            description=description,
            version=version,
            cacheable=cacheable,
            idempotent=idempotent,
            timeout_s=timeout_s,
        )

    if fn is not None:
        return build(fn)
    return build

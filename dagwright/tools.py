"""Tools: typed descriptions of the callables a flow runs.

A :class:`Tool` pairs a callable with its input and output pydantic models. The compiler
never needs the callable: it works from a :class:`ToolSpec` (name, version and the two
JSON Schemas), so a flow file can be linted without importing any tool code.
"""

from __future__ import annotations

import inspect
import keyword
import math
import re
import sys
import typing
from collections.abc import Awaitable, Callable, Mapping
from functools import cached_property
from typing import Any, overload

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
)
from pydantic.config import ExtraValues

from dagwright._execution.canonical import digest, schema_nodes
from dagwright._models import FrozenModel
from dagwright.errors import ToolDefinitionError, ToolInputError, ToolOutputError

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


# Core schema types whose validation builds every container it returns afresh: a model
# made only of these never shares a list or dict with the value it was validated from.
_COPYING = frozenset(
    {"model", "model-fields", "model-field", "int", "str", "float", "bool", "none",
     "list", "dict", "tuple", "nullable", "default", "literal"}
)  # fmt: skip


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

    @cached_property
    def validates_afresh(self) -> bool:
        """True when validating the input model builds every list and dict it holds
        anew, so the tool can never share (and mutate) a container of the caller's."""
        return all(
            node["type"] in _COPYING and "function" not in node
            for node in schema_nodes(self.input_schema.__pydantic_core_schema__)
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the tool as a function, as a step would: validate the input, call,
        validate the output, and return the output model (for an ``async`` tool, an
        awaitable of it).

        Pass the input fields by keyword (``add(a=1, b=2)``) or one input model
        (``add(AddInput(a=1, b=2))``). Invalid arguments raise ``ToolInputError``, a
        return value that does not validate ``ToolOutputError``.
        """
        inp = self._input_of(args, kwargs)
        if self.is_async:
            return self._call_async(inp)
        return self.output_model(self.fn(inp))

    async def _call_async(self, inp: BaseModel) -> BaseModel:
        return self.output_model(await self.fn(inp))

    def _input_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> BaseModel:
        schema = self.input_schema
        if args:
            if len(args) > 1 or kwargs:
                raise ToolInputError(
                    f"tool {self.name!r} takes its inputs by keyword or as one "
                    f"{schema.__name__}, got {len(args)} positional argument(s)"
                    + (" and keywords" if kwargs else ""),
                    hint=f"call it as {self.name}(field=value, ...) or with one {schema.__name__}",
                )
            (given,) = args
            if type(given) is schema:
                return given
            data = given.model_dump() if isinstance(given, BaseModel) else given
        else:
            unknown = sorted(set(kwargs) - set(schema.model_fields))
            if unknown:
                raise ToolInputError(
                    f"tool {self.name!r} has no input field(s) {', '.join(unknown)}",
                    hint=f"its inputs are: {', '.join(schema.model_fields) or 'none'}",
                )
            data = kwargs
        try:
            return schema.model_validate(data)
        except ValidationError as exc:
            raise ToolInputError(
                f"inputs of tool {self.name!r} are invalid: {validation_summary(exc)}",
                hint=f"pass values that validate against {schema.__name__}",
            ) from exc

    def output_model(self, raw: Any) -> BaseModel:
        """What the tool's function returned, as its output model: an instance of it, or
        a mapping (or another model) of its fields; anything else is ``ToolOutputError``."""
        schema = self.output_schema
        if type(raw) is schema:
            return raw
        if isinstance(raw, BaseModel):
            raw = raw.model_dump()
        if not isinstance(raw, Mapping):
            raise ToolOutputError(
                f"tool {self.name!r} returned {type(raw).__name__}, "
                f"expected {schema.__name__} or a dict of its fields",
            )
        try:
            return schema.model_validate(raw)
        except ValidationError as exc:
            raise ToolOutputError(
                f"output of tool {self.name!r} is invalid: {validation_summary(exc)}",
                hint=f"return a {schema.__name__} or a dict with exactly its fields",
            ) from exc

    def __hash__(self) -> int:
        return hash((self.name, self.version, self.fn, self.input_schema, self.output_schema))


def validation_summary(exc: ValidationError) -> str:
    """pydantic's errors in one line: ``field.path: message; ...``."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


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


def _unusable_field(name: str) -> str | None:
    """Why pydantic cannot hold a field called ``name`` (``None``: it can)."""
    if name.startswith("_"):
        return "starts with '_' (pydantic treats such names as private, not as fields)"
    if hasattr(BaseModel, name):
        return "is an attribute of pydantic's BaseModel"
    if not name.isidentifier() or keyword.iskeyword(name):
        return "is not a Python identifier"
    return None


def _model(
    where: str, model_name: str, extra: ExtraValues, fields: dict[str, Any]
) -> type[BaseModel]:
    # No protected namespaces: a real clash with BaseModel is refused by _unusable_field,
    # so names like ``model_name`` stay usable and warn nothing.
    config = ConfigDict(extra=extra, protected_namespaces=())
    try:
        return create_model(model_name, __config__=config, **fields)
    except Exception as exc:  # a type pydantic has no schema for, or refuses
        raise ToolDefinitionError(
            f"{where}: pydantic cannot build a model of its annotations: {exc}",
            hint="annotate with types pydantic validates (on Python 3.11 a TypedDict "
            "must come from typing_extensions)",
        ) from exc


def _input_fields(fn: Callable[..., Any], hints: dict[str, Any], where: str) -> dict[str, Any]:
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
        why = _unusable_field(param.name)
        if why is not None:
            raise ToolDefinitionError(
                f"{where}: parameter {param.name!r} cannot be an input field: it {why}",
                hint="rename the parameter; its name is the input field's name",
            )
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints[param.name], default)
    return fields


def _output(
    fn: Callable[..., Any], hints: dict[str, Any], where: str, tool_name: str, output: str | None
) -> tuple[type[BaseModel], str | None]:
    """The output model, and the field a plain return value is written to (``None`` when
    the function returns the model itself)."""
    returned = hints.get("return", inspect.Signature.empty)
    if isinstance(returned, type) and issubclass(returned, BaseModel):
        if output is not None:
            raise ToolDefinitionError(
                f"{where}: output={output!r} names the field of a plain return value, "
                f"but the function returns the model {returned.__name__}",
                hint="drop output=; the model's fields are the tool's outputs",
            )
        return returned, None
    if returned is inspect.Signature.empty or returned is type(None):
        raise ToolDefinitionError(
            f"{where}: the function must declare what it returns, got "
            f"{'no return annotation' if returned is inspect.Signature.empty else 'None'}",
            hint="annotate the return with a BaseModel (its fields become context keys) "
            "or a plain type such as int, written to the key @tool(output=...)",
        )
    field = fn.__name__ if output is None else output
    why = _unusable_field(field)
    if why is not None:
        raise ToolDefinitionError(
            f"{where}: output field {field!r} cannot be a field: it {why}",
            hint="name the output with @tool(output='name')",
        )
    model = _model(where, f"{_camel(tool_name)}Output", "forbid", {field: (returned, ...)})
    return model, field


def _adapter(fn: Callable[..., Any], field: str | None) -> Callable[..., Any]:
    """``Tool.fn`` for ``fn``: takes the input model, returns what the output model
    validates (a plain return value wrapped in a one-field dict)."""
    call: Callable[..., Any]
    if inspect.iscoroutinefunction(fn):

        async def call_async(inp: BaseModel) -> Any:
            value = await fn(**inp.__dict__)
            return value if field is None else {field: value}

        call = call_async
    else:

        def call_sync(inp: BaseModel) -> Any:
            # The generated input model allows no extra fields: its __dict__ holds exactly
            # the function's parameters.
            value = fn(**inp.__dict__)
            return value if field is None else {field: value}

        call = call_sync
    call.__name__ = fn.__name__
    call.__qualname__ = fn.__qualname__
    call.__doc__ = fn.__doc__
    setattr(call, "__wrapped__", fn)  # noqa: B010  (functools.wraps would copy __dict__ too)
    return call


def _build_tool(
    fn: Callable[..., Any],
    *,
    name: str | None,
    description: str | None,
    version: str,
    cacheable: bool,
    idempotent: bool,
    timeout_s: float | None,
    output: str | None,
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
    fields = _input_fields(fn, hints, where)
    output_model, field = _output(fn, hints, where, tool_name, output)
    input_model = _model(where, f"{_camel(tool_name)}Input", "ignore", fields)
    doc = description if description is not None else inspect.getdoc(fn) or ""
    return Tool(
        name=tool_name,
        fn=_adapter(fn, field),
        input_schema=input_model,
        output_schema=output_model,
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
    output: str | None = None,
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
    output: str | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Build a :class:`Tool` from a typed function.

    Parameters become the fields of the input model (defaults kept), the return
    annotation (a pydantic ``BaseModel``) is the output model, and the docstring is the
    description. Any other return annotation (``int``, ``list[str]``, a ``TypedDict``)
    makes a one-field output model; ``output`` names that field, by default the
    function's name. The tool stays callable: ``add(a=1, b=2)`` returns the output model.
    Works on plain and ``async`` functions, bare (``@tool``) or with
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
            output=output,
        )

    if fn is not None:
        return build(fn)
    return build

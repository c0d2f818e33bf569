"""An MCP server tool's description as the pieces of a dagwright ``Tool``.

* **Names.** MCP allows tool names a dagwright tool name does not (``2fast``, ``a/b``).
  :func:`tool_name` maps them deterministically: every character other than a letter,
  digit, ``_``, ``-`` or ``.`` becomes ``_``, and a name that does not start with a
  letter or ``_`` gets a ``_`` in front (``2fast`` -> ``_2fast``). Valid names are kept
  as they are. Two server tools that map to one name are refused at connect.
* **Schemas.** The input model's and the output model's ``model_json_schema()`` return
  the server's advertised schemas unchanged, so a ``ToolSpec`` built from the ``Tool``
  (and a manifest, and linting) sees exactly what the server declares. Values are
  validated against those schemas with ``jsonschema``.
* **Idempotency.** :func:`idempotent` reads the tool's annotations (hints).
"""

from __future__ import annotations

import copy
import keyword
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from jsonschema import SchemaError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from pydantic import BaseModel, ConfigDict, create_model, model_validator
from pydantic_core import PydanticCustomError

from dagwright.errors import MCPSchemaError

_INVALID = re.compile(r"[^A-Za-z0-9_.\-]")


def tool_name(name: str) -> str:
    """The dagwright name of the server tool ``name`` (see the module docstring)."""
    mapped = _INVALID.sub("_", name) or "_"
    if not (mapped[0].isascii() and (mapped[0].isalpha() or mapped[0] == "_")):
        mapped = "_" + mapped
    return mapped


def idempotent(annotations: Any) -> bool:
    """Whether a call may be repeated safely, from the tool's MCP annotations.

    ``idempotentHint`` decides when given; else ``destructiveHint: true`` or
    ``readOnlyHint: false`` make the tool not idempotent; else (read-only, or no
    hints) it is, dagwright's default.
    """
    if annotations is None:
        return True
    if annotations.idempotent_hint is not None:
        return bool(annotations.idempotent_hint)
    return not (annotations.destructive_hint is True or annotations.read_only_hint is False)


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]", name) if part)


def _usable(name: str) -> bool:
    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and not name.startswith("_")
        and not hasattr(SchemaModel, name)  # BaseModel's and SchemaModel's own names
    )


class SchemaModel(BaseModel):
    """A model whose JSON Schema is a given document and whose values are checked
    against it with ``jsonschema`` (extra keys are kept: the schema decides)."""

    model_config = ConfigDict(extra="allow", frozen=True, protected_namespaces=())

    mcp_schema: ClassVar[dict[str, Any]] = {}
    mcp_validator: ClassVar[Validator | None] = None
    mcp_keep: ClassVar[frozenset[str] | None] = None

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> Any:
        if isinstance(data, BaseModel):
            data = data.model_dump(mode="json", exclude_unset=True)
        if not isinstance(data, Mapping):
            raise PydanticCustomError(
                "json_schema", "expected an object, got {kind}", {"kind": type(data).__name__}
            )
        validator = cls.mcp_validator
        error = None if validator is None else best_match(validator.iter_errors(dict(data)))
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path) or "(root)"
            raise PydanticCustomError(
                "json_schema", "{where}: {message}", {"where": where, "message": error.message}
            )
        keep = cls.mcp_keep
        return dict(data) if keep is None else {k: v for k, v in data.items() if k in keep}

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The advertised JSON Schema (a fresh copy)."""
        return copy.deepcopy(cls.mcp_schema)


def _validator(schema: dict[str, Any], *, server: str, what: str) -> Validator:
    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise MCPSchemaError(
            f"MCP server {server!r}: {what} is not a valid JSON Schema: {exc.message}",
            server=server,
            hint="fix the schema the server advertises",
        ) from None
    return cls(schema)


def input_model(name: str, schema: dict[str, Any], *, server: str) -> type[BaseModel]:
    """The input model of tool ``name``: the advertised ``inputSchema`` as its JSON
    Schema; each property with a usable field name is a field (so the tool can be called
    with keywords), required ones required; the dump to send is
    ``model_dump(mode="json", exclude_unset=True)``."""
    validator = _validator(schema, server=server, what=f"the input schema of tool {name!r}")
    properties = schema.get("properties")
    required = schema.get("required")
    needed = set(required) if isinstance(required, list) else set()
    fields: dict[str, Any] = {}
    if isinstance(properties, Mapping):
        for key in properties:
            if isinstance(key, str) and _usable(key):
                fields[key] = (Any, ... if key in needed else None)
    try:
        model = create_model(f"{_camel(name)}Input", __base__=SchemaModel, **fields)
    except Exception as exc:  # a property name pydantic refuses after all
        raise MCPSchemaError(
            f"MCP server {server!r}: cannot model the input schema of tool {name!r}: {exc}",
            server=server,
        ) from exc
    model.mcp_schema = copy.deepcopy(schema)
    model.mcp_validator = validator
    return model


class TextOutput(BaseModel):
    """The output of an MCP tool without an output schema: its text content."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str


def output_model(
    name: str, schema: dict[str, Any] | None, *, server: str
) -> tuple[type[BaseModel], str]:
    """The output model of tool ``name`` and how results map to it.

    ``"structured"``: the advertised ``outputSchema`` (an object schema) is the model's
    JSON Schema; the structured content is validated against it and its declared
    properties are the outputs (keys it does not declare are dropped: the compiler
    only knows the declared ones). ``"wrapped"``: an output schema whose root is not an
    object becomes ``{"result": <schema>}``. ``"text"``: no output schema, the model is
    ``{text: str}``, the text content joined by newlines.
    """
    if schema is None:
        return TextOutput, "text"
    kind = "structured"
    if schema.get("type") != "object" and "properties" not in schema:
        schema = {"type": "object", "properties": {"result": schema}, "required": ["result"]}
        kind = "wrapped"
    validator = _validator(schema, server=server, what=f"the output schema of tool {name!r}")
    model = create_model(f"{_camel(name)}Output", __base__=SchemaModel)
    model.mcp_schema = copy.deepcopy(schema)
    model.mcp_validator = validator
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        model.mcp_keep = frozenset(properties)
    return model, kind


def check_output(model: type[BaseModel], value: Any) -> str | None:
    """Why ``value`` breaks ``model``'s advertised schema (``None``: it does not)."""
    if not issubclass(model, SchemaModel) or model.mcp_validator is None:
        return None
    error = best_match(model.mcp_validator.iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"

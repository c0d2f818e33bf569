"""The public API as data: every public name of dagwright's public modules, with its
signature. ``python -m tests.api_snapshot`` (``make api-snapshot``) writes it to
``tests/fixtures/public_api.json``; ``tests/test_public_api.py`` fails when the package
no longer matches that file, so an API change is always made on purpose.

A module's public names are its ``__all__`` or, without one, the classes, functions and
upper-case constants it defines whose names do not start with ``_``. A class is listed
with its constructor's signature, its public bases and each public member that a
dagwright class defines (methods with their signatures, properties, fields, class
constants); members inherited from pydantic, ``tuple`` or ``Exception`` are left out.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import re
import sys
import types
from pathlib import Path
from typing import Any

MODULES = (
    "dagwright",
    "dagwright.cache",
    "dagwright.checkpoint",
    "dagwright.cli",
    "dagwright.compiler",
    "dagwright.errors",
    "dagwright.events",
    "dagwright.flows",
    "dagwright.integrations.langchain",
    "dagwright.integrations.openai_agents",
    "dagwright.integrations.pydantic_ai",
    "dagwright.io",
    "dagwright.mcp",
    "dagwright.mining",
    "dagwright.profiling",
    "dagwright.results",
    "dagwright.runners",
    "dagwright.tools",
    "dagwright.traces",
)

SNAPSHOT = Path(__file__).resolve().parent / "fixtures" / "public_api.json"

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_FORWARD = re.compile(r"ForwardRef\(('[^']*')[^)]*\)")


def _text(value: str) -> str:
    """Text that does not change between runs or Python versions: no addresses, and
    ``ForwardRef('int')`` written as the annotation's text."""
    return _FORWARD.sub(r"\1", _ADDRESS.sub("", value))


def signature(obj: Any) -> str | None:
    """``obj``'s call signature as text, or ``None`` when it has none."""
    try:
        return _text(str(inspect.signature(obj)))
    except (TypeError, ValueError):
        return None


def _public_names(module: types.ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is not None:
        return sorted(names)
    found = []
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        defined_here = getattr(value, "__module__", None) == module.__name__
        kind_ok = inspect.isclass(value) or inspect.isfunction(value)
        if (kind_ok and defined_here) or name.isupper():
            found.append(name)
    return sorted(found)


def _ours(cls: type) -> bool:
    return cls.__module__.split(".")[0] == "dagwright"


def _member(value: Any) -> dict[str, Any]:
    if isinstance(value, property | types.MemberDescriptorType):
        return {"kind": "property"}
    if hasattr(value, "func") and type(value).__name__ == "cached_property":
        return {"kind": "property"}
    if isinstance(value, classmethod | staticmethod):
        return {"kind": type(value).__name__, "signature": signature(value.__func__)}
    if inspect.isfunction(value):
        return {"kind": "method", "signature": signature(value)}
    return _constant(value)


def _constant(value: Any) -> dict[str, Any]:
    if value is None or isinstance(value, bool | int | float | str):
        return {"kind": "constant", "value": value}
    if isinstance(value, tuple | frozenset) and all(isinstance(v, str) for v in value):
        return {"kind": "constant", "value": sorted(value)}
    return {"kind": "constant", "type": type(value).__name__}


def _fields(cls: type) -> list[str] | None:
    model_fields = getattr(cls, "model_fields", None)
    if isinstance(model_fields, dict):
        return list(model_fields)
    if dataclasses.is_dataclass(cls):
        return [field.name for field in dataclasses.fields(cls)]
    named = getattr(cls, "_fields", None)
    if isinstance(named, tuple) and issubclass(cls, tuple):
        return list(named)
    return None


def describe_class(cls: type) -> dict[str, Any]:
    """A class: constructor signature, public bases, fields and its own public members."""
    rebuild = getattr(cls, "model_rebuild", None)
    if rebuild is not None:  # a deferred pydantic model has no signature until it is built
        rebuild()
    members: dict[str, Any] = {}
    fields = _fields(cls)
    for klass in reversed(cls.__mro__):
        if not _ours(klass):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") and name not in ("__call__", "__enter__", "__aenter__"):
                continue
            if name in ("model_config", "model_fields", "model_computed_fields"):
                continue
            if fields is not None and name in fields:
                continue  # listed under "fields"
            members[name] = _member(value)
    data: dict[str, Any] = {
        "kind": "class",
        "bases": [b.__qualname__ for b in cls.__mro__[1:] if b is not object and
                  (_ours(b) or b.__module__ == "builtins")],
        "signature": signature(cls),
    }  # fmt: skip
    if fields is not None:
        data["fields"] = fields
    data["members"] = dict(sorted(members.items()))
    return data


def describe(value: Any) -> dict[str, Any]:
    """One public name."""
    if inspect.isclass(value):
        return describe_class(value)
    if callable(value) and not hasattr(value, "__origin__"):
        return {"kind": "function", "signature": signature(value)}
    if isinstance(value, types.ModuleType):
        return {"kind": "module"}
    if hasattr(value, "__origin__") or type(value).__module__ == "typing":
        return {"kind": "type", "value": _text(repr(value))}
    return _constant(value)


def snapshot() -> dict[str, Any]:
    """Every public module's public names, described."""
    api: dict[str, Any] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        api[name] = {attr: describe(getattr(module, attr)) for attr in _public_names(module)}
    return api


def render() -> str:
    """The snapshot as the text of ``tests/fixtures/public_api.json``."""
    return json.dumps(snapshot(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    text = render()
    scratch = SNAPSHOT.with_suffix(".json.tmp")
    scratch.write_text(text, encoding="utf-8")
    scratch.replace(SNAPSHOT)
    print(f"wrote {SNAPSHOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

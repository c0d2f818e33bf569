"""How the driver names a tool to the workers: by reference when it can, by value else.

A tool defined at module level in an importable module (``@tool`` on a function of
``mytools.search`` makes ``mytools.search`` the tool) travels as ``module:attribute``
and is imported on each worker: its module-level state is built there, as for any
function Dask runs. A tool the workers could not find by name (defined in ``__main__``,
a notebook, a file loaded by path such as ``dagwright run --tools tools.py``, or built
at run time) is cloudpickled once, its module's code with it, and sent by value.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

from dagwright.errors import ToolUnavailableError
from dagwright.runners._remote import ToolRef
from dagwright.tools import Tool


def tool_ref(tool: Tool) -> ToolRef:
    """The :data:`ToolRef` of ``tool``; ``ToolUnavailableError`` when it must go by value
    and cannot be pickled."""
    found = _reference(tool)
    if found is not None:
        return tool.name, tool.schema_hash, found[0], found[1], None, None
    import cloudpickle

    module = _unfindable_module(tool)
    if module is not None:  # found by name here only: its code must travel too
        cloudpickle.register_pickle_by_value(module)
    try:
        blob = bytes(cloudpickle.dumps(tool, protocol=5))
    except Exception as exc:
        raise ToolUnavailableError(
            f"tool {tool.name!r} cannot be pickled to send to the workers: "
            f"{type(exc).__name__}: {exc}",
            hint="define the tool at module level in a module the workers can import, or "
            "keep unpicklable objects (locks, open files, clients) out of its function",
        ) from exc
    finally:
        if module is not None:
            cloudpickle.unregister_pickle_by_value(module)
    digest = hashlib.sha256(blob).hexdigest()
    return tool.name, tool.schema_hash, None, None, digest, blob


def _reference(tool: Tool) -> tuple[str, str] | None:
    """``(module, attribute)`` under which the workers would import this very tool."""
    target = getattr(tool.fn, "__wrapped__", tool.fn)
    name = getattr(target, "__module__", None)
    if not isinstance(name, str) or name == "__main__":
        return None
    module = sys.modules.get(name)
    if module is None or not _on_path(name):
        return None
    qualname = getattr(target, "__qualname__", "")
    if isinstance(qualname, str) and qualname and "<" not in qualname:
        value: Any = module
        for part in qualname.split("."):
            value = getattr(value, part, None)
        if value is tool:
            return name, qualname
    for attribute, value in vars(module).items():
        if value is tool:
            return name, attribute
    return None


def _on_path(name: str) -> bool:
    """Whether a process with this ``sys.path`` finds module ``name`` by its name (a
    module loaded from a file under a made-up name is not found)."""
    top = name.partition(".")[0]
    if top in sys.builtin_module_names:
        return True
    return importlib.machinery.PathFinder.find_spec(top, sys.path) is not None


def _unfindable_module(tool: Tool) -> ModuleType | None:
    """The tool's module when it is loaded here but would not be found by name."""
    target = getattr(tool.fn, "__wrapped__", tool.fn)
    name = getattr(target, "__module__", None)
    if not isinstance(name, str) or name == "__main__":
        return None
    module = sys.modules.get(name)
    if module is None or _on_path(name):
        return None
    return module

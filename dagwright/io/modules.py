"""Importing tools by name: modules of tools, and ``module:attribute`` tool paths.

What is imported, and how:

* A **dotted name** (``myapp.tools``) is imported with :func:`importlib.import_module`,
  so it must be importable from :data:`sys.path`. Python puts the working directory
  there for ``python -m``, but not for console scripts: a caller that wants those
  semantics (the ``dagwright`` command does) puts the working directory on
  ``sys.path`` itself, once, and it stays there for calls made later.
* A **path to a .py file** (``tools/search.py``, anything ending in ``.py`` or holding a
  path separator) is imported under a module name of its own,
  ``dagwright_tools_<stem>_<digest of the absolute path>``: it can never replace a
  module of the application that has the same file name, and importing the same file
  again returns the module already imported. While it runs, the file's directory is
  first on ``sys.path`` (as for ``python file.py``), so it can import the modules next
  to it; afterwards ``sys.path`` is as it was, and those modules stay imported.
* ``search_path`` directories are first on ``sys.path`` while importing, in order, and
  removed afterwards; use it for directories needed only to import.

Any exception raised by the import (``SyntaxError``, ``ImportError``, an error in the
module's own code, even ``SystemExit``) becomes a
:class:`~dagwright.errors.ToolImportError` naming the module, with the original chained
as ``__cause__`` and shown in the message's one line. ``KeyboardInterrupt`` is not
caught.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from dagwright.errors import ToolImportError
from dagwright.tools import Tool

SearchPath = Sequence[str | os.PathLike[str]]

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_PATH_LOCK = threading.RLock()
_DECORATE = "decorate its functions with @dagwright.tool"


def _is_file(target: str) -> bool:
    return target.endswith(".py") or "/" in target or os.sep in target


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


@contextmanager
def _on_sys_path(directories: Sequence[str]) -> Iterator[None]:
    """``directories`` first on ``sys.path`` for the duration, then removed (only the
    entries added, whatever the imported code did to ``sys.path`` meanwhile)."""
    with _PATH_LOCK:
        added = [d for d in dict.fromkeys(directories) if d not in sys.path]
        sys.path[:0] = added
        try:
            yield
        finally:
            for directory in added:
                if directory in sys.path:
                    sys.path.remove(directory)


def _file_module_name(path: Path) -> str:
    stem = re.sub(r"\W", "_", path.stem)
    tag = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    return f"dagwright_tools_{stem}_{tag}"


def _import_file(target: str) -> ModuleType:
    path = Path(target).resolve()
    if not path.is_file():
        raise ToolImportError(
            f"cannot import tools file {target!r}: no such file",
            target=target,
            hint="give a path to a .py file, or a dotted module name such as myapp.tools",
        )
    name = _file_module_name(path)
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ToolImportError(
            f"cannot import tools file {target!r}: not a Python source file",
            target=target,
            hint="give a path to a .py file",
        )
    module = importlib.util.module_from_spec(spec)
    # In sys.modules while it runs, as any import: pydantic and dataclasses find a
    # class's module there to resolve its annotations.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _import(target: str, search_path: SearchPath | None) -> ModuleType:
    """Import ``target`` (a dotted name or a .py file); errors as ToolImportError."""
    is_file = _is_file(target)
    if not is_file and not _DOTTED.match(target):
        raise ToolImportError(
            f"cannot import tools module {target!r}: not a dotted module name or a path "
            "to a .py file",
            target=target,
            hint="write a module as myapp.tools, a file as path/to/tools.py",
        )
    directories = [os.fspath(d) for d in search_path or ()]
    if is_file:
        directories.append(str(Path(target).resolve().parent))
    kind = "file" if is_file else "module"
    try:
        with _on_sys_path(directories):
            return _import_file(target) if is_file else importlib.import_module(target)
    except ToolImportError:
        raise
    except (Exception, SystemExit) as exc:
        raise ToolImportError(
            f"cannot import tools {kind} {target!r}: {_one_line(exc)}",
            target=target,
            hint=_import_hint(target, exc, is_file),
        ) from exc


def _import_hint(target: str, exc: BaseException, is_file: bool) -> str:
    if isinstance(exc, ModuleNotFoundError) and not is_file:
        missing = exc.name or ""
        if target == missing or target.startswith(f"{missing}."):
            return (
                f"{missing!r} is not on sys.path: run from the project's root directory, "
                "install the package, or give the path to the .py file"
            )
        return f"the module imports {missing!r}, which is not installed in this environment"
    if isinstance(exc, SystemExit):
        return "the module exits when imported: guard script code with if __name__ == '__main__'"
    return "fix the error in the module: importing it must succeed without side effects"


def _tools_of(module: ModuleType) -> list[tuple[str, Tool]]:
    return [(attr, value) for attr, value in vars(module).items() if isinstance(value, Tool)]


def _origin(tool: Tool) -> tuple[str, int, str] | None:
    """Where the tool's function is defined (file, line, qualified name), if known."""
    fn = inspect.unwrap(tool.fn)
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    return (code.co_filename, code.co_firstlineno, getattr(fn, "__qualname__", ""))


def _same_tool(a: Tool, b: Tool) -> bool:
    """One tool reached twice: the same object, or the same definition imported twice
    (a file imported by path and again by a neighbour under its plain module name)."""
    if a is b or a == b:
        return True
    origin = _origin(a)
    return origin is not None and origin == _origin(b) and a.spec == b.spec


def import_tools(modules: Sequence[str], *, search_path: SearchPath | None = None) -> list[Tool]:
    """Every :class:`~dagwright.tools.Tool` found as an attribute of ``modules``, sorted by
    name.

    Each entry is a dotted module name (``myapp.tools``) or a path to a ``.py`` file;
    see the module docstring for how each is imported and what ``search_path`` does.
    Tools that a module imports from another count as its own (a module of re-exports
    works). The same tool found twice (two attributes, two modules, or one definition
    imported twice: same function source and same spec) is listed once.

    Raises :class:`~dagwright.errors.ToolImportError` (``target`` the module) when a
    module cannot be imported, when it holds no tool, and when two different tools have
    one name (the message names both modules: a flow could not tell them apart).
    """
    found: dict[str, tuple[Tool, str]] = {}
    for target in modules:
        module = _import(target, search_path)
        tools = _tools_of(module)
        if not tools:
            raise ToolImportError(
                f"tools module {target!r} holds no Tool",
                target=target,
                hint=f"{_DECORATE}, or name the module that defines the tools",
            )
        for attr, tool in tools:
            where = f"{target}:{attr}"
            seen = found.setdefault(tool.name, (tool, where))
            if not _same_tool(seen[0], tool):
                raise ToolImportError(
                    f"two different tools are named {tool.name!r}: {seen[1]} and {where}",
                    target=target,
                    hint="give each tool a unique name with @tool(name=...), or import "
                    "only one of the modules",
                )
    return [found[name][0] for name in sorted(found)]


def import_tool_paths(
    mapping: Mapping[str, str], *, search_path: SearchPath | None = None
) -> list[Tool]:
    """The tools named by ``mapping`` (tool name -> ``"module:attr"``), sorted by name.

    ``module`` is a dotted name or a ``.py`` file path, imported as by
    :func:`import_tools`; ``attr`` may be dotted (``myapp.tools:registry.search``). The
    attribute must be a :class:`~dagwright.tools.Tool` (a function decorated with
    ``@tool`` is one), and the tool's own name must equal its key: the key is the name
    the flow's steps call, and lint, manifests and ``schema_hash`` all know a tool by its
    own name, so an alias here would make a file that runs but does not lint. A mismatch
    is refused rather than renamed.

    Raises :class:`~dagwright.errors.ToolImportError` (``target`` the tool path) for a
    malformed path, a module that cannot be imported, a missing attribute, an attribute
    that is not a ``Tool``, and a name that differs from its key.
    """
    tools: dict[str, Tool] = {}
    for key in sorted(mapping):
        tools[key] = _resolve_path(key, mapping[key], search_path)
    return list(tools.values())


def _resolve_path(key: str, target: str, search_path: SearchPath | None) -> Tool:
    if not isinstance(target, str) or ":" not in target:
        raise ToolImportError(
            f"tool {key!r}: {target!r} is not a tool path",
            target=str(target),
            hint="write it as module:attribute, such as myapp.tools:search",
        )
    module_name, _, attr_path = target.rpartition(":")
    if not module_name or not _DOTTED.match(attr_path):
        raise ToolImportError(
            f"tool {key!r}: {target!r} is not a tool path",
            target=target,
            hint="write it as module:attribute, such as myapp.tools:search",
        )
    module = _import(module_name, search_path)
    value: object = module
    walked = module_name
    for part in attr_path.split("."):
        if not hasattr(value, part):
            names = [n for n in dir(value) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            tip = f"did you mean {close[0]!r}? " if close else ""
            raise ToolImportError(
                f"tool {key!r}: {walked!r} has no attribute {part!r}",
                target=target,
                hint=f"{tip}check the path {target!r}",
            )
        value = getattr(value, part)
        walked = f"{walked}.{part}" if walked != module_name else f"{module_name}:{part}"
    if not isinstance(value, Tool):
        what = (
            "a plain function"
            if inspect.isfunction(value)
            else f"a plain callable ({type(value).__name__})"
            if callable(value)
            else f"a {type(value).__name__}"
        )
        raise ToolImportError(
            f"tool {key!r}: {target!r} is {what}, not a Tool",
            target=target,
            hint="decorate the function with @dagwright.tool"
            if callable(value)
            else "point the path at a Tool (a function decorated with @dagwright.tool)",
        )
    if value.name != key:
        raise ToolImportError(
            f"tool {key!r}: {target!r} is the tool named {value.name!r}",
            target=target,
            hint=f"use the tool's own name as the key (and in the steps' tool:), "
            f"or name the tool {key!r} with @tool(name={key!r})",
        )
    return value

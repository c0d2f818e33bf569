"""The import contract of the pure core, checked on the AST.

``dagwright/_execution/`` must do no I/O, read no clock, use no randomness, threads,
asyncio, subprocesses or network. :func:`check_modules` parses the given files, follows
every import of a module inside the package (absolute ``dagwright.x.y`` or relative) to
its file, transitively, and reports every banned import and banned call in every file
it reaches.

What is followed: the module an import names (``import dagwright.a.b`` reaches
``a/b.py`` or ``a/b/__init__.py``; ``from dagwright.a import b`` reaches ``a/b`` when it
is a module, else ``a/__init__.py``). Parent packages that Python executes implicitly on
the way (``dagwright/__init__.py`` for ``dagwright.a.b``) are not followed: the contract
is about what the core itself uses. Imports under ``if TYPE_CHECKING:`` (or
``if typing.TYPE_CHECKING:``) are neither checked nor followed; their ``else:`` branch is.
An in-package import that resolves to no file is reported, so nothing escapes unchecked.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

BANNED_MODULES = frozenset(
    {
        "socket",
        "http",
        "urllib",
        "ssl",
        "subprocess",
        "random",
        "secrets",
        "uuid",
        "time",
        "datetime",
        "threading",
        "asyncio",
        "concurrent",
        "multiprocessing",
        "selectors",
        "signal",
    }
)
"""Top-level modules the core may not import."""

BANNED_OS_NAMES = frozenset({"urandom", "getrandom", "system", "popen"})
"""Functions of ``os`` the core may not call or import."""

BANNED_MODULE_PREFIXES = ("time.", "uuid.", "random.", "secrets.")
"""Every function of these modules is banned (``time.*``, ``uuid.*``, ...)."""

BANNED_BUILTINS = frozenset(
    {"open", "print", "input", "eval", "exec", "breakpoint", "compile", "__import__"}
)
"""Builtins the core may not call (``compile`` and ``__import__`` close the obvious
back doors around the other rules)."""

BANNED_DOTTED = frozenset({"importlib.import_module", "builtins.__import__"})

# (class, method) pairs that read the clock, however ``datetime`` was imported.
CLOCK_METHODS = frozenset(
    {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}
)


@dataclass(frozen=True)
class Violation:
    """One breach of the contract: where it is and what it is."""

    file: Path
    line: int
    what: str
    via: tuple[Path, ...] = field(default=(), compare=False)
    """The import chain from a root file to ``file`` (empty for a root file)."""

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}: {self.what}"
        if self.via:
            text += "  (reached via " + " -> ".join(p.name for p in self.via) + ")"
        return text


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return (
        isinstance(test, ast.Attribute)
        and test.attr == "TYPE_CHECKING"
        and isinstance(test.value, ast.Name)
        and test.value.id in ("typing", "typing_extensions")
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` except those under an ``if TYPE_CHECKING:`` body."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(reversed(node.orelse))
            stack.append(node.test)
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _type_checking_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for inner in node.body:
                for sub in ast.walk(inner):
                    if isinstance(sub, ast.Import | ast.ImportFrom):
                        yield sub


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"]; None when the chain does not start at a name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _bound_names(tree: ast.AST) -> set[str]:
    """Names the module binds itself (parameters, assignments, defs): these shadow builtins."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


class _FileChecker:
    def __init__(self, path: Path, tree: ast.Module, module: str | None, package: str) -> None:
        self.path = path
        self.tree = tree
        self.module = module  # dotted name of this file's module, None if outside the package
        self.package = package
        self.is_package_init = path.name == "__init__.py"
        self.aliases: dict[str, str] = {}  # local name -> qualified name, from imports
        self.violations: list[tuple[int, str]] = []
        # In-package imports to follow: (line, candidate module names, best first).
        self.imported_modules: list[tuple[int, tuple[str, ...]]] = []

    # -- imports --------------------------------------------------------------------

    def resolve_relative(self, level: int, module: str | None) -> str | None:
        if self.module is None:
            return None
        parts = self.module.split(".")
        if not self.is_package_init:
            parts = parts[:-1]
        if level - 1 > len(parts) - 1:
            return None
        if level > 1:
            parts = parts[: len(parts) - (level - 1)]
        if module:
            parts = [*parts, *module.split(".")]
        return ".".join(parts)

    def in_package(self, name: str) -> bool:
        return name == self.package or name.startswith(self.package + ".")

    def record_aliases(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    self.aliases[top] = top
            return
        base = node.module or ""
        if node.level:
            base = self.resolve_relative(node.level, node.module) or base
        for alias in node.names:
            if alias.name != "*":
                self.aliases[alias.asname or alias.name] = f"{base}.{alias.name}"

    def check_import(self, node: ast.Import | ast.ImportFrom) -> None:
        line = node.lineno
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in BANNED_MODULES:
                    self.violations.append((line, f"imports banned module `{alias.name}`"))
                if self.in_package(alias.name):
                    self.imported_modules.append((line, (alias.name,)))
            return

        if node.level:
            base = self.resolve_relative(node.level, node.module)
            if base is None:
                dots = "." * node.level
                self.violations.append(
                    (line, f"relative import `{dots}{node.module or ''}` cannot be resolved")
                )
                return
        else:
            base = node.module or ""
        top = base.split(".")[0]
        if top in BANNED_MODULES:
            self.violations.append((line, f"imports from banned module `{base}`"))
        if base == "os":
            for alias in node.names:
                if alias.name in BANNED_OS_NAMES or alias.name == "*":
                    self.violations.append((line, f"imports banned `os.{alias.name}`"))
        if self.in_package(base):
            for alias in node.names:
                # `from pkg import sub` names a submodule when one exists; the resolver
                # falls back to `pkg` itself when `sub` is just an attribute of it.
                self.imported_modules.append((line, (f"{base}.{alias.name}", base)))

    # -- calls ----------------------------------------------------------------------

    def qualify(self, parts: list[str]) -> str | None:
        head = parts[0]
        if head not in self.aliases:
            return None
        return ".".join([self.aliases[head], *parts[1:]])

    def check_reference(self, node: ast.Attribute | ast.Name, called: bool) -> bool:
        """Report a banned use; True when reported (so the chain is not re-reported)."""
        parts = _dotted(node)
        if parts is None:
            return False
        raw = ".".join(parts)
        qualified = self.qualify(parts)
        verb = "calls" if called else "uses"
        if qualified is not None:
            banned = (
                qualified.startswith(BANNED_MODULE_PREFIXES)
                or qualified in BANNED_DOTTED
                or (qualified.startswith("builtins.") and qualified[9:] in BANNED_BUILTINS)
                or (
                    qualified.startswith("os.")
                    and qualified.count(".") == 1
                    and qualified[3:] in BANNED_OS_NAMES
                )
                or (
                    len(qualified.split(".")) >= 2
                    and tuple(qualified.split(".")[-2:]) in CLOCK_METHODS
                    and qualified.startswith("datetime.")
                )
            )
            if banned:
                shown = raw if raw == qualified else f"{raw}` (`{qualified}`"
                self.violations.append((node.lineno, f"{verb} banned `{shown}`"))
                return True
        if called and len(parts) >= 2 and tuple(parts[-2:]) in CLOCK_METHODS:
            self.violations.append((node.lineno, f"calls banned `{raw}` (reads the clock)"))
            return True
        return False

    # -- the walk -------------------------------------------------------------------

    def run(self) -> None:
        # TYPE_CHECKING imports are neither checked nor followed, but their names still
        # resolve, so a runtime call through one of them is caught.
        for hidden in _type_checking_imports(self.tree):
            self.record_aliases(hidden)
        runtime = list(_runtime_nodes(self.tree))
        for statement in runtime:
            if isinstance(statement, ast.Import | ast.ImportFrom):
                self.record_aliases(statement)
                self.check_import(statement)

        shadowed = _bound_names(self.tree) | set(self.aliases)
        reported: set[int] = set()  # ids of attribute chains already reported
        call_funcs = {id(call.func) for call in runtime if isinstance(call, ast.Call)}
        for node in runtime:
            if id(node) in reported:
                continue
            called = id(node) in call_funcs
            if isinstance(node, ast.Attribute):
                if self.check_reference(node, called):
                    inner: ast.expr = node.value
                    while isinstance(inner, ast.Attribute):
                        reported.add(id(inner))
                        inner = inner.value
                    reported.add(id(inner))
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in self.aliases:
                    self.check_reference(node, called)
                elif called and node.id in BANNED_BUILTINS and node.id not in shadowed:
                    self.violations.append((node.lineno, f"calls banned builtin `{node.id}()`"))


def _module_name(path: Path, package_root: Path, package: str) -> str | None:
    try:
        relative = path.resolve().relative_to(package_root.resolve())
    except ValueError:
        return None
    parts = list(relative.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def _module_file(name: str, package_root: Path, package: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != package:
        return None
    base = package_root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py") if parts[1:] else None, base / "__init__.py"):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def check_modules(
    root_files: Iterable[Path], package_root: Path, package: str = "dagwright"
) -> list[Violation]:
    """Check ``root_files`` and every in-package module they reach; return the breaches.

    ``package_root`` is the directory of the package named ``package`` (the one holding
    its ``__init__.py``). Violations are sorted by file and line.
    """
    violations: list[Violation] = []
    queue: list[tuple[Path, tuple[Path, ...]]] = [(Path(p), ()) for p in root_files]
    seen: set[Path] = set()
    while queue:
        path, via = queue.pop(0)
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, filename=str(path))
        except (OSError, SyntaxError, ValueError) as exc:
            violations.append(Violation(path, getattr(exc, "lineno", None) or 0, f"{exc}", via))
            continue
        checker = _FileChecker(path, tree, _module_name(path, package_root, package), package)
        checker.run()
        violations.extend(Violation(path, line, what, via) for line, what in checker.violations)
        for line, candidates in checker.imported_modules:
            found = None
            for name in candidates:
                found = _module_file(name, package_root, package)
                if found is not None:
                    break
            if found is None:
                violations.append(
                    Violation(
                        path,
                        line,
                        f"imports `{candidates[-1]}`, which has no file under {package_root}",
                        via,
                    )
                )
                continue
            queue.append((found, (*via, path)))
    return sorted(violations, key=lambda v: (str(v.file), v.line, v.what))

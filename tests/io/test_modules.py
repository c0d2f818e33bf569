"""Importing tools from modules, files and module:attribute paths."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagwright import Tool, ToolImportError
from dagwright.io import import_tool_paths, import_tools

TOOLS_SOURCE = """
from pydantic import BaseModel
from dagwright import tool

class Out(BaseModel):
    value: int

@tool
def beta(n: int) -> Out:
    '''Beta.'''
    return Out(value=n)

@tool
def alpha(n: int) -> Out:
    '''Alpha.'''
    return Out(value=n)

also_alpha = alpha

def helper(n: int) -> int:
    return n

class Box:
    inner = beta
"""


def _write(directory: Path, relative: str, source: str) -> Path:
    path = directory / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory with a package named after the test (unique in this process), and
    sys.path / sys.modules restored afterwards."""
    package = f"pkg_{tmp_path.name.replace('-', '_')}"
    _write(tmp_path, f"{package}/__init__.py", "")
    _write(tmp_path, f"{package}/tools.py", TOOLS_SOURCE)
    path_before = list(sys.path)
    modules_before = set(sys.modules)
    yield tmp_path, package
    sys.path[:] = path_before
    for name in set(sys.modules) - modules_before:
        del sys.modules[name]


def test_a_dotted_module_gives_its_tools_sorted_by_name_once_each(
    project: tuple[Path, str],
) -> None:
    root, package = project
    before = list(sys.path)
    tools = import_tools([f"{package}.tools"], search_path=[root])
    assert [t.name for t in tools] == ["alpha", "beta"]
    assert all(isinstance(t, Tool) for t in tools)
    assert sys.path == before  # search_path is on sys.path only while importing


def test_a_module_not_on_the_path_is_a_tool_import_error_with_its_cause(
    project: tuple[Path, str],
) -> None:
    _, package = project
    with pytest.raises(ToolImportError) as info:
        import_tools([f"{package}.tools"])
    error = info.value
    assert error.target == f"{package}.tools"
    assert error.message == (
        f"cannot import tools module '{package}.tools': "
        f"ModuleNotFoundError: No module named '{package}'"
    )
    assert isinstance(error.__cause__, ModuleNotFoundError)
    assert "sys.path" in (error.hint or "")
    assert error.code == "DW-E019"


def test_a_file_path_is_imported_under_its_own_name(tmp_path: Path) -> None:
    # A file called json.py must not replace the standard library's json module.
    path = _write(tmp_path, "json.py", TOOLS_SOURCE)
    import json

    tools = import_tools([str(path)])
    assert [t.name for t in tools] == ["alpha", "beta"]
    assert sys.modules["json"] is json
    defined_in = tools[0].fn.__wrapped__.__module__  # type: ignore[attr-defined]
    assert sys.modules[defined_in].__file__ == str(path.resolve())
    assert defined_in.startswith("dagwright_tools_json_")
    again = import_tools([str(path)])
    assert again == tools and again[0] is tools[0]  # imported once, as modules are


def test_a_file_imports_its_neighbours_while_sys_path_is_left_as_it_was(tmp_path: Path) -> None:
    name = f"helpers_{tmp_path.name.replace('-', '_')}"
    _write(tmp_path, f"{name}.py", "LIMIT = 3\n")
    path = _write(
        tmp_path,
        "flows/../mytools.py",
        f"from {name} import LIMIT\nfrom dagwright import tool\n\n"
        "@tool\ndef capped(n: int) -> int:\n    '''Cap.'''\n    return min(n, LIMIT)\n",
    )
    before = list(sys.path)
    try:
        (capped,) = import_tools([str(path)])
        assert capped(n=10).capped == 3
        assert sys.path == before
    finally:
        sys.modules.pop(name, None)


ERRORS = [
    ("syntax", "def broken(:\n", "SyntaxError: "),
    ("missing dependency", "import no_such_dependency_xyz\n", "ModuleNotFoundError: No module"),
    ("runtime", "raise RuntimeError('boom\\nsecond line')\n", "RuntimeError: boom second line"),
    ("exit", "import sys\nsys.exit(3)\n", "SystemExit: 3"),
    ("bare exit", "raise SystemExit\n", "SystemExit"),
]


@pytest.mark.parametrize(("case", "source", "says"), ERRORS, ids=[e[0] for e in ERRORS])
def test_any_failure_at_import_is_one_line_with_the_original_as_cause(
    tmp_path: Path, case: str, source: str, says: str
) -> None:
    path = _write(tmp_path, "bad_tools.py", source)
    modules_before = set(sys.modules)
    with pytest.raises(ToolImportError) as info:
        import_tools([str(path)])
    error = info.value
    assert error.message.startswith(f"cannot import tools file {str(path)!r}: {says}")
    assert "\n" not in str(error)
    assert error.target == str(path)
    assert error.__cause__ is not None
    assert type(error.__cause__).__name__ == says.split(":", maxsplit=1)[0]
    assert error.hint
    assert not {m for m in set(sys.modules) - modules_before if m.startswith("dagwright_tools")}


def test_a_missing_dependency_inside_a_module_is_not_blamed_on_sys_path(
    project: tuple[Path, str],
) -> None:
    root, package = project
    _write(root, f"{package}/needs.py", "import no_such_dependency_xyz\n")
    with pytest.raises(ToolImportError) as info:
        import_tools([f"{package}.needs"], search_path=[root])
    assert "'no_such_dependency_xyz', which is not installed" in (info.value.hint or "")


def test_a_keyboard_interrupt_is_not_swallowed(tmp_path: Path) -> None:
    path = _write(tmp_path, "interrupting.py", "raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        import_tools([str(path)])


def test_a_module_without_tools_and_a_malformed_name_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "empty_tools.py", "def helper() -> int:\n    return 1\n")
    with pytest.raises(ToolImportError, match="holds no Tool") as info:
        import_tools([str(path)])
    assert "@dagwright.tool" in (info.value.hint or "")
    with pytest.raises(ToolImportError, match="not a dotted module name"):
        import_tools(["my-app.tools"])
    with pytest.raises(ToolImportError, match="no such file"):
        import_tools([str(tmp_path / "missing.py")])


def test_two_different_tools_with_one_name_name_both_modules(tmp_path: Path) -> None:
    first = _write(tmp_path, "one/tools_a.py", TOOLS_SOURCE)
    second = _write(tmp_path, "two/tools_b.py", TOOLS_SOURCE)
    with pytest.raises(ToolImportError) as info:
        import_tools([str(first), str(second)])
    message = info.value.message
    assert message == f"two different tools are named 'beta': {first}:beta and {second}:beta"
    # The same tool reached through two modules is one tool.
    reexport = _write(tmp_path, "one/reexport.py", "from tools_a import alpha\n")
    sys.path.insert(0, str(first.parent))
    try:
        tools = import_tools([str(first), str(reexport)])
    finally:
        sys.path.remove(str(first.parent))
    assert [t.name for t in tools] == ["alpha", "beta"]


def test_tool_paths_resolve_module_attributes(project: tuple[Path, str]) -> None:
    root, package = project
    tools = import_tool_paths(
        {"beta": f"{package}.tools:Box.inner", "alpha": f"{package}.tools:also_alpha"},
        search_path=[root],
    )
    assert [t.name for t in tools] == ["alpha", "beta"]
    file_tools = import_tool_paths({"alpha": f"{root / package / 'tools.py'}:alpha"})
    assert [t.name for t in file_tools] == ["alpha"]


PATH_ERRORS = [
    ("alpha", "{package}.tools", "is not a tool path", "module:attribute"),
    ("alpha", ":alpha", "is not a tool path", "module:attribute"),
    ("alpha", "{package}.tools:alpah", "'{package}.tools' has no attribute 'alpah'", "'alpha'"),
    ("beta", "{package}.tools:Box.nope", "'{package}.tools:Box' has no attribute 'nope'", "check"),
    ("helper", "{package}.tools:helper", "is a plain function, not a Tool", "@dagwright.tool"),
    ("box", "{package}.tools:Box", "is a plain callable (type), not a Tool", "@dagwright.tool"),
    ("n", "{package}.tools:Out.model_config", "is a dict, not a Tool", "point the path"),
    ("search", "{package}.tools:alpha", "is the tool named 'alpha'", "@tool(name='search')"),
    ("alpha", "{package}.nothere:alpha", "cannot import tools module", "sys.path"),
]


@pytest.mark.parametrize(("key", "target", "says", "hint"), PATH_ERRORS)
def test_a_tool_path_that_does_not_name_the_tool_is_refused(
    project: tuple[Path, str], key: str, target: str, says: str, hint: str
) -> None:
    root, package = project
    target = target.format(package=package)
    with pytest.raises(ToolImportError) as info:
        import_tool_paths({key: target}, search_path=[root])
    assert says.format(package=package) in info.value.message
    assert hint in (info.value.hint or "")
    assert info.value.target in (target, f"{package}.nothere")

"""docs/reference/errors.md and dagwright.errors agree, and the error tree is well formed."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from dagwright import errors
from dagwright.errors import ERROR_CLASSES, DagwrightError, StepError

DOC = Path(__file__).resolve().parents[1] / "docs" / "reference" / "errors.md"
HEADER = ("Code", "Error", "Raised or recorded when")
CODE_RE = re.compile(r"^DW-E\d{3}$")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_error_table(text: str) -> list[tuple[str, str, str]]:
    """Rows (code, class name, description) of the `| Code | Error | ... |` table."""
    lines = text.splitlines()
    headers = [
        index
        for index, line in enumerate(lines)
        if line.lstrip().startswith("|") and tuple(_cells(line)) == HEADER
    ]
    assert len(headers) == 1, f"expected one table with header {HEADER} in {DOC}"
    start = headers[0]
    separator = _cells(lines[start + 1])
    assert len(separator) == 3
    assert all(re.fullmatch(r":?-{3,}:?", cell) for cell in separator), separator
    rows: list[tuple[str, str, str]] = []
    for line in lines[start + 2 :]:
        if not line.lstrip().startswith("|"):
            break
        cells = _cells(line)
        assert len(cells) == 3, f"a row needs three cells: {line!r}"
        code, name, description = (cell.strip("`").strip() for cell in cells)
        rows.append((code, name, description))
    return rows


@pytest.fixture(scope="module")
def rows() -> list[tuple[str, str, str]]:
    return parse_error_table(DOC.read_text(encoding="utf-8"))


def test_table_matches_error_classes(rows: list[tuple[str, str, str]]) -> None:
    documented = {(code, name) for code, name, _ in rows}
    defined = {(cls.code, cls.__name__) for cls in ERROR_CLASSES}
    assert documented == defined, (
        f"missing from the doc: {sorted(defined - documented)}; "
        f"not in ERROR_CLASSES: {sorted(documented - defined)}"
    )
    assert len(rows) == len(documented), "a row is repeated"


def test_table_follows_code_order(rows: list[tuple[str, str, str]]) -> None:
    assert [name for _, name, _ in rows] == [cls.__name__ for cls in ERROR_CLASSES]


def test_every_row_has_a_sentence(rows: list[tuple[str, str, str]]) -> None:
    for code, name, description in rows:
        assert len(description.split()) >= 5, f"{code} {name}: describe when it happens"
        assert description.endswith("."), f"{code} {name}: end the sentence with a period"


def test_codes_are_unique_well_formed_and_in_order() -> None:
    codes = [cls.code for cls in ERROR_CLASSES]
    assert len(set(codes)) == len(codes), codes
    assert all(CODE_RE.match(code) for code in codes), codes
    assert codes == sorted(codes), "ERROR_CLASSES must be in code order"
    assert len(set(ERROR_CLASSES)) == len(ERROR_CLASSES)


def test_every_class_defines_its_own_code_and_docstring() -> None:
    for cls in ERROR_CLASSES:
        assert "code" in vars(cls), f"{cls.__name__} inherits its code instead of owning one"
        assert (cls.__doc__ or "").strip(), f"{cls.__name__} has no docstring"
        assert "__doc__" in vars(cls) and vars(cls)["__doc__"], cls.__name__


def test_every_class_derives_from_dagwright_error() -> None:
    for cls in ERROR_CLASSES:
        assert issubclass(cls, DagwrightError), cls
        assert issubclass(cls, Exception), cls


def test_step_failures_use_the_e1xx_range_and_misuse_the_e0xx_range() -> None:
    for cls in ERROR_CLASSES:
        family = "DW-E1" if issubclass(cls, StepError) else "DW-E0"
        assert cls.code.startswith(family), f"{cls.__name__} has code {cls.code}"


def test_every_error_defined_in_the_module_is_listed() -> None:
    defined = {
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if obj.__module__ == errors.__name__ and issubclass(obj, DagwrightError)
    }
    # Subclasses created anywhere in dagwright.errors, even if not bound to a module name.
    stack: list[type[DagwrightError]] = [DagwrightError]
    while stack:
        cls = stack.pop()
        if cls.__module__ == errors.__name__:
            defined.add(cls)
        stack.extend(cls.__subclasses__())
    missing = sorted(cls.__name__ for cls in defined - set(ERROR_CLASSES))
    assert not missing, f"add these to ERROR_CLASSES and to {DOC.name}: {missing}"


def test_public_errors_are_exported_from_the_package() -> None:
    import dagwright

    for cls in ERROR_CLASSES:
        assert getattr(dagwright, cls.__name__, None) is cls, cls.__name__


def test_the_parser_rejects_a_broken_table() -> None:
    broken = "| Code | Error | Raised or recorded when |\n| --- | --- | --- |\n| DW-E001 | X |\n"
    with pytest.raises(AssertionError):
        parse_error_table(broken)
    with pytest.raises(AssertionError):
        parse_error_table("no table here\n")


def test_errors_survive_pickling() -> None:
    import pickle

    from dagwright import FlowInputError
    from dagwright.compiler import Diagnostic
    from dagwright.errors import FlowCompileError

    compile_error = FlowCompileError("f", [Diagnostic("DW102", "error", "unknown", "b", "fix")])
    again = pickle.loads(pickle.dumps(compile_error))
    assert type(again) is FlowCompileError
    assert again.diagnostics == compile_error.diagnostics
    assert str(again) == str(compile_error)
    input_error = pickle.loads(pickle.dumps(FlowInputError("missing", missing=["n"])))
    assert input_error.missing == ("n",) and input_error.code == "DW-E004"

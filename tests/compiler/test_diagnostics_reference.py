"""docs/reference/diagnostics.md and dagwright.compiler.CODES must agree."""

from __future__ import annotations

import re
from pathlib import Path

from dagwright.compiler import CODES

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference" / "diagnostics.md"
ROW = re.compile(r"^\|\s*(DW\d{3})\s*\|\s*([a-z]+)\s*\|\s*(.+?)\s*\|\s*(.+?)\s*\|\s*$")


def _table() -> dict[str, tuple[str, str, str]]:
    rows: dict[str, tuple[str, str, str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            code, severity, title, meaning = match.groups()
            assert code not in rows, f"{code} is listed twice"
            rows[code] = (severity, title, meaning)
    return rows


def test_the_table_lists_exactly_the_registered_codes() -> None:
    assert sorted(_table()) == sorted(CODES)


def test_severities_and_titles_match_the_registry() -> None:
    table = _table()
    for code, entry in CODES.items():
        severity, title, meaning = table[code]
        assert severity == entry.severity, code
        assert title == entry.title, code
        assert meaning, code


def test_codes_are_in_order_and_well_formed() -> None:
    assert list(CODES) == sorted(CODES)
    for code, entry in CODES.items():
        assert entry.code == code
        assert entry.severity in ("error", "warning", "info")
        assert entry.title and entry.description

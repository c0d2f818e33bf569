"""Text, JSON and GitHub Actions renderings of a :class:`~dagwright.io.lint.LintReport`.

Every rendering lists file errors and findings in one order: by path, line, column and
code. Positions that are not known (a missing file) are shown as line 1, column 1 in
text and annotations, and as ``null`` in JSON. None of the texts ends with a newline.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagwright.io.lint import LintReport

_TOOLS_HELP = "pass --tools MODULE or --tools-manifest FILE."


@dataclass(frozen=True)
class Finding:
    """One line of a report: a diagnostic or a file error, in a common shape."""

    code: str
    severity: str
    message: str
    hint: str | None
    path: str | None
    line: int | None
    col: int | None
    step_id: str | None

    def sort_key(self) -> tuple[str, int, int, str, str]:
        """(path, line, col, code, message)."""
        return (self.path or "", self.line or 0, self.col or 0, self.code, self.message)


def findings(report: LintReport) -> list[Finding]:
    """File errors and diagnostics of ``report`` in report order."""
    rows = [
        Finding(e.code, "error", e.message, e.hint, e.path, e.line, e.col, None)
        for e in report.file_errors
    ]
    rows += [
        Finding(d.code, d.severity, d.message, d.hint, d.path, d.line, d.col, d.step_id)
        for d in report.diagnostics
    ]
    return sorted(rows, key=Finding.sort_key)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def summary(report: LintReport) -> str:
    """``Found 2 errors and 1 warning in 3 files.`` (the files holding findings), or
    ``All checks passed!`` when there is nothing to show."""
    rows = findings(report)
    if not rows:
        return "All checks passed!"
    counts = {"error": 0, "warning": 0, "info": 0}
    for row in rows:
        counts[row.severity] += 1
    parts = [_plural(n, severity) for severity, n in counts.items() if n]
    files = len({row.path for row in rows})
    return f"Found {_join(parts)} in {_plural(files, 'file')}."


def skipped_line(report: LintReport) -> str | None:
    """The sentence naming the checks not run for want of tools, if any."""
    if not report.skipped:
        return None
    return f"Skipped checks that need tools ({', '.join(report.skipped)}): {_TOOLS_HELP}"


def text(report: LintReport) -> str:
    """ruff's shape::

        flows/a.yaml:3:5: DW102 depends on unknown step 'x'
          hint: fix the id or add the step

        Found 1 error in 1 file.
        Skipped checks that need tools (DW104, ...): pass --tools MODULE or ...

    Positions not known are shown as ``1:1``.
    """
    lines: list[str] = []
    for row in findings(report):
        lines.append(
            f"{row.path or '<text>'}:{row.line or 1}:{row.col or 1}: {row.code} {row.message}"
        )
        if row.hint:
            lines.append(f"  hint: {row.hint}")
    if lines:
        lines.append("")
    lines.append(summary(report))
    skipped = skipped_line(report)
    if skipped is not None:
        lines.append(skipped)
    return "\n".join(lines)


def records(report: LintReport) -> list[dict[str, Any]]:
    """The JSON objects of ``report``: ``code, severity, message, hint, path, line,
    col, step_id`` each."""
    return [
        {
            "code": row.code,
            "severity": row.severity,
            "message": row.message,
            "hint": row.hint,
            "path": row.path,
            "line": row.line,
            "col": row.col,
            "step_id": row.step_id,
        }
        for row in findings(report)
    ]


def json_text(report: LintReport) -> str:
    """:func:`records` as 2-space indented JSON (keys in the order above)."""
    return json.dumps(records(report), indent=2, ensure_ascii=False)


def escape_data(value: str) -> str:
    """A workflow command's message: ``%``, CR and LF percent-encoded (GitHub's
    ``escapeData``)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """A workflow command's property value: as :func:`escape_data`, and ``:`` and ``,``
    too (GitHub's ``escapeProperty``)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


_COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


def _annotations(report: LintReport) -> Iterator[str]:
    for row in findings(report):
        props = {
            "file": row.path or "",
            "line": str(row.line or 1),
            "col": str(row.col or 1),
            "title": row.code,
        }
        shown = ",".join(f"{key}={escape_property(value)}" for key, value in props.items())
        message = row.message if not row.hint else f"{row.message}\nhint: {row.hint}"
        yield f"::{_COMMANDS[row.severity]} {shown}::{escape_data(message)}"
    skipped = skipped_line(report)
    if skipped is not None:
        yield f"::notice title=dagwright lint::{escape_data(skipped)}"


def github(report: LintReport) -> str:
    """One GitHub Actions annotation per finding
    (``::error file=PATH,line=L,col=C,title=DW102::message``, ``::warning`` and
    ``::notice`` for warnings and infos; the hint on a second line of the message),
    and a notice naming the skipped checks."""
    return "\n".join(_annotations(report))

"""The SARIF 2.1.0 rendering of a :class:`~dagwright.io.lint.LintReport`.

One run, whose driver lists a rule for every diagnostic code (in code order, so a
code's ``ruleIndex`` never depends on what was found) and one for files that cannot be
read (``DW-E018``); each rule's ``helpUri`` is the code's anchor in
``docs/reference/diagnostics.md``. Results point at files by URI relative to the
checkout (``uriBaseId: %SRCROOT%``, forward slashes), as GitHub code scanning expects.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dagwright.compiler import CODES
from dagwright.errors import FlowFileError
from dagwright.io._formats import findings, skipped_line

if TYPE_CHECKING:
    from dagwright.io.lint import LintReport

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
PROJECT_URL = "https://github.com/dagwright/dagwright"
"""Where dagwright lives; rules link into its documentation there."""
DIAGNOSTICS_DOC = f"{PROJECT_URL}/blob/main/docs/reference/diagnostics.md"

_LEVELS = {"error": "error", "warning": "warning", "info": "note"}
_FILE_ERROR_TITLE = "flow file cannot be read"
_FILE_ERROR_TEXT = (
    "The file cannot be read as a flow: bad YAML or JSON, a duplicate key, an unknown "
    "key, a wrong type, an unsupported format_version, a missing file. Nothing else is "
    "checked in it."
)


def help_uri(code: str) -> str:
    """The documentation of ``code``: its anchor (the code in lower case) in the
    diagnostics reference."""
    return f"{DIAGNOSTICS_DOC}#{code.lower()}"


def _rule_name(title: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", title)
    return "".join(word[:1].upper() + word[1:] for word in words)


def _rule(code: str, title: str, description: str, severity: str) -> dict[str, Any]:
    return {
        "id": code,
        "name": _rule_name(title),
        "shortDescription": {"text": title},
        "fullDescription": {"text": description},
        "helpUri": help_uri(code),
        "defaultConfiguration": {"level": _LEVELS[severity]},
    }


def rules() -> list[dict[str, Any]]:
    """Every rule: one per diagnostic code, then the file error."""
    found = [_rule(c.code, c.title, c.description, c.severity) for c in CODES.values()]
    found.append(_rule(FlowFileError.code, _FILE_ERROR_TITLE, _FILE_ERROR_TEXT, "error"))
    return found


def artifact_location(path: str) -> dict[str, str]:
    """A SARIF ``artifactLocation`` for ``path``: relative to the working directory
    (the checkout) with ``uriBaseId: %SRCROOT%`` when it lies inside it, else an
    absolute ``file://`` URI."""
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            candidate = candidate.relative_to(Path.cwd())
        except ValueError:
            return {"uri": candidate.as_uri()}
    relative = os.path.normpath(candidate).replace(os.sep, "/")
    return {"uri": quote(relative, safe="/-_.~"), "uriBaseId": "%SRCROOT%"}


def sarif_log(report: LintReport) -> dict[str, Any]:
    """The SARIF 2.1.0 log of ``report`` as a JSON-ready dict."""
    from dagwright import __version__

    table = rules()
    index = {rule["id"]: number for number, rule in enumerate(table)}
    results: list[dict[str, Any]] = []
    for row in findings(report):
        text = row.message if not row.hint else f"{row.message}\nhint: {row.hint}"
        location: dict[str, Any] = {"artifactLocation": artifact_location(row.path or "")}
        if row.line is not None:
            location["region"] = {"startLine": row.line, "startColumn": row.col or 1}
        result: dict[str, Any] = {
            "ruleId": row.code,
            "ruleIndex": index[row.code],
            "level": _LEVELS[row.severity],
            "message": {"text": text},
            "locations": [{"physicalLocation": location}],
        }
        results.append(result)
    invocation: dict[str, Any] = {"executionSuccessful": not report.file_errors}
    skipped = skipped_line(report)
    if skipped is not None:
        invocation["toolExecutionNotifications"] = [{"level": "note", "message": {"text": skipped}}]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "dagwright",
                        "version": __version__,
                        "informationUri": PROJECT_URL,
                        "rules": table,
                    }
                },
                # Columns count characters, as the flow file readers do.
                "columnKind": "unicodeCodePoints",
                "invocations": [invocation],
                "results": results,
            }
        ],
    }


def sarif_text(report: LintReport) -> str:
    """:func:`sarif_log` as 2-space indented JSON."""
    return json.dumps(sarif_log(report), indent=2, ensure_ascii=False)

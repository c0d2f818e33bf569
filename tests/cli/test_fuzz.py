"""Hostile flow files: whatever `dagwright lint` and `dagwright run` are fed (mutated flow
files, random structures, random bytes, bad `--input`), they answer with a documented
exit code and at most a few plain lines, never a traceback or an internal error."""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagwright.cli import main
from tests.cli.flows import BRANCHES, FAILING, OUTER, SQUARES, SUMS

pytestmark = pytest.mark.timeout(600)

DOCUMENTED = {"lint": {0, 1, 2}, "run": {0, 1, 2}}
"""The exit codes each command documents (130, an interrupt, is tested with real signals)."""

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

BASES = (SUMS, SQUARES, OUTER, FAILING)

# Small values only: a mutation may land on a retry's backoff or a timeout, and the run
# must stay short even then.
SMALL = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.sampled_from([0.5, -1.5, 1e308]),
    st.text(string.printable, max_size=6),
    st.sampled_from(["double", "square", "add", "n", "items", "/n", "n > 1", "{", "!!x"]),
)
VALUES = st.recursive(
    SMALL,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(string.ascii_lowercase + "_", max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
KEYS = st.sampled_from(
    [
        "format_version", "kind", "name", "version", "steps", "tools", "input_schema",
        "output_schema", "id", "tool", "flow", "inputs", "outputs", "depends_on", "when",
        "retry", "timeout_s", "on_error", "over", "item", "results", "errors",
        "max_concurrency", "error_policy", "literal", "unknown",
    ]
)  # fmt: skip
SNIPPETS = st.sampled_from(
    [
        ":", "- ", "{", "}", "[", "]", "&a ", "*a", "!!python/object/apply:os.system ['true']",
        "\n", "  ", "\t", "#", "'", '"', "\\", "\x00", "\ufeff", "\u2028", "...", "---\n",
        "<<: *a", "? ", "|\n", ">\n", "~", "null", "1e999", "0x1F", "2026-12-01",
    ]
)  # fmt: skip


def _document(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    """A base flow file with a few textual edits: cuts, insertions, repeated lines."""
    text = draw(st.sampled_from(BASES))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["cut", "insert", "repeat"]))
        if op == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 12)) :]
        elif op == "insert":
            text = text[:at] + draw(SNIPPETS | st.text(max_size=4)) + text[at:]
        else:
            lines = text.splitlines(keepends=True)
            if lines:
                line = draw(st.integers(0, len(lines) - 1))
                lines.insert(line, lines[line])
            text = "".join(lines)
    return text


def _mutate(node: Any, draw: st.DrawFn, depth: int = 0) -> Any:
    if isinstance(node, dict) and node and depth < 4:
        key = draw(st.sampled_from(sorted(node)))
        op = draw(st.sampled_from(["descend", "replace", "drop", "add"]))
        copy = dict(node)
        if op == "descend":
            copy[key] = _mutate(copy[key], draw, depth + 1)
        elif op == "replace":
            copy[key] = draw(VALUES)
        elif op == "drop":
            del copy[key]
        else:
            copy[draw(KEYS)] = draw(VALUES)
        return copy
    if isinstance(node, list) and node and depth < 4:
        copy = list(node)
        index = draw(st.integers(0, len(copy) - 1))
        op = draw(st.sampled_from(["descend", "replace", "drop", "repeat"]))
        if op == "descend":
            copy[index] = _mutate(copy[index], draw, depth + 1)
        elif op == "replace":
            copy[index] = draw(VALUES)
        elif op == "drop":
            del copy[index]
        else:
            copy.append(copy[index])
        return copy
    return draw(VALUES)


@st.composite
def mutated_structure(draw: st.DrawFn) -> str:
    """A base flow with keys dropped, added or given random values, as YAML or JSON."""
    document = _document(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        document = _mutate(document, draw)
    if draw(st.booleans()):
        return json.dumps(document)
    import yaml

    return str(yaml.safe_dump(document, allow_unicode=True))


@st.composite
def one_step_changed(draw: st.DrawFn) -> str:
    """A base flow with one step setting, or the flow's, changed to a plausible value:
    files that still load, so compiling and running are reached."""
    document = _document(draw(st.sampled_from(BASES)))
    steps = document["steps"]
    target = steps[draw(st.integers(0, len(steps) - 1))] if draw(st.booleans()) else document
    if draw(st.booleans()):
        target[draw(KEYS)] = draw(SMALL | st.lists(SMALL, max_size=2))
    else:
        key, value = draw(PLAUSIBLE)
        target[key] = value
    return json.dumps(document)


PLAUSIBLE = st.sampled_from(
    [
        ("depends_on", ["nope"]), ("depends_on", ["add"]), ("tool", "nope"), ("tool", "fail"),
        ("when", "n >"), ("when", "n > 1"), ("when", "doubled in [1, 2]"),
        ("inputs", {"n": "/missing/0"}), ("inputs", {"n": {"literal": "x"}}),
        ("inputs", {"n": {"literal": 7}}), ("over", "n"), ("max_concurrency", 0),
        ("on_error", "fallback:nope"), ("on_error", "skip"), ("outputs", {"x": "nope"}),
        ("id", "double"), ("id", "bad id"), ("retry", {"max_attempts": 2}),
        ("timeout_s", 0.5), ("flow", "sums"), ("flow", "branches"),
        ("error_policy", "collect"), ("kind", "flow"), ("on_context_collision", "error"),
        ("input_schema", {"type": "object", "properties": {"n": {"type": "string"}}}),
        ("output_schema", {"type": "object", "properties": {"total": {"type": "integer"}}}),
        ("input_schema", {"type": "object", "properties": {"n": {"$ref": "#/nope"}}}),
        ("tools", {"double": "tests.cli.cli_tools:double"}), ("tools", {"x": "no.such:x"}),
    ]
)  # fmt: skip


FILES = st.one_of(
    one_step_changed(),
    one_step_changed(),
    mutated_text(),
    mutated_structure(),
    st.binary(max_size=120),
    st.text(max_size=80),
)


def _invoke(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _check(command: str, code: int, printed: str) -> None:
    assert code in DOCUMENTED[command], (code, printed)
    assert "Traceback" not in printed, printed
    assert "internal error" not in printed, printed
    if code == 2:
        assert "DW-E" in printed or "usage:" in printed or "error:" in printed, printed


def _write(directory: Path, content: str | bytes, suffix: str) -> list[str]:
    """The fuzzed file and, beside it, the sub-flow file that ``OUTER`` calls."""
    path = directory / f"flow{suffix}"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    branches = directory / "branches.flow.yaml"
    branches.write_text(BRANCHES, encoding="utf-8")
    return [str(path), str(branches)]


@SETTINGS
@given(
    content=FILES,
    suffix=st.sampled_from([".yaml", ".json", ".yml"]),
    form=st.sampled_from(["text", "json", "sarif", "github"]),
)
def test_lint_never_shows_a_traceback(
    capsys: pytest.CaptureFixture[str], content: str | bytes, suffix: str, form: str
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        files = _write(Path(scratch), content, suffix)
        for extra in ([], ["--tools", "tests.cli.cli_tools"]):
            code, out, err = _invoke(capsys, ["lint", *files, "--format", form, *extra])
            _check("lint", code, out + err)
            if form in ("json", "sarif"):
                json.loads(out)  # machine formats stay parseable, whatever the input


@SETTINGS
@given(
    content=FILES,
    suffix=st.sampled_from([".yaml", ".json"]),
    given_input=st.one_of(
        st.just('{"n": 3, "items": [1, 2]}'),
        st.text(max_size=12),
        st.sampled_from(["[]", "null", '{"n": "x"}', "@missing.json", "{", '{"n": 1e999}']),
    ),
)
def test_run_never_shows_a_traceback(
    capsys: pytest.CaptureFixture[str], content: str | bytes, suffix: str, given_input: str
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        files = _write(Path(scratch), content, suffix)
        argv = [
            "run", *files, "--tools", "tests.cli.cli_tools", "--input", given_input,
            "--store", str(Path(scratch) / "runs.sqlite"), "--no-progress",
        ]  # fmt: skip
        code, out, err = _invoke(capsys, argv)
        _check("run", code, out + err)

"""Positions: every diagnostic of a flow read from a file points at the right line and column.

Each case is a flow file with ``@`` written where the finding must point (the marker is
removed before loading): a mapping entry's position is its key's, a list item's is the
item's, a step's is its first key's.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dagwright import DAGFlow, Flow, FlowCompileError, Step, compile_flow, load_flow, tool
from dagwright.compiler import Diagnostic
from dagwright.io import flow_source
from dagwright.registry import FlowRegistry
from tests.compiler._fixtures import TOOLS, Res, findings

DAG = "format_version: 1\nkind: dag\nname: f\ndescription: A flow.\n"
LINEAR = "format_version: 1\nkind: flow\nname: f\ndescription: A flow.\n"

CASES: dict[str, str] = {
    "DW101": DAG
    + """
        steps:
          - id: a
            tool: double
          - @id: a
            tool: inc
        """,
    "DW102": DAG
    + """
        steps:
          - id: a
            tool: double
          - id: b
            tool: inc
            depends_on: [a, @zzz]
        """,
    "DW103": DAG
    + """
        steps:
          - id: a
            tool: double
            depends_on: [@b]
          - id: b
            tool: inc
            depends_on: [a]
        """,
    "DW104": DAG
    + """
        steps:
          - id: a
            @tool: nope
        """,
    "DW105": DAG
    + """
        steps:
          - id: a
            @flow: nope
        """,
    "DW106": DAG
    + """
        steps:
          - @id: a
            inputs: {n: n}
        """,
    "DW107": DAG
    + """
        steps:
          - id: a
            tool: listing
          - id: b
            over: items
            item: text
            tool: shout
            results: texts
            @max_concurrency: 0
            depends_on: [a]
        """,
    "DW108": """
        format_version: 1
        kind: flow
        name: loop
        description: Calls itself.
        steps:
          - id: a
            @flow: loop
        """,
    "DW109": DAG
    + """
        steps:
          - @tool: double
        """,
    "DW110": DAG
    + """
        steps:
          - id: a
            tool: double
            @when: "n +"
        """,
    "DW111": DAG
    + """
        steps:
          - id: a
            flow: sub
            @on_error: fallback:backup
        """,
    "DW112": DAG
    + """
        steps:
          - id: a
            tool: listing
          - id: b
            over: items
            item: text
            tool: shout
            results: texts
            @errors: texts
            error_policy: collect
            depends_on: [a]
        """,
    "DW113": DAG
    + """
        steps:
          - id: a
            @flow: aged@1
        """,
    "DW201": DAG
    + """
        steps:
          - id: a
            tool: double
            inputs: {n: {literal: 1}}
          - id: b
            tool: inc
            inputs: {@result: result}
        """,
    "DW202": DAG
    + """
        steps:
          - id: a
            tool: shout
            inputs:
              @text: {literal: 5}
        """,
    "DW203": DAG
    + """
        input_schema:
          type: object
          properties: {n: {type: integer}}
        steps:
          - id: a
            tool: shout
            inputs:
              @text: missing
        """,
    "DW204": DAG
    + """
        steps:
          - id: a
            tool: double
            outputs: {@x: nope}
        """,
    "DW205": DAG
    + """
        steps:
          - id: a
            tool: double
            inputs: {n: n, @bogus: n}
        """,
    "DW206": DAG
    + """
        steps:
          - id: a
            tool: double
          - id: b
            @over: result
            item: n
            tool: double
            results: doubled
            depends_on: [a]
        """,
    "DW207": DAG
    + """
        steps:
          - id: a
            tool: listing
          - id: b
            over: items
            @item: nothing
            tool: shout
            results: texts
            depends_on: [a]
        """,
    "DW208": DAG
    + """
        steps:
          - id: a
            tool: double
            inputs:
              @n: /a~2
        """,
    "DW209": DAG
    + """
        output_schema:
          type: object
          properties:
            result: {type: integer}
            @never: {type: string}
        steps:
          - id: a
            tool: double
        """,
    "DW301": LINEAR
    + """
        steps:
          - tool: double
          - tool: double
            id: again
            outputs: {@result: result}
        """,
    "DW302": DAG
    + """
        steps:
          - id: a
            tool: double
          - @id: b
            tool: double
        """,
    "DW303": DAG
    + """
        output_schema:
          type: object
          properties: {text: {type: string}}
        steps:
          - id: a
            tool: double
            outputs: {@result: result}
          - id: b
            tool: shout
            inputs: {text: {literal: x}}
        """,
    "DW401": DAG
    + """
        steps:
          - id: a
            tool: double
            @when: "False"
        """,
    "DW402": DAG
    + """
        steps:
          - id: a
            tool: charge
            @retry: {max_attempts: 3}
        """,
    "DW403": DAG
    + """
        steps:
          - id: a
            @tool: bare
        """,
    "DW407": DAG
    + """
        steps:
          - id: a
            tool: double
            @on_interrupted: retry
        """,
    "DW404": """
        format_version: 1
        kind: dag
        @name: f
        steps:
          - id: a
            tool: double
        """,
    "DW405": DAG
    + """
        steps:
          - id: a
            tool: double
          - id: b
            tool: inc
            inputs: {@result: results}
            depends_on: [a]
        """,
    "DW406": LINEAR
    + """
        steps:
          - @flow: aged@2
        """,
}


def marked(case: str) -> tuple[str, tuple[int, int]]:
    """The case's text without its ``@`` marker, and the (line, col) the marker stood at.

    A case is an optional unindented header, then an indented body starting on a new line.
    """
    header, newline, body = case.partition("\n        ")
    text = (header + "\n" if header.strip() else "") + textwrap.dedent(newline + body).lstrip()
    text = "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
    offset = text.index("@")
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return text.replace("@", "", 1), (line, col)


REGISTRY = FlowRegistry(
    [
        Flow("sub", [Step(tool="double")], description="Doubles n."),
        Flow("loop", [Step(tool="double")]),
    ]
)
for _version, _status in (("1", "retired"), ("2", "deprecated")):
    REGISTRY.register(
        Flow("aged", [Step(tool="double")], version=_version, description="Doubles n."),
        status=_status,
    )


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_code_points_at_its_place_in_the_file(code: str, tmp_path: Path) -> None:
    text, expected = marked(CASES[code])
    path = tmp_path / f"{code}.flow.yaml"
    path.write_text(text, encoding="utf-8")
    flow = load_flow(path)
    found = [d for d in findings(flow, TOOLS, REGISTRY) if d.code == code]
    assert found, f"{code} not reported:\n{text}"
    diagnostic = found[0]
    assert diagnostic.path == str(path)
    assert (diagnostic.line, diagnostic.col) == expected, (diagnostic.location, text)
    assert diagnostic.format().startswith(f"{path}:{expected[0]}:{expected[1]}: {code} ")


def test_every_code_family_is_covered() -> None:
    from dagwright.compiler import CODES

    assert set(CASES) == set(CODES)


def test_a_flow_level_input_finding_points_into_input_schema() -> None:
    text, expected = marked(
        DAG
        + """
        input_schema:
          type: object
          properties:
            n: {type: integer}
            @results: {type: integer}
          required: [n, results]
        steps:
          - id: a
            tool: double
        """
    )
    (diagnostic,) = [d for d in diagnostics_of(load_flow(text)) if d.code == "DW405"]
    assert diagnostic.step_id is None
    assert (diagnostic.line, diagnostic.col) == expected


def test_python_flows_have_no_positions() -> None:
    flow = DAGFlow("f", [Step(id="a", tool="nope")])
    (diagnostic,) = [d for d in findings(flow) if d.code == "DW104"]
    assert (diagnostic.path, diagnostic.line, diagnostic.col) == (None, None, None)
    assert diagnostic.location == ("steps", 0, "tool")


def test_equal_flows_from_two_files_keep_their_own_positions(tmp_path: Path) -> None:
    text, _ = marked(CASES["DW301"])
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(text, encoding="utf-8")
    second.write_text("# a comment line\n" + text, encoding="utf-8")
    a, b = load_flow(first), load_flow(second)
    assert a == b
    python = Flow(a.name, a.steps, description=a.description)
    compiled_python = compile_flow(python, TOOLS)  # fills the cache first
    compiled_a, compiled_b = compile_flow(a, TOOLS), compile_flow(b, TOOLS)
    (wa,), (wb,), (wp,) = compiled_a.warnings, compiled_b.warnings, compiled_python.warnings
    assert (wa.path, wb.path, wp.path) == (str(first), str(second), None)
    assert wb.line == wa.line + 1 and wa.col == wb.col
    assert compiled_a.flow is a and compiled_b.flow is b
    assert compile_flow(a, TOOLS) is compiled_a  # the same flow: the same object
    assert compiled_a.plan is compiled_b.plan is compiled_python.plan


def test_strict_mode_and_compile_errors_carry_positions(tmp_path: Path) -> None:
    text, (line, col) = marked(CASES["DW301"])
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FlowCompileError) as caught:
        compile_flow(load_flow(path), TOOLS, strict=True)
    (promoted,) = [d for d in caught.value.diagnostics if d.code == "DW301"]
    assert (promoted.severity, promoted.path, promoted.line, promoted.col) == (
        "error",
        str(path),
        line,
        col,
    )
    assert f"{path}:{line}:{col}: DW301 error" in str(caught.value)


def test_subflow_warnings_point_at_the_calling_step(tmp_path: Path) -> None:
    sub = load_flow(
        "format_version: 1\nkind: flow\nname: sub\ndescription: Sub.\nsteps:\n  - tool: bare\n"
    )
    outer_text = DAG + "steps:\n  - id: a\n    flow: sub\n"
    path = tmp_path / "outer.yaml"
    path.write_text(outer_text, encoding="utf-8")
    outer = load_flow(path)
    compiled = compile_flow(outer, TOOLS, FlowRegistry([sub]))
    (inner,) = [d for d in compiled.all_warnings if d.code == "DW403"]
    assert inner.message.startswith("in sub-flow 'sub'")
    assert (inner.path, inner.line, inner.col) == (str(path), 7, 5)


def test_flow_level_findings_point_at_the_flow_start() -> None:
    source = flow_source(load_flow(DAG + "steps: []\n"))
    assert source is not None
    assert source.position(()) == (1, 1)
    assert source.position(("steps", 5, "inputs")) == (5, 1)  # nearest known: `steps`


def diagnostics_of(flow: Flow) -> tuple[Diagnostic, ...]:
    return findings(flow, TOOLS, REGISTRY)


def test_json_files_get_positions_too(tmp_path: Path) -> None:
    path = tmp_path / "f.flow.json"
    path.write_text(
        '{"format_version": 1, "kind": "dag", "name": "f", "description": "A flow.",\n'
        ' "steps": [\n'
        '   {"id": "a", "tool": "double"},\n'
        '   {"id": "b", "tool": "inc", "depends_on": ["a", "zzz"]}\n'
        " ]}\n",
        encoding="utf-8",
    )
    (diagnostic,) = [d for d in diagnostics_of(load_flow(path)) if d.code == "DW102"]
    assert (diagnostic.path, diagnostic.line, diagnostic.col) == (str(path), 4, 51)


@tool(name="double", timeout_s=30.0)
def slow_double(n: int) -> Res:
    """Double a number, slowly."""
    return Res(result=n * 2)


def test_a_loaded_flow_gets_one_compilation_per_tool_set(tmp_path: Path) -> None:
    text, _ = marked(CASES["DW301"])
    flow = load_flow(text)
    slow = [tool for tool in TOOLS if tool.name != "double"] + [slow_double]
    first, second = compile_flow(flow, TOOLS), compile_flow(flow, slow)
    assert compile_flow(flow, TOOLS) is first and compile_flow(flow, slow) is second
    assert first is not second and first.warnings[0].line == second.warnings[0].line

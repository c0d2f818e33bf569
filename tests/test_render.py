"""Pictures of flows: Mermaid and DOT text, exact for small flows, well-formed and
escaped for any step ids and `when` texts, coloured by recorded status."""

from __future__ import annotations

import html
import random
import re
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagwright import (
    DAGFlow,
    Flow,
    FlowExecutor,
    FlowRegistry,
    InMemoryCheckpointer,
    MapStep,
    Step,
    tool,
)
from dagwright.checkpoint import read_run
from dagwright.compiler import compile_flow, render_graph
from dagwright.errors import UsageError


def lines(*text: str) -> str:
    return "\n".join(text) + "\n"


FLOW = DAGFlow(
    "pages",
    [
        Step(id="search", tool="web_search"),
        MapStep(
            id="fetch.all",
            over="urls",
            tool="fetch",
            item="url",
            results="pages",
            depends_on="search",
            max_concurrency=4,
        ),
        Step(id="enrich-1", flow="enrich", depends_on="search"),
        Step(
            id="report",
            tool="write",
            depends_on=("fetch.all", "enrich-1"),
            when='score > 0.5 and tag != "a|b"',
            on_error="fallback:draft",
        ),
    ],
)
STATUSES = {
    "search": "completed",
    "fetch.all": "failed",
    "enrich-1": "skipped",
    "report": "pending",
}
CHAIN = Flow(
    "chain",
    [Step(tool="fetch"), Step(tool="fetch", when="n < 3"), Step(tool="parse", depends_on="fetch")],
)

MERMAID_GOLDEN = lines(
    "flowchart TD",
    "    %% flow pages (version 1)",
    "    %% legend: rectangle = tool step, parallelogram = map step, subroutine = sub-flow step",
    "    %% legend: solid edge = depends_on, dotted edge = implicit previous step",
    "    %% legend: completed = green, failed = red, skipped = grey, pending = white",
    '    n0["search<br/>web_search"]',
    '    n1[/"fetch.all<br/>map fetch<br/>over: urls (max 4)"/]',
    '    n2[["enrich-1<br/>flow: enrich"]]',
    '    n3["report<br/>write<br/>fallback: draft"]',
    "    n0 --> n1",
    "    n0 --> n2",
    '    n1 -->|"when score #gt; 0.5 and tag != #quot;a#124;b#quot;"| n3',
    '    n2 -->|"when score #gt; 0.5 and tag != #quot;a#124;b#quot;"| n3',
    "    classDef completed fill:#c8e6c9,stroke:#2e7d32,color:#1b5e20",
    "    classDef failed fill:#ffcdd2,stroke:#c62828,color:#b71c1c",
    "    classDef skipped fill:#e0e0e0,stroke:#757575,color:#424242",
    "    classDef pending fill:#ffffff,stroke:#9e9e9e,color:#424242",
    "    class n0 completed",
    "    class n1 failed",
    "    class n2 skipped",
    "    class n3 pending",
)
DOT_GOLDEN = lines(
    'digraph "pages" {',
    "    // flow pages (version 1)",
    "    // legend: box = tool step, parallelogram = map step, double box = sub-flow step",
    "    // legend: solid edge = depends_on, dotted edge = implicit previous step",
    "    // legend: completed = green, failed = red, skipped = grey, pending = white",
    "    rankdir=TB;",
    '    node [fontname="Helvetica", fontsize=11];',
    '    edge [fontname="Helvetica", fontsize=10];',
    '    n0 [label="search\\nweb_search", shape=box, style=filled, fillcolor="#c8e6c9", '
    'color="#2e7d32", fontcolor="#1b5e20"];',
    '    n1 [label="fetch.all\\nmap fetch\\nover: urls (max 4)", shape=parallelogram, '
    'style=filled, fillcolor="#ffcdd2", color="#c62828", fontcolor="#b71c1c"];',
    '    n2 [label="enrich-1\\nflow: enrich", shape=box, peripheries=2, style=filled, '
    'fillcolor="#e0e0e0", color="#757575", fontcolor="#424242"];',
    '    n3 [label="report\\nwrite\\nfallback: draft", shape=box, style=filled, '
    'fillcolor="#ffffff", color="#9e9e9e", fontcolor="#424242"];',
    "    n0 -> n1;",
    "    n0 -> n2;",
    '    n1 -> n3 [label="when score &gt; 0.5 and tag != \\"a|b\\""];',
    '    n2 -> n3 [label="when score &gt; 0.5 and tag != \\"a|b\\""];',
    "}",
)
LINEAR_MERMAID_GOLDEN = lines(
    "flowchart TD",
    "    %% flow chain (version 1)",
    "    %% legend: rectangle = tool step, parallelogram = map step, subroutine = sub-flow step",
    "    %% legend: solid edge = depends_on, dotted edge = implicit previous step",
    '    n0["fetch<br/>fetch"]',
    '    n1["fetch-2<br/>fetch"]',
    '    n2["parse<br/>parse"]',
    '    n0 -.->|"when n #lt; 3"| n1',
    "    n0 --> n2",
    "    n1 -.-> n2",
)
LINEAR_DOT_GOLDEN = lines(
    'digraph "chain" {',
    "    // flow chain (version 1)",
    "    // legend: box = tool step, parallelogram = map step, double box = sub-flow step",
    "    // legend: solid edge = depends_on, dotted edge = implicit previous step",
    "    rankdir=TB;",
    '    node [fontname="Helvetica", fontsize=11];',
    '    edge [fontname="Helvetica", fontsize=10];',
    '    n0 [label="fetch\\nfetch", shape=box];',
    '    n1 [label="fetch-2\\nfetch", shape=box];',
    '    n2 [label="parse\\nparse", shape=box];',
    '    n0 -> n1 [style=dotted, label="when n &lt; 3"];',
    "    n0 -> n2;",
    "    n1 -> n2 [style=dotted];",
    "}",
)


def test_mermaid_of_a_dag_with_statuses_is_exact() -> None:
    assert render_graph(FLOW, statuses=STATUSES) == MERMAID_GOLDEN


def test_dot_of_a_dag_with_statuses_is_exact() -> None:
    assert render_graph(FLOW, format="dot", statuses=STATUSES) == DOT_GOLDEN


def test_a_linear_flow_draws_its_implicit_edges_dotted() -> None:
    assert render_graph(CHAIN) == LINEAR_MERMAID_GOLDEN
    assert render_graph(CHAIN, format="dot") == LINEAR_DOT_GOLDEN


@tool
def web_search(query: str) -> list[str]:
    """Urls for a query."""
    return [f"https://{query}.example/{i}" for i in range(2)]


@tool
def fetch(url: str) -> str:
    """A page."""
    return f"<p>{url}</p>"


@tool
def summarise(web_search: list[str]) -> str:
    """A summary."""
    return f"{len(web_search)} pages"


@tool
def write(pages: list[dict[str, str]], summarise: str) -> str:
    """A report."""
    return f"{summarise}: {len(pages)}"


ENRICH = Flow("enrich", [Step(tool="summarise")])
NEWS = DAGFlow(
    "news",
    [
        Step(id="search", tool="web_search"),
        MapStep(
            id="fetch.all", over="web_search", tool="fetch", item="url", results="pages",
            depends_on="search",
        ),
        Step(id="enrich-1", flow="enrich", depends_on="search"),
        Step(id="report", tool="write", depends_on=("fetch.all", "enrich-1")),
    ],
)  # fmt: skip


def test_a_compiled_flow_draws_the_picture_of_its_definition() -> None:
    registry = FlowRegistry()
    registry.register(ENRICH)
    compiled = compile_flow(NEWS, [web_search, fetch, summarise, write], registry)
    statuses = {"search": "completed", "report": "running"}
    assert compiled.to_mermaid() == render_graph(NEWS)
    assert compiled.to_dot() == render_graph(NEWS, format="dot")
    assert compiled.to_mermaid(statuses) == render_graph(NEWS, statuses=statuses)
    assert compiled.to_dot(statuses) == render_graph(compiled, format="dot", statuses=statuses)
    assert compiled.to_mermaid(statuses) != compiled.to_mermaid()


def test_a_stored_run_colours_its_picture() -> None:
    registry = FlowRegistry()
    registry.register(ENRICH)
    store = InMemoryCheckpointer()
    tools = [web_search, fetch, summarise, write]
    with FlowExecutor(tools, registry=registry, checkpointer=store) as ex:
        ex.run(NEWS, {"query": "dags"}, run_id="r").raise_for_error()
    statuses = read_run(store, "r", flow=NEWS).statuses
    drawn = render_graph(NEWS, statuses=statuses)
    assert "    class n0,n1,n2,n3 completed\n" in drawn
    assert "legend: completed = green\n" in drawn
    dot = render_graph(NEWS, format="dot", statuses=statuses)
    assert dot.count('fillcolor="#c8e6c9"') == 4


@pytest.mark.parametrize(
    ("status", "fill"),
    [
        ("completed", "#c8e6c9"),
        ("succeeded", "#c8e6c9"),
        ("failed", "#ffcdd2"),
        ("skipped", "#e0e0e0"),
        ("cancelled", "#ffe0b2"),
        ("running", "#bbdefb"),
        ("pending", "#ffffff"),
        ("incomplete", "#fff9c4"),
        ("interrupted", "#fff9c4"),
    ],
)
def test_each_status_has_its_colour(status: str, fill: str) -> None:
    mermaid = render_graph(CHAIN, statuses={"fetch-2": status})
    assert f"fill:{fill}," in mermaid
    [line] = [x for x in mermaid.splitlines() if x.startswith("    class ")]
    assert line.split()[1] == "n1"
    dot = render_graph(CHAIN, format="dot", statuses={"fetch-2": status})
    [node] = [x for x in dot.splitlines() if x.startswith("    n1 [")]
    assert f'style=filled, fillcolor="{fill}"' in node
    assert dot.count("style=filled") == 1


def test_statuses_of_steps_the_flow_lacks_are_ignored() -> None:
    assert render_graph(CHAIN, statuses={"gone": "failed"}) == render_graph(CHAIN)


def test_a_bad_format_or_status_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="'svg'") as caught:
        render_graph(CHAIN, format="svg")  # type: ignore[arg-type]
    assert caught.value.code == "DW-E017"
    with pytest.raises(UsageError, match=r"'done'.*'parse'"):
        render_graph(CHAIN, statuses={"parse": "done"})
    with pytest.raises(UsageError, match="not str"):
        render_graph("chain.yaml")  # type: ignore[arg-type]


def test_a_flow_that_does_not_compile_is_still_drawn() -> None:
    broken = DAGFlow(
        "broken",
        [
            Step(id="a", tool="t", depends_on="b"),
            Step(id="b", tool="t", depends_on="a"),
            Step(id="c", tool="t", depends_on="missing"),
            Step(tool="t"),
        ],
    )
    mermaid = render_graph(broken)
    # steps on a cycle come after the others, in declaration order
    assert nodes_of(mermaid) == ["c", "<step 4>", "a", "b"]
    assert edges_of(mermaid) == {("n3", "n2"), ("n2", "n3")}
    check_dot(render_graph(broken, format="dot"))


# ---- structure and escaping for any flow --------------------------------------------

MERMAID_NODE = re.compile(r'^    (n\d+)(\[/|\[\[|\[)"([^"]*)"(/\]|\]\]|\])$')
MERMAID_EDGE = re.compile(r'^    (n\d+) (-->|-\.->)(?:\|"([^"|]*)"\|)? (n\d+)$')


def unmermaid(text: str) -> str:
    """The text a quoted Mermaid label shows (one pass, as Mermaid decodes it)."""
    named = {"quot": '"', "lt": "<", "gt": ">", "amp": "&"}

    def entity(match: re.Match[str]) -> str:
        code = match[1]
        return named[code] if code in named else chr(int(code))

    return re.sub(r"#(\d+|quot|lt|gt|amp);", entity, text.replace("<br/>", "\n"))


def nodes_of(mermaid: str) -> list[str]:
    found: list[str] = []
    for line in mermaid.splitlines():
        match = MERMAID_NODE.match(line)
        if match:
            assert match[1] == f"n{len(found)}"
            found.append(unmermaid(match[3]).split("\n")[0])
    return found


def edges_of(mermaid: str) -> set[tuple[str, str]]:
    return {(m[1], m[4]) for line in mermaid.splitlines() if (m := MERMAID_EDGE.match(line))}


def check_mermaid(text: str) -> None:
    rows = text.split("\n")
    assert rows[0] == "flowchart TD" and rows[-1] == ""
    for line in rows[1:-1]:
        assert (
            line.startswith("    %% ")
            or MERMAID_NODE.match(line)
            or MERMAID_EDGE.match(line)
            or re.fullmatch(r"    classDef [a-z]+ fill:#\w{6},stroke:#\w{6},color:#\w{6}", line)
            or re.fullmatch(r"    class n\d+(,n\d+)* [a-z]+", line)
        ), line


DOT_STRING = r'"(?:[^"\\]|\\.)*"'
DOT_ATTR = rf"\w+=(?:{DOT_STRING}|\w+)"
DOT_ATTRS = rf"\[{DOT_ATTR}(?:, {DOT_ATTR})*\]"


def check_dot(text: str) -> None:
    """DOT's grammar for what the renderer writes: one statement a line, balanced."""
    rows = text.split("\n")
    assert re.fullmatch(rf"digraph {DOT_STRING} \{{", rows[0]), rows[0]
    assert rows[-2:] == ["}", ""]
    for line in rows[1:-2]:
        assert (
            line.startswith("    // ")
            or line == "    rankdir=TB;"
            or re.fullmatch(rf"    (node|edge) {DOT_ATTRS};", line)
            or re.fullmatch(rf"    n\d+ {DOT_ATTRS};", line)
            or re.fullmatch(rf"    n\d+ -> n\d+(?: {DOT_ATTRS})?;", line)
        ), line


def undot(text: str) -> str:
    """The text a DOT string shows: escapes, then entities (numeric ones as their code
    point, which ``html.unescape`` would drop for control characters)."""
    named = {"quot": '"', "lt": "<", "gt": ">", "amp": "&"}

    def entity(match: re.Match[str]) -> str:
        code = match[1]
        return named[code] if code in named else chr(int(code[1:]))

    text = re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], text)
    return re.sub(r"&(#\d+|quot|lt|gt|amp);", entity, text)


def dot_labels(dot: str) -> list[str]:
    """The unescaped labels of the nodes, in order."""
    node = re.compile(rf"    n\d+ \[label=({DOT_STRING})")
    return [undot(m[1][1:-1]) for line in dot.splitlines() if (m := node.match(line))]


ids = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,8}", fullmatch=True)
texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30)
tricky = st.lists(st.sampled_from(['"', "#quot;", "#35;", "<br/>", "|", "&amp;", "\\", "\n", "`"]))
when_texts = st.none() | texts | tricky.map("".join).filter(bool)


@settings(max_examples=150, deadline=None)
@given(
    step_ids=st.lists(ids, min_size=1, max_size=6, unique=True),
    whens=st.lists(when_texts, min_size=6, max_size=6),
    linear=st.booleans(),
    data=st.data(),
)
def test_any_flow_draws_well_formed_and_escaped(
    step_ids: list[str], whens: list[str | None], linear: bool, data: st.DataObject
) -> None:
    steps = []
    for number, (step_id, when) in enumerate(zip(step_ids, whens, strict=False)):
        deps = (
            data.draw(st.lists(st.sampled_from(step_ids[:number]), unique=True)) if number else []
        )
        steps.append(Step(id=step_id, tool="t.x-1", depends_on=tuple(deps), when=when))
    flow = (Flow if linear else DAGFlow)("any", steps)
    statuses = {s: data.draw(st.sampled_from(["completed", "failed", "pending"])) for s in step_ids}
    mermaid = render_graph(flow, statuses=statuses)
    check_mermaid(mermaid)
    assert nodes_of(mermaid) == step_ids  # declaration order is canonical here
    expected = set()
    for number, step in enumerate(steps):
        sources = {step_ids.index(d) for d in step.depends_on}
        if linear and number:
            sources.add(number - 1)
        expected |= {(f"n{s}", f"n{number}") for s in sources}
    assert edges_of(mermaid) == expected
    for line in mermaid.splitlines():
        match = MERMAID_EDGE.match(line)
        if match:
            when = steps[int(match[4][1:])].when
            label = None if match[3] is None else unmermaid(match[3])
            assert label == (None if when is None else f"when {when}")
    assert render_graph(flow, statuses=statuses) == mermaid  # byte-stable
    dot = render_graph(flow, format="dot", statuses=statuses)
    check_dot(dot)
    assert dot.count(" -> ") == len(expected)
    assert [label.split("\n")[0] for label in dot_labels(dot)] == step_ids
    dot_edge = re.compile(
        rf"^    n\d+ -> n(\d+)(?: \[(?:style=dotted)?(?:, )?(?:label=({DOT_STRING}))?\])?;$"
    )
    matches = [m for line in dot.split("\n") if (m := dot_edge.match(line))]
    assert len(matches) == len(expected)
    for match in matches:
        when = steps[int(match[1])].when
        label = None if match[2] is None else undot(match[2][1:-1])
        assert label == (None if when is None else f"when {when}")


WEIRD = DAGFlow(
    'we"ird & <name>',
    [
        Step(id="a.b-c", tool="t"),
        MapStep(id="m", over="xs", flow="sub-flow", item="x", results="ys", depends_on="a.b-c"),
        Step(
            id="d",
            tool="t",
            depends_on=("a.b-c", "m"),
            when='x > 1 and y in ["a|b", "<&>", "\\\\n", "#quot;"]\nline2\x85z',
        ),
    ],
)


@pytest.mark.timeout(120)
def test_graphviz_draws_the_dot_text_with_every_label_intact() -> None:
    texts = [
        render_graph(FLOW, format="dot", statuses=STATUSES),
        render_graph(CHAIN, format="dot"),
        render_graph(WEIRD, format="dot", statuses={"d": "failed", "m": "cancelled"}),
    ]
    for text in texts:
        check_dot(text)
    dot = shutil.which("dot")
    if dot is None:  # no Graphviz on this machine: the grammar check above stands for it
        return
    for text in texts:
        done = subprocess.run(
            [dot, "-Tsvg"], input=text, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert done.stdout.count('class="node"') == len(re.findall(r"^    n\d+ \[", text, re.M))
        assert done.stdout.count('class="edge"') == text.count(" -> ")
    shown = [html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", done.stdout)]
    assert shown == [
        "a.b-c",
        "t",
        "m",
        "map flow: sub-flow",
        "over: xs (max 8)",
        "d",
        "t",
        'when x > 1 and y in ["a|b", "<&>", "\\\\n", "#quot;"]',
        "line2\x85z",
        'when x > 1 and y in ["a|b", "<&>", "\\\\n", "#quot;"]',
        "line2\x85z",
    ]


@pytest.mark.timeout(120)
def test_graphviz_reads_any_when_text() -> None:
    """Many flows with hostile `when` texts (every control character, quotes, escapes,
    line separators), all drawn by one Graphviz call without a warning."""
    rng = random.Random(7)
    pool = [chr(c) for c in range(0x20)] + list('"\\&<>|#;`{}[]%/') + ["\x85", "\u2028", "é"]
    flows = []
    for number in range(60):
        when = "".join(rng.choice(pool) for _ in range(rng.randint(1, 12)))
        steps = [Step(id="a", tool="t"), Step(id="b", tool="t", depends_on="a", when=when)]
        flows.append(DAGFlow(f"f{number}", steps))
    texts = [render_graph(flow, format="dot") for flow in flows]
    edge = re.compile(rf"^    n0 -> n1 \[label=({DOT_STRING})\];$", re.M)
    for flow, text in zip(flows, texts, strict=True):
        check_dot(text)
        [label] = edge.findall(text)
        assert undot(label[1:-1]) == f"when {flow.steps[1].when}"
    dot = shutil.which("dot")
    if dot is None:  # no Graphviz on this machine: the grammar check above stands for it
        return
    done = subprocess.run(
        [dot, "-Tsvg"],
        input="".join(texts),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.count("<svg ") == len(texts)


def test_a_pinned_sub_flow_is_drawn_with_its_version() -> None:
    flow = Flow("outer", [Step(flow="enrich@2"), Step(flow="enrich")])
    mermaid = render_graph(flow)
    assert '[["enrich<br/>flow: enrich@2"]]' in mermaid
    assert '[["enrich-2<br/>flow: enrich"]]' in mermaid
    assert 'label="enrich\\nflow: enrich@2"' in render_graph(flow, format="dot")

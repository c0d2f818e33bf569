"""``ExecutionResult.timeline()`` and the HTML timeline of a benchmark."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import dagwright
from dagwright import FlowExecutor, InMemoryStepCache, TimelineBar
from dagwright.profiling import BenchReport
from tests.bench.flows import EVERYTHING_INPUTS, TOOLS, everything, with_subflow

ITEM_3 = b'{"item":3,"ms":10}'  # the canonical JSON of the failing instance's inputs
EXPECTED = {
    "prep": ("tool", "completed"),
    "slow": ("tool", "completed"),
    "items": ("map", "completed"),
    "items[0]": ("instance", "completed"),
    "items[1]": ("instance", "completed"),
    "items[2]": ("instance", "failed"),  # item 3
    "items[3]": ("instance", "completed"),
    "twice": ("tool", "cached"),
    "maybe": ("tool", "skipped"),
    "join": ("tool", "completed"),
}


@pytest.fixture(scope="module")
def report() -> BenchReport:
    with FlowExecutor(TOOLS, cache=InMemoryStepCache()) as executor:
        return dagwright.bench(executor, everything(), EVERYTHING_INPUTS, repeat=3, warmup=1)


class Page(HTMLParser):
    """The bars of a timeline page, what each element references, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.bars: dict[str, dict[str, str]] = {}
        self.titles: dict[str, str] = {}
        self.references: list[str] = []
        self.tags: list[str] = []
        self.style = ""
        self._in: list[str] = []
        self._bar: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.tags.append(tag)
        self._in.append(tag)
        for name in ("src", "href", "xlink:href", "action", "data", "poster"):
            if name in values:
                self.references.append(values[name])
        self.references += re.findall(r"url\(([^)]*)\)", values.get("style", ""))
        if tag == "rect" and "bar" in values.get("class", "").split():
            self._bar = values["data-path"]
            assert self._bar not in self.bars, f"two bars for {self._bar}"
            self.bars[self._bar] = values

    def handle_endtag(self, tag: str) -> None:
        self._in.pop()
        if tag == "rect":
            self._bar = None

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "title" and self._bar is not None:
            self.titles[self._bar] = self.titles.get(self._bar, "") + data
        if self._in and self._in[-1] == "style":
            self.style += data


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def test_timeline_bars_are_pure_data_in_canonical_order() -> None:
    with FlowExecutor(TOOLS, cache=InMemoryStepCache()) as executor:
        executor.run(everything(), EVERYTHING_INPUTS)  # fills the cache
        result = executor.run(everything(), EVERYTHING_INPUTS)
    bars = result.timeline()
    assert all(isinstance(bar, TimelineBar) for bar in bars)
    assert {bar.path: (bar.kind, bar.display_status) for bar in bars} == EXPECTED
    assert [bar.path for bar in bars] == list(EXPECTED)
    by_path = {bar.path: bar for bar in bars}
    assert min(bar.start for bar in bars if bar.start is not None) == 0.0
    failed = by_path["items[2]"]
    assert (failed.index, failed.parent, failed.depth) == (2, "items", 1)
    assert (failed.error_code, failed.error_type) == ("DW-E101", "ConnectionError")
    assert failed.error_message == "item 3 is gone"
    assert failed.attempts == 1
    assert failed.input_bytes == len(ITEM_3)
    skipped = by_path["maybe"]
    assert (skipped.start, skipped.end, skipped.duration, skipped.attempts) == (None, None, None, 0)
    cached = by_path["twice"]
    assert (cached.status, cached.cached, cached.tool) == ("completed", True, "double")
    slow = by_path["slow"]
    record = next(r for r in result.steps if r.step_id == "slow")
    assert record.started_at is not None and record.ended_at is not None
    assert slow.duration == pytest.approx(record.ended_at - record.started_at)
    assert slow.to_dict()["duration"] == slow.duration
    assert slow.to_dict()["display_status"] == "completed"
    # an origin moves every bar by the same amount
    moved = result.timeline(origin=result.steps[0].started_at - 1.0)
    assert moved[0].start == pytest.approx(1.0)


def test_sub_flow_steps_have_paths_under_their_step() -> None:
    flow, registry = with_subflow()
    with FlowExecutor(TOOLS, registry=registry) as executor:
        bars = executor.run(flow).timeline()
    assert [(b.path, b.kind, b.depth, b.parent) for b in bars] == [
        ("first", "tool", 0, None),
        ("inner", "flow", 0, None),
        ("inner/one", "tool", 1, "inner"),
        ("inner/two", "tool", 1, "inner"),
        ("side", "tool", 0, None),
        ("last", "tool", 0, None),
    ]
    assert bars[1].flow == "pair" and bars[1].tool is None


def test_every_step_and_instance_has_its_bar_with_its_status(report: BenchReport) -> None:
    page = parse(report.timeline_html())
    assert {path: bar["data-status"] for path, bar in page.bars.items()} == {
        path: status for path, (_, status) in EXPECTED.items()
    }
    assert {path: bar["data-kind"] for path, bar in page.bars.items()} == {
        path: kind for path, (kind, _) in EXPECTED.items()
    }
    for path, bar in page.bars.items():
        assert f"s-{bar['data-status']}" in bar["class"].split(), path
    # the critical path is outlined, nothing else
    outlined = {path for path, bar in page.bars.items() if "critical" in bar["class"].split()}
    assert outlined == {"prep", "slow", "join"}


def test_the_tooltips_say_what_happened(report: BenchReport) -> None:
    page = parse(report.timeline_html())
    failed = page.titles["items[2]"]
    assert failed.startswith("items[2]\ntool: fetch_item\nstatus: failed\nduration: ")
    assert "attempts: 1" in failed
    assert f"input: {len(ITEM_3)} bytes" in failed
    assert "error: [DW-E101] ConnectionError: item 3 is gone" in failed
    assert "status: completed (cached)" in page.titles["twice"]
    assert "no call was made" in page.titles["maybe"]
    assert "tool: wait" in page.titles["join"]


def test_the_page_is_self_contained(report: BenchReport) -> None:
    text = report.timeline_html()
    page = parse(text)
    assert all(ref.startswith("#") for ref in page.references), page.references
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(page.tags)
    assert "@import" not in page.style and "url(" not in page.style
    assert not re.search(r"https?://", text)
    # a legend with every status, a time axis
    for status in ("completed", "cached", "failed", "skipped", "cancelled"):
        assert f'<i class="s-{status}"></i>{status} (' in text
    assert 'class="tick"' in text and "run returned at" in text


def test_text_in_records_is_escaped() -> None:
    from dagwright.profiling._html import timeline_html

    bar = TimelineBar(
        "s", "s", None, None, 0, "tool", "t", None, "failed", False, 0.0, 0.001, 1, 2,
        "DW-E101", "ValueError", '<script src="https://x.example/a.js"></script> & "q"',
    )  # fmt: skip
    page = parse(timeline_html([bar], title="<b>t</b>"))
    assert "script" not in page.tags and "b" not in page.tags
    assert '<script src="https://x.example/a.js"></script> & "q"' in page.titles["s"]


def test_the_timeline_is_written_atomically(report: BenchReport, tmp_path: Path) -> None:
    target = tmp_path / "run.html"
    target.write_text("old", encoding="utf-8")
    report.write_timeline(target)
    assert target.read_text(encoding="utf-8") == report.timeline_html()
    assert os.listdir(tmp_path) == ["run.html"]  # no temporary file left behind
    with pytest.raises(OSError) as caught:
        report.write_timeline(tmp_path / "missing" / "run.html")
    assert caught.value.filename == str(tmp_path / "missing" / "run.html")


def test_sub_flow_steps_have_their_own_rows_on_the_page() -> None:
    flow, registry = with_subflow()
    with FlowExecutor(TOOLS, registry=registry) as executor:
        report = dagwright.bench(executor, flow, repeat=1, warmup=0)
    page = parse(report.timeline_html())
    assert list(page.bars) == ["first", "inner", "inner/one", "inner/two", "side", "last"]
    assert {bar["data-kind"] for bar in page.bars.values()} == {"tool", "flow"}
    assert "flow: pair" in page.titles["inner"]
    outlined = [path for path, bar in page.bars.items() if "critical" in bar["class"].split()]
    assert outlined == ["first", "inner/one", "inner/two", "last"]


def test_cancelled_records_have_their_colour_with_or_without_times() -> None:
    from dagwright.profiling._html import timeline_html

    def bar(path: str, start: float | None, end: float | None) -> TimelineBar:
        return TimelineBar(
            path, path, None, None, 0, "tool", "t", None, "cancelled", False, start, end,
            0 if start is None else 1, 2, "DW-E105", "StepCancelledError", "cancelled",
        )  # fmt: skip

    page = parse(timeline_html([bar("ran", 0.0, 0.01), bar("never", None, None)], title="t"))
    assert {path: b["data-status"] for path, b in page.bars.items()} == {
        "ran": "cancelled",
        "never": "cancelled",
    }
    assert "band" in page.bars["never"]["class"].split()
    assert "band" not in page.bars["ran"]["class"].split()

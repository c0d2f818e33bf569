"""A run's timeline as a self-contained HTML page: a Gantt chart in inline SVG.

Nothing is fetched: the CSS is inline, there is no script and no font file, and every
text is escaped. One row per bar, in canonical order (a map's instances and a sub-flow's
steps on their own rows, indented under it); a bar spans the record's start to its end
on a time axis from the run's start, coloured by its display status. A record without
times (a skipped step, a failure before any call) is a hatched band across its row.
Hovering a bar shows its tooltip (an SVG ``<title>``): path, tool, times, attempts,
input size, error. Bars on the critical path are outlined.

Each bar is a ``<rect class="bar ...">`` with ``data-path``, ``data-status`` (the
display status) and ``data-kind`` attributes, so the page can be read by a program too.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from html import escape

from dagwright.profiling._text import duration
from dagwright.profiling._timeline import DISPLAY_STATUSES, TimelineBar

COLOURS = {
    "completed": ("#4caf50", "#2e7d32"),
    "cached": ("#42a5f5", "#1565c0"),
    "failed": ("#e53935", "#b71c1c"),
    "skipped": ("#bdbdbd", "#757575"),
    "cancelled": ("#fb8c00", "#e65100"),
}
"""Display status -> (fill, stroke)."""

_ROW = 22
_BAR = 14
_TOP = 34
_WIDTH = 1320  # the whole chart, labels included: fits a 1366 px wide window
_RIGHT = 70
_CHAR = 7.0  # px per character of the 12px monospace labels


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _tick_step(span: float) -> float:
    """A 1, 2 or 5 times a power of ten that cuts ``span`` into at most 8 ticks."""
    raw = span / 8
    magnitude: float = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 5.0):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10.0 * magnitude


def _tick_label(seconds: float) -> str:
    """``0``, ``500us``, ``20ms``, ``1.5s``: as short as the tick allows."""
    if seconds == 0:
        return "0"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.4g}us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.4g}ms"
    return f"{seconds:.4g}s"


def _label(bar: TimelineBar) -> tuple[str, str]:
    """The row's name (the last part of the path) and what it calls, in grey."""
    name = bar.path.rsplit("/", 1)[-1]
    if bar.kind == "instance":
        return name, ""
    if bar.kind == "map":
        return name, f"map {bar.tool}" if bar.tool is not None else f"map flow {bar.flow}"
    if bar.kind == "flow":
        return name, f"flow {bar.flow}"
    return name, bar.tool if bar.tool is not None and bar.tool != name else ""


def _tooltip(bar: TimelineBar) -> str:
    lines = [bar.path]
    if bar.tool is not None:
        lines.append(f"tool: {bar.tool}")
    if bar.flow is not None:
        lines.append(f"flow: {bar.flow}")
    status = bar.status + (" (cached)" if bar.cached else "")
    lines.append(f"status: {status}")
    if bar.start is not None and bar.end is not None:
        lines.append(
            f"duration: {duration(bar.duration)} "
            f"(from {duration(bar.start)} to {duration(bar.end)})"
        )
    else:
        lines.append("duration: - (no call was made)")
    lines.append(f"attempts: {bar.attempts}")
    lines.append(f"input: {bar.input_bytes} bytes")
    if bar.error_code is not None:
        lines.append(f"error: [{bar.error_code}] {bar.error_type}: {bar.error_message}")
    return "\n".join(lines)


def _label_chars(bar: TimelineBar) -> int:
    """How many characters the row's label takes, indentation included."""
    name, calls = _label(bar)
    return 2 * bar.depth + len(name) + (len(calls) + 1 if calls else 0)


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(1, chars - 1)] + "\u2026"


def timeline_html(
    bars: Sequence[TimelineBar],
    *,
    title: str,
    subtitle: str = "",
    wall_s: float | None = None,
    highlight: Collection[str] = (),
) -> str:
    """The page for ``bars`` (see the module docstring). ``wall_s`` draws where the run
    returned; ``highlight`` names the paths to outline (the critical path)."""
    ends = [bar.end for bar in bars if bar.end is not None]
    span = max([*ends, wall_s or 0.0, 1e-6])
    step = _tick_step(span)
    span = math.ceil(span / step - 1e-9) * step
    longest = max((_label_chars(bar) for bar in bars), default=10)
    label_w = int(min(420, max(180, longest * _CHAR + 24)))
    width = _WIDTH
    plot = _WIDTH - label_w - _RIGHT
    bottom = _TOP + _ROW * max(1, len(bars))
    height = bottom + 26  # room for the "run returned" label under the rows

    def x(t: float) -> float:
        return label_w + t / span * plot

    svg: list[str] = [
        f'<svg class="timeline" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_attr(title)} timeline">',
        "<defs>",
    ]
    for status, (fill, stroke) in COLOURS.items():
        svg.append(
            f'<pattern id="hatch-{status}" width="8" height="8" patternUnits="userSpaceOnUse" '
            f'patternTransform="rotate(45)"><rect width="8" height="8" fill="{fill}" '
            f'fill-opacity="0.18"/><line x1="0" y1="0" x2="0" y2="8" stroke="{stroke}" '
            f'stroke-opacity="0.45" stroke-width="3"/></pattern>'
        )
    svg.append("</defs>")
    for row in range(len(bars)):
        if row % 2:
            y = _TOP + row * _ROW
            svg.append(f'<rect class="stripe" x="0" y="{y}" width="{width}" height="{_ROW}"/>')
    ticks = round(span / step)
    for number in range(ticks + 1):
        t = number * step
        tx = f"{x(t):.1f}"
        svg.append(f'<line class="grid" x1="{tx}" y1="{_TOP - 6}" x2="{tx}" y2="{bottom}"/>')
        svg.append(f'<text class="tick" x="{tx}" y="{_TOP - 12}">{_tick_label(t)}</text>')
    svg.append(f'<text class="axis-label" x="8" y="{_TOP - 12}">time since start</text>')
    right = label_w + plot
    svg.append(f'<line class="axis" x1="{label_w}" y1="{_TOP - 6}" x2="{right}" y2="{_TOP - 6}"/>')
    chars = int((label_w - 16) / _CHAR)
    for row, bar in enumerate(bars):
        svg.extend(_row(bar, row, x, plot, chars, bar.path in highlight))
    if wall_s is not None:
        wx = f"{x(wall_s):.1f}"
        returned = f"run returned at {duration(wall_s)}"
        svg.append(f'<line class="wall" x1="{wx}" y1="{_TOP - 6}" x2="{wx}" y2="{bottom + 6}"/>')
        svg.append(f'<text class="wall-label" x="{wx}" y="{bottom + 20}">{returned}</text>')
    svg.append("</svg>")
    return _page(bars, title, subtitle, "\n".join(svg))


def _row(
    bar: TimelineBar,
    row: int,
    x: Callable[[float], float],
    plot: float,
    chars: int,
    critical: bool,
) -> list[str]:
    y = _TOP + row * _ROW
    mid = y + _ROW / 2 + 4
    name, calls = _label(bar)
    indent = 2 * bar.depth
    shown = _clip(name, chars - indent)
    room = chars - indent - len(shown) - 1
    extra = _clip(calls, room) if calls and room > 1 else ""
    parts = [
        f'<text class="label" x="{8 + bar.depth * 14}" y="{mid:.1f}">{_attr(shown)}'
        + (f' <tspan class="calls">{_attr(extra)}</tspan>' if extra else "")
        + "</text>"
    ]
    status = bar.display_status
    classes = f"bar s-{status}" + (" critical" if critical else "")
    data = f'data-path="{_attr(bar.path)}" data-status="{status}" data-kind="{bar.kind}"'
    tip = f"<title>{_attr(_tooltip(bar))}</title>"
    top = y + (_ROW - _BAR) / 2
    if bar.start is None or bar.end is None:
        left = x(0.0)
        parts.append(
            f'<rect class="{classes} band" {data} x="{left:.1f}" y="{top:.1f}" '
            f'width="{plot:.1f}" height="{_BAR}" style="fill: url(#hatch-{status})">{tip}</rect>'
        )
        word = status if bar.error_code is None else f"{status}: {bar.error_code}"
        parts.append(f'<text class="note" x="{left + 6:.1f}" y="{mid:.1f}">{_attr(word)}</text>')
        return parts
    left = x(bar.start)
    bar_w = max(2.0, x(bar.end) - left)
    parts.append(
        f'<rect class="{classes}" {data} x="{left:.1f}" y="{top:.1f}" width="{bar_w:.1f}" '
        f'height="{_BAR}" rx="2">{tip}</rect>'
    )
    text = duration(bar.duration)
    if bar.attempts > 1:
        text += f" x{bar.attempts}"
    parts.append(f'<text class="dur" x="{left + bar_w + 4:.1f}" y="{mid:.1f}">{_attr(text)}</text>')
    return parts


_CSS = """
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       margin: 16px 20px; color: #212121; background: #fff; }
h1 { font-size: 18px; margin: 0 0 2px; }
p.sub { margin: 0 0 10px; color: #616161; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; margin: 0 0 8px; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
.legend i { display: inline-block; width: 14px; height: 12px; border-radius: 2px; }
.legend i.critical { background: #fff; border: 2px solid #212121; width: 10px; height: 8px; }
svg.timeline { display: block; font: 12px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas,
               monospace; }
.stripe { fill: #f5f5f5; }
.grid { stroke: #e0e0e0; stroke-width: 1; }
.axis { stroke: #9e9e9e; stroke-width: 1; }
.tick { fill: #616161; text-anchor: middle; font-size: 11px; }
.label { fill: #212121; }
.calls { fill: #9e9e9e; }
.dur { fill: #616161; font-size: 10px; }
.note { fill: #616161; font-size: 11px; font-style: italic; }
.wall { stroke: #6a1b9a; stroke-width: 1.5; stroke-dasharray: 4 3; }
.wall-label { fill: #6a1b9a; font-size: 11px; text-anchor: middle; }
.axis-label { fill: #9e9e9e; font-size: 11px; }
.bar { stroke-width: 1; }
.bar:hover { stroke: #000; stroke-width: 2; }
.bar.critical { stroke: #212121; stroke-width: 2; }
"""


def _page(bars: Sequence[TimelineBar], title: str, subtitle: str, svg: str) -> str:
    counts = Counter(bar.display_status for bar in bars)
    css = [_CSS]
    for status, (fill, stroke) in COLOURS.items():
        css.append(f".s-{status} {{ fill: {fill}; stroke: {stroke}; }}")
        css.append(f".legend i.s-{status} {{ background: {fill}; border: 1px solid {stroke}; }}")
    css.append(".bar.band { stroke-opacity: 0.6; }")
    legend = "".join(
        f'<span><i class="s-{status}"></i>{status} ({counts.get(status, 0)})</span>'
        for status in DISPLAY_STATUSES
    )
    legend += '<span><i class="critical"></i>critical path</span>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_attr(title)} timeline</title>\n"
        f"<style>{''.join(css)}</style>\n</head>\n<body>\n"
        f"<h1>{_attr(title)}</h1>\n"
        + (f'<p class="sub">{_attr(subtitle)}</p>\n' if subtitle else "")
        + f'<div class="legend">{legend}</div>\n{svg}\n</body>\n</html>\n'
    )

"""The report's pictures as inline SVG: the map in ddrescueview's colours, and the speed over time.

Plain SVG elements with fill colours (no scripts, no fonts to fetch, no CSS they depend on), so
they draw the same in a browser, in print, and in Chromium's PDF.  The map is drawn a row at a
time, each run of cells of one status as one rectangle: a few hundred elements for any map.
"""

from __future__ import annotations

from html import escape
from itertools import groupby

from station.core.units import fmt_duration, fmt_rate
from station.report.model import MapSection
from station.rescue.cells import SLOW_SOLID

# ddrescueview's palette, by mapfile status character.
COLOURS = {
    "+": "#00e000",  # finished (rescued): green
    "?": "#404040",  # non-tried: dark grey
    "*": "#f0e000",  # non-trimmed: yellow
    "/": "#2020ff",  # non-scraped: blue
    "-": "#ff0000",  # bad sector: red
    "s": SLOW_SOLID,  # slow (Station's own: read, slowly), over rescued or non-tried cells
}
EMPTY = "#ffffff"


def map_svg(m: MapSection, width: int = 768, height: int = 240) -> str:
    """The map as a grid of cells, each showing the worst status of the bytes it covers."""
    cw, ch = width / m.columns, height / m.rows
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" shape-rendering="crispEdges" role="img" '
        'aria-label="the rescue map">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="{EMPTY}"/>',
    ]
    for row in range(m.rows):
        cells = m.cells[row * m.columns : (row + 1) * m.columns]
        x = 0
        for status, run in groupby(cells):
            n = len(list(run))
            if status:
                parts.append(
                    f'<rect x="{x * cw:.2f}" y="{row * ch:.2f}" width="{n * cw:.2f}" height="{ch:.2f}" '
                    f'fill="{COLOURS.get(status, EMPTY)}"/>'
                )
            x += n
    parts.append("</svg>")
    return "".join(parts)


def swatch(status: str) -> str:
    """A legend's colour square."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="swatch" width="14" height="14" viewBox="0 0 14 14">'
        f'<rect width="14" height="14" fill="{COLOURS.get(status, EMPTY)}" stroke="#000" stroke-width="1"/>'
        "</svg>"
    )


def speed_svg(
    t: list[float],
    rate: list[float],
    errors: list[float],
    run_starts: list[float],
    width: int = 768,
    height: int = 220,
) -> str:
    """The read rate over time: a filled curve, the rate and time on the axes, read errors as red
    ticks under the curve, and a dashed line where a resumed run began."""
    left, right, top, bottom = 64, 12, 10, 34
    w, h = width - left - right, height - top - bottom
    t_end = max(t[-1] if t else 0.0, errors[-1] if errors else 0.0, 1e-9)
    peak = max(rate, default=0.0) or 1.0
    top_rate = _nice(peak)

    def x(v: float) -> float:
        return left + w * v / t_end

    def y(v: float) -> float:
        return top + h * (1 - v / top_rate)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="speed" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="the read rate over time">',
        f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#f8f8f8" stroke="#999"/>',
    ]
    for i in range(5):  # rate grid and labels
        v = top_rate * i / 4
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        label = escape(fmt_rate(v))
        parts.append(
            f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="10">{label}</text>'
        )
    for i in range(5):  # time labels
        v = t_end * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(
            f'<text x="{x(v):.1f}" y="{top + h + 14}" text-anchor="{anchor}" font-size="10">'
            f"{escape(f'{v:.1f}s' if t_end < 10 else fmt_duration(v))}</text>"
        )
    parts.append(
        f'<text x="{left + w / 2}" y="{height - 4}" text-anchor="middle" font-size="10">time imaging</text>'
    )
    for s in run_starts[1:]:
        parts.append(
            f'<line x1="{x(s):.1f}" x2="{x(s):.1f}" y1="{top}" y2="{top + h}" stroke="#555" '
            'stroke-dasharray="4 3"/>'
        )
    if t:
        points = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in zip(t, rate, strict=True))
        area = f"{x(t[0]):.1f},{y(0):.1f} {points} {x(t[-1]):.1f},{y(0):.1f}"
        parts.append(f'<polygon points="{area}" fill="#9ecae1" stroke="none"/>')
        parts.append(f'<polyline points="{points}" fill="none" stroke="#08519c" stroke-width="1.2"/>')
    for e in errors[:2000]:
        parts.append(
            f'<line x1="{x(e):.1f}" x2="{x(e):.1f}" y1="{top + h - 6}" y2="{top + h}" stroke="#d00"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _nice(v: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above v: a round top for the rate axis."""
    step = 1.0
    while step * 10 <= v:
        step *= 10
    for m in (1, 2, 5, 10):
        if v <= m * step:
            return m * step
    return 10 * step

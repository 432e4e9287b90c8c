"""The speed chart: read rate over time, one braille curve per series, read errors marked below.

One series on the live screen (current and average rate in the caption); several overlaid in
the comparison, each in its own colour over a common time axis.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from station.core.units import fmt_duration, fmt_rate
from station.views.live import SpeedSeries

# Braille dots: bit for (x, y) inside a 2x4 cell, y counted from the top.
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
COLOURS = ("green", "cyan", "magenta", "yellow", "bright_blue", "bright_red")


@dataclass
class Curve:
    series: SpeedSeries
    label: str
    colour: str = "green"


def plot(curves: list[Curve], width: int, height: int, t_end: float | None = None) -> list[Text]:
    """Draw the curves as `height` lines of `width` braille cells, plus one line of error marks."""
    width, height = max(width, 1), max(height, 1)
    peak = max((c.series.peak for c in curves), default=0.0) or 1.0
    end = t_end if t_end is not None else max((c.series.last_t for c in curves), default=0.0)
    bits = [[0] * width for _ in range(height)]
    owner: list[list[str | None]] = [[None] * width for _ in range(height)]
    px_h = height * 4
    for curve in curves:
        values = curve.series.buckets(width * 2, end) if end > 0 else []
        prev: int | None = None
        for x, v in enumerate(values):
            if v is None:
                prev = None
                continue
            y = px_h - 1 - min(int(v / peak * (px_h - 1) + 0.5), px_h - 1)
            lo, hi = (y, y) if prev is None else (min(y, prev), max(y, prev))
            for yy in range(lo, hi + 1):  # join to the previous point so steep changes stay visible
                row, col = yy // 4, x // 2
                bits[row][col] |= _DOTS[yy % 4][x % 2]
                owner[row][col] = curve.colour
            prev = y
    lines: list[Text] = []
    for row in range(height):
        chars = "".join(chr(0x2800 + b) if b else " " for b in bits[row])
        line = Text(chars, no_wrap=True, overflow="crop")
        owners = owner[row]
        start = 0
        for col in range(1, width + 1):  # one style span per run of a colour
            if col == width or owners[col] != owners[start]:
                style = owners[start]
                if style:
                    line.stylize(style, start, col)
                start = col
        lines.append(line)
    errors = [0] * width
    for curve in curves:
        for i, n in enumerate(curve.series.error_buckets(width, end) if end > 0 else []):
            errors[i] += n
    marks = Text("".join("x" if n else "─" for n in errors), style="grey37", no_wrap=True, overflow="crop")
    for i, n in enumerate(errors):
        if n:
            marks.stylize("bold red", i, i + 1)
    lines.append(marks)
    return lines


class SpeedChart(Widget):
    """Rate over time with a caption; `curves` set by the owner, redrawn on refresh()."""

    DEFAULT_CSS = """
    SpeedChart { height: 9; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None, legend: bool = False) -> None:
        super().__init__(id=id, classes=classes)
        self.curves: list[Curve] = []
        self.legend = legend

    def set_curves(self, curves: list[Curve]) -> None:
        self.curves = curves
        self.refresh()

    def caption(self) -> Text:
        if not self.curves:
            return Text("no speed samples yet", style="dim")
        if self.legend:
            t = Text(no_wrap=True, overflow="ellipsis")
            for c in self.curves:
                t.append("━━ ", style=c.colour)
                t.append(f"{c.label} (avg {fmt_rate(c.series.average)})  ")
            return t
        s = self.curves[0].series
        return Text.assemble(
            ("now ", "dim"), (fmt_rate(s.current), "bold"),
            ("  avg ", "dim"), (fmt_rate(s.average), "bold"),
            ("  peak ", "dim"), fmt_rate(s.peak),
            ("  read errors ", "dim"), (str(len(s.errors)), "bold red" if s.errors else ""),
            ("  over ", "dim"), fmt_duration(s.last_t),
            no_wrap=True, overflow="ellipsis",
        )  # fmt: skip

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        if height < 3 or width < 4:
            return self.caption()
        lines = [self.caption(), *plot(self.curves, width, height - 2)]
        for line in lines:
            line.truncate(width, overflow="ellipsis")
        return Text("\n", no_wrap=True, overflow="crop").join(lines)

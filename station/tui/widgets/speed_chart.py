"""The speed chart: read rate over time, one braille curve per series, read errors marked below,
with values on both axes.

One series on the live screen (current, average and peak rate in the caption); several overlaid
in the comparison, each in its own colour *and* with its own marker (1, 2, 3... along its curve
and in the legend), so that they are told apart without colour too.
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
MARKERS = "123456789ABCDEFGHIJ"
MARKS_PER_CURVE = 4  # markers along each curve of a comparison (and one at its end)
SEP = (" · ", "dim")  # between the caption's items: never run together


@dataclass
class Curve:
    series: SpeedSeries
    label: str
    colour: str = "green"
    marker: str = ""  # a character drawn along the curve (comparisons); "" for none


def plot(curves: list[Curve], width: int, height: int, t_end: float | None = None) -> list[Text]:
    """Draw the curves as `height` lines of `width` braille cells, plus one line of error marks."""
    width, height = max(width, 1), max(height, 1)
    peak = max((c.series.peak for c in curves), default=0.0) or 1.0
    end = t_end if t_end is not None else max((c.series.last_t for c in curves), default=0.0)
    bits = [[0] * width for _ in range(height)]
    owner: list[list[str | None]] = [[None] * width for _ in range(height)]
    marks: dict[tuple[int, int], Curve] = {}
    px_h = height * 4
    for curve in curves:
        values = curve.series.buckets(width * 2, end) if end > 0 else []
        prev: int | None = None
        last: tuple[int, int] | None = None
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
            last = (y // 4, x // 2)
            if curve.marker and x % 2 == 0 and (x // 2) % max(width // MARKS_PER_CURVE, 1) == width // 8:
                marks[(y // 4, x // 2)] = curve
        if curve.marker and last is not None:
            marks[last] = curve
    lines: list[Text] = []
    for row in range(height):
        chars = [chr(0x2800 + b) if b else " " for b in bits[row]]
        for (r, col), curve in marks.items():
            if r == row:
                chars[col] = curve.marker
        line = Text("".join(chars), no_wrap=True, overflow="crop")
        owners = list(owner[row])
        for (r, col), curve in marks.items():
            if r == row:
                owners[col] = f"bold reverse {curve.colour}"
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
    error_line = Text(
        "".join("x" if n else "─" for n in errors), style="grey37", no_wrap=True, overflow="crop"
    )
    for i, n in enumerate(errors):
        if n:
            error_line.stylize("bold red", i, i + 1)
    lines.append(error_line)
    return lines


def y_labels(peak: float, height: int) -> list[str]:
    """The rate at the top, half of it in the middle and 0 at the bottom of `height` plot rows."""
    labels = [""] * height
    if height >= 1:
        labels[-1] = "0"
    if height >= 2:
        labels[0] = fmt_rate(peak)
    if height >= 5:
        labels[(height - 1) // 2] = fmt_rate(peak / 2)
    return labels


def time_axis(end: float, width: int) -> Text:
    """0 at the left, the middle and the end of the time axis under `width` columns."""
    line = [" "] * width
    marks = [(0, "0s"), (width // 2, fmt_duration(end / 2)), (width, fmt_duration(end))]
    if marks[1][1] in (marks[0][1], marks[2][1]):  # a short run: the middle says nothing new
        del marks[1]
    if marks[-1][1] == marks[0][1]:
        del marks[-1]
    for at, label in marks:
        start = max(0, min(at - len(label) // 2 if at else 0, width - len(label)))
        if all(c == " " for c in line[max(start - 1, 0) : start + len(label) + 1]):
            line[start : start + len(label)] = label
    return Text("".join(line), style="dim", no_wrap=True, overflow="crop")


class SpeedChart(Widget):
    """Rate over time with a caption and values on its axes; `curves` set by the owner."""

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
                if c.marker:
                    t.append(c.marker, style=f"bold reverse {c.colour}")
                    t.append(" ")
                t.append("━━ ", style=c.colour)
                t.append(f"{c.label} (avg {fmt_rate(c.series.average)})  ")
            return t
        s = self.curves[0].series
        return Text.assemble(
            ("now ", "dim"), (fmt_rate(s.current), "bold"), SEP,
            ("avg ", "dim"), (fmt_rate(s.average), "bold"), SEP,
            ("peak ", "dim"), fmt_rate(s.peak), SEP,
            ("errors ", "dim"), (str(len(s.errors)), "bold red" if s.errors else ""), SEP,
            ("over ", "dim"), fmt_duration(s.last_t),
            no_wrap=True, overflow="ellipsis",
        )  # fmt: skip

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        if height < 4 or width < 16:
            return self.caption()
        peak = max((c.series.peak for c in self.curves), default=0.0) or 1.0
        end = max((c.series.last_t for c in self.curves), default=0.0)
        rows = height - 3  # the caption, the error marks and the time axis take the rest
        labels = y_labels(peak, rows)
        margin = max(len(label) for label in labels) + 1
        plotted = plot(self.curves, width - margin, rows, end)
        lines = [self.caption()]
        for label, line in zip([*labels, ""], plotted, strict=True):
            lines.append(Text(f"{label:>{margin - 1}} ", style="dim", no_wrap=True) + line)
        lines.append(Text(" " * margin) + time_axis(end, width - margin))
        for line in lines:
            line.truncate(width, overflow="ellipsis")
        return Text("\n", no_wrap=True, overflow="crop").join(lines)

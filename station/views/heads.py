"""The head map as text, for `station map --heads` and the workstation's head map: heads x zones.

Each cell is one head in one learned zone (station.rescue.heads), drawn as what most needs a
technician's eye there: bad if a percent or more of it is, else slow, else untried, else good
(as OpenSuperClone's analysis and Atola's head map show it).  A table of each head's shares
follows.  Pure functions: rich Text, no Textual.
"""

from __future__ import annotations

from rich.text import Text

from station.core.units import fmt_bytes, format_percentage
from station.rescue.heads import Cell, HeadLayout, Zone

# (character, style) of each cell state; the character keeps the map readable without colour
LOOK: dict[str, tuple[str, str]] = {
    "good": ("+", "bold green"),
    "bad": ("X", "bold red"),
    "slow": ("~", "bold magenta"),
    "untried": (".", "grey50"),
}
CELL_WIDTH = 3


def head_map_lines(layout: HeadLayout, cells: list[list[Cell]]) -> list[Text]:
    """One line per head: its cells across the zones, after a header line of zone numbers."""
    head = Text("        zone", no_wrap=True)
    for i in range(len(layout.zones)):
        head.append(f"{i + 1:>{CELL_WIDTH}}")
    lines = [head]
    for h, row in enumerate(cells):
        line = Text(f"head {h:>2}    ", no_wrap=True)
        for c in row:
            char, style = LOOK[c.worst()] if c.total else (" ", "")
            line.append(f"{char:>{CELL_WIDTH}}", style=style)
        lines.append(line)
    return lines


def head_legend() -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    for name, (char, style) in LOOK.items():
        text.append(char, style=style)
        text.append(f" {name}  ")
    text.append("(a cell: one head in one zone; bad when 1% of it is)")
    return text


def head_table(cells: list[list[Cell]]) -> list[str]:
    """Each head's bytes by state over every zone, as shares."""
    lines = ["head        good        bad       slow    untried"]
    for h, row in enumerate(cells):
        total = sum(c.total for c in row)
        shares = [sum(getattr(c, k) for c in row) for k in ("good", "bad", "slow", "untried")]
        lines.append(f"{h:>4} " + "".join(f"{format_percentage(s, total):>11}" for s in shares))
    return lines


def zone_lines(layout: HeadLayout) -> list[str]:
    """Where each zone lies and what was learned there."""
    out = []
    for i, z in enumerate(layout.zones):
        out.append(
            f"zone {i + 1:>2}: {fmt_bytes(z.lo):>9} – {fmt_bytes(z.hi):<9} band {fmt_bytes(z.period):>9}"
            + _said(z)
        )
    return out


def layout_line(layout: HeadLayout) -> str:
    how = "estimated from the bands of bad or slow areas (give the count to correct it)"
    return f"heads: {layout.heads}, " + (how if layout.estimated else "as given")


def _said(z: Zone) -> str:
    parts = []
    if z.bad_heads:
        parts.append("bad: head " + ", ".join(map(str, z.bad_heads)))
    if z.slow_heads:
        parts.append("slow: head " + ", ".join(map(str, z.slow_heads)))
    return ("   " + "; ".join(parts)) if parts else ""

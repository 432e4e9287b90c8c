"""The head map: heads x zones, as OpenSuperClone's analysis and Atola's head map show a drive.

Draws a HeadSnapshot (station.views.live) with the CLI's text (station.views.heads): a row per
head, a column per zone learned from the bands of bad or slow areas, then each head's shares.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from station.views.heads import head_legend, head_map_lines, head_table, layout_line, zone_lines
from station.views.live import HeadSnapshot


class HeadMap(Static):
    """A head map, or why there is none yet."""

    DEFAULT_CSS = """
    HeadMap { height: auto; }
    """

    def show(self, snap: HeadSnapshot | None) -> None:
        if snap is None:
            self.update("reading the map…")
            return
        if snap.layout is None:
            self.update(
                "no head map yet: it appears once bad or slow areas recur at a head's period\n"
                "(a dead, weak or slow head leaves one stretch per band)"
            )
            return
        parts: list[Text] = [Text(layout_line(snap.layout)), Text()]
        parts += head_map_lines(snap.layout, snap.cells)
        parts += [head_legend(), Text()]
        parts += [Text(line) for line in zone_lines(snap.layout)]
        parts += [Text()] + [Text(line) for line in head_table(snap.cells)]
        self.update(Group(*parts))

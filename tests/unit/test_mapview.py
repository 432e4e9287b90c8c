"""The `station map` views: ddrescuelog-style summary and the block map."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.text import Text

from station.rescue.mapfile import write_mapfile
from station.rescue.rescuemap import Phase, RescueMap, Status
from station.views.mapview import (
    CELL_CHAR,
    SEVERITY,
    block_map,
    cell_bounds,
    cell_of,
    legend,
    summary_text,
)

DDRESCUELOG = shutil.which("ddrescuelog")
STATUS_OF_CHAR = {c: s for s, c in CELL_CHAR.items()}


def styles(line: Text) -> list[str]:
    """The style of every character of a line."""
    out = [""] * len(line.plain)
    for span in line.spans:
        for i in range(span.start, span.end):
            out[i] = f"{out[i]} {span.style}".strip()
    return out


def grid(lines: list[Text]) -> str:
    return "".join(line.plain for line in lines)


def finished_map(size: int, bad: list[tuple[int, int]]) -> RescueMap:
    m = RescueMap(size, Status.FINISHED)
    for pos, length in bad:
        m.set_status(pos, length, Status.BAD_SECTOR)
    return m


# -- summary ------------------------------------------------------------------------------------


def test_summary_totals() -> None:
    m = RescueMap.from_blocks(
        880,
        [
            (0, 256, Status.FINISHED),
            (256, 768, Status.BAD_SECTOR),
            (768, 784, Status.NON_TRIED),
            (784, 816, Status.NON_TRIMMED),
            (816, 880, Status.NON_SCRAPED),
        ],
    )
    m.current_pos, m.phase, m.pass_ = 256, Phase.FINISHED, 2
    lines = summary_text(m).splitlines()
    assert lines[0] == "   current pos:      256 B,  current status: finished,  current pass: 2"
    assert lines[1] == "   domain size:      880 B,  in      5 area(s)"
    assert lines[3:] == [
        "     non-tried:       16 B,  in      1 area(s)  (  1.82%)",
        "       rescued:      256 B,  in      1 area(s)  ( 29.09%)",
        "   non-trimmed:       32 B,  in      1 area(s)  (  3.64%)",
        "   non-scraped:       64 B,  in      1 area(s)  (  7.27%)",
        "    bad-sector:      512 B,  in      1 area(s)  ( 58.18%)",
    ]


def test_summary_big_map_uses_prefixes() -> None:
    m = RescueMap(2 * 10**12)
    m.set_status(0, 10**12, Status.FINISHED)
    m.set_status(10**12, 3 * 2**20, Status.BAD_SECTOR)
    text = summary_text(m)
    assert "   domain size:    2000 GB,  in      3 area(s)" in text
    assert "       rescued:    1000 GB,  in      1 area(s)  ( 50%)" in text
    assert "    bad-sector:    3145 kB,  in      1 area(s)  (  0.00%)" in text
    assert "    bad-sector:   3072 KiB," in summary_text(m, binary=True)


def test_summary_of_empty_map() -> None:
    text = summary_text(RescueMap(0))
    assert "domain size:        0 B,  in      0 area(s)" in text
    assert "rescued:        0 B,  in      0 area(s)  (  0%)" in text


@st.composite
def small_maps(draw: st.DrawFn) -> RescueMap:
    scale = draw(st.sampled_from([1, 7, 4096, 999_983, 2**30]))
    parts = draw(
        st.lists(st.tuples(st.integers(1, 500), st.sampled_from(list(Status))), min_size=1, max_size=30)
    )
    blocks, pos = [], 0
    for length, status in parts:
        blocks.append((pos, pos + length * scale, status))
        pos += length * scale
    m = RescueMap.from_blocks(pos, blocks)
    m.current_pos = draw(st.integers(0, pos))
    m.phase = draw(st.sampled_from([p for p in Phase if p != Phase.SWEEPING]))
    return m


@pytest.mark.skipif(DDRESCUELOG is None, reason="GNU ddrescuelog is not on PATH")
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(m=small_maps(), binary=st.booleans())
def test_summary_matches_ddrescuelog(tmp_path: Path, m: RescueMap, binary: bool) -> None:
    assert DDRESCUELOG is not None
    path = tmp_path / "x.map"
    write_mapfile(path, m)
    cmd = [DDRESCUELOG, "-t", *(["-B"] if binary else []), str(path)]
    theirs = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
    ours = summary_text(m, binary=binary).splitlines()
    # The five status lines are identical; the first two differ only in naming and our pass.
    assert ours[3:] == theirs[4:9]
    assert ours[0].startswith(theirs[1])
    assert ours[1].split(":", 1)[1] == theirs[2].split(":", 1)[1]


# -- block map ----------------------------------------------------------------------------------


def test_bad_block_in_the_middle_shows_in_the_right_cell() -> None:
    m = finished_map(1000, [(500, 10)])
    lines = block_map(m, width=10, rows=1)
    assert len(lines) == 1
    assert lines[0].plain == "+++++-++++"
    st_ = styles(lines[0])
    assert "red" in st_[5]
    assert all("green" in s for i, s in enumerate(st_) if i != 5)


def test_tiny_bad_block_inside_a_finished_cell_still_shows() -> None:
    size = 10**9
    m = finished_map(size, [(123_456_789, 1)])
    lines = block_map(m, width=80, rows=20)
    assert len(lines) == 20 and all(len(line.plain) == 80 for line in lines)
    cells = grid(lines)
    expected = 123_456_789 * 1600 // size  # each cell covers 625000 bytes
    assert cells[expected] == "-"
    assert cells.count("-") == 1
    assert cells.count("+") == 1599


def test_cell_shows_worst_status_present() -> None:
    m = RescueMap(400, Status.FINISHED)
    m.set_status(10, 5, Status.NON_TRIED)  # cell 0: + and ?
    m.set_status(110, 5, Status.NON_TRIED)  # cell 1: +, ? and *
    m.set_status(150, 5, Status.NON_TRIMMED)
    m.set_status(210, 5, Status.NON_SCRAPED)  # cell 2: +, / and -
    m.set_status(299, 1, Status.BAD_SECTOR)
    assert grid(block_map(m, width=4, rows=1)) == ".*-+"
    m.set_status(310, 5, Status.NON_TRIMMED)  # cell 3: +, * and /
    m.set_status(350, 5, Status.NON_SCRAPED)
    assert grid(block_map(m, width=4, rows=1)) == ".*-/"


def test_current_position_is_marked_once() -> None:
    m = finished_map(1000, [])
    m.current_pos = 742
    lines = block_map(m, width=10, rows=2)  # 20 cells of 50 bytes
    marks = [(r, c) for r, line in enumerate(lines) for c, s in enumerate(styles(line)) if "reverse" in s]
    assert marks == [(1, 4)]
    assert grid(lines) == "+" * 20  # the mark keeps the status character
    m.current_pos = 1000  # past the end: nothing to mark
    assert not any("reverse" in s for line in block_map(m, 10, 2) for s in styles(line))


def test_map_smaller_than_grid_gets_one_cell_per_byte() -> None:
    m = RescueMap(5)
    m.set_status(2, 1, Status.BAD_SECTOR)
    lines = block_map(m, width=4, rows=3)
    assert [line.plain for line in lines] == ["..-.", ".   ", "    "]


def test_empty_map_and_bad_sizes() -> None:
    assert [line.plain for line in block_map(RescueMap(0), 3, 2)] == ["   ", "   "]
    with pytest.raises(ValueError):
        block_map(RescueMap(10), 0, 5)
    with pytest.raises(ValueError):
        block_map(RescueMap(10), 5, 0)


def test_huge_sparse_map_is_drawn_without_walking_bytes() -> None:
    size = 2**60
    m = finished_map(size, [(2**59, 512)])
    m.set_status(size - 4096, 4096, Status.NON_TRIED)
    cells = grid(block_map(m, width=100, rows=40))
    assert cells[2000] == "-"
    assert cells[-1] == "."
    assert cells.count("+") == 3998


def test_legend_names_every_status() -> None:
    text = "\n".join(line.plain for line in legend(bytes_per_cell=625_000))
    for char in CELL_CHAR.values():
        assert char in text
    for label in ("rescued", "non-tried", "non-trimmed", "non-scraped", "bad-sector", "current position"):
        assert label in text
    assert "1 cell = 625000 B" in text
    assert len(set(CELL_CHAR.values())) == len(Status)
    assert text.count("+") == 1  # the current position is said in words, not with a second `+`


def test_legend_lines_fit_the_width_without_splitting_an_item() -> None:
    lines = [line.plain for line in legend(bytes_per_cell=625_000, width=40)]
    assert len(lines) > 2 and all(len(line) <= 40 for line in lines), lines
    assert "current position" in "\n".join(lines) and any(line.startswith("reverse video") for line in lines)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_block_map_matches_naive_model(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 300), label="size")
    model = [Status.NON_TRIED] * size
    m = RescueMap(size)
    for _ in range(data.draw(st.integers(0, 12))):
        pos = data.draw(st.integers(0, size - 1))
        length = data.draw(st.integers(1, size - pos))
        status = data.draw(st.sampled_from(list(Status)))
        m.set_status(pos, length, status)
        model[pos : pos + length] = [status] * length
    m.current_pos = data.draw(st.integers(0, size))
    width, rows = data.draw(st.integers(1, 40)), data.draw(st.integers(1, 8))

    lines = block_map(m, width, rows)
    cells = grid(lines)
    cell_styles = [s for line in lines for s in styles(line)]
    edges = cell_bounds(size, width * rows)
    assert edges[0] == 0 and edges[-1] == size and edges == sorted(edges)
    for i, char in enumerate(cells):
        covered = model[edges[i] : edges[i + 1]]
        if not covered:
            assert char == " "
            continue
        worst = next(s for s in SEVERITY if s in covered)
        assert STATUS_OF_CHAR[char] == worst, (i, covered)
        holds_pos = edges[i] <= m.current_pos < edges[i + 1]
        assert ("reverse" in cell_styles[i]) == holds_pos
        assert (cell_of(size, width * rows, m.current_pos) == i) == holds_pos

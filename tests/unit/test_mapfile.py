"""Mapfile parsing per GNU ddrescue's rules, round trips, atomic writes, and interop with the real tools."""

from __future__ import annotations

import errno
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from station.rescue.mapfile import (
    MapfileError,
    format_mapfile,
    parse_c_int,
    parse_mapfile,
    read_mapfile,
    write_mapfile,
)
from station.rescue.rescuemap import Phase, RescueMap, Status

DDRESCUE = shutil.which("ddrescue")
DDRESCUELOG = shutil.which("ddrescuelog")
needs_ddrescuelog = pytest.mark.skipif(DDRESCUELOG is None, reason="GNU ddrescuelog is not on PATH")
needs_ddrescue = pytest.mark.skipif(
    DDRESCUE is None or DDRESCUELOG is None, reason="GNU ddrescue/ddrescuelog is not on PATH"
)


def parse(text: str) -> RescueMap:
    return parse_mapfile(text, "test.map")


def triples(m: RescueMap) -> list[tuple[int, int, str]]:
    return [(b.pos, b.size, b.status.value) for b in m]


# -- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ("0", 0),
        ("00", 0),
        ("123", 123),
        ("0x10", 16),
        ("0X1f", 31),
        ("0xABCDEF", 0xABCDEF),
        ("010", 8),
        ("0777", 511),
        ("+5", 5),
        ("-5", -5),
        ("-0x10", -16),
        ("+010", 8),
    ],
)
def test_parse_c_int(text: str, value: int) -> None:
    assert parse_c_int(text) == value


@pytest.mark.parametrize(
    "text", ["", "08", "0x", "1a", "--1", "+-1", " 1", "1.0", "0b1", "0xg", "1e3", "x10"]
)
def test_parse_c_int_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_c_int(text)


def test_numbers_in_any_base() -> None:
    m = parse("0x20 ? 02\n0 0x10 +\n16 010 -\n030 +0x8 /\n")
    assert triples(m) == [(0, 16, "+"), (16, 8, "-"), (24, 8, "/")]
    assert (m.current_pos, m.pass_) == (32, 2)


# -- layout: comments, blank lines, status line --------------------------------------------------


def test_comments_and_blank_lines_are_ignored() -> None:
    text = (
        "# Mapfile. Created by GNU ddrescue version 1.27\n"
        "\n"
        "   # indented comment\n"
        "\t\n"
        "0x10 ? 1   # status line comment\n"
        "# pos size status\n"
        "0x0 0x10 +\t#tab then comment\n"
        "0x10 0x10 -  #\n"
        "\n"
    )
    m = parse(text)
    assert triples(m) == [(0, 16, "+"), (16, 16, "-")]
    assert m.current_pos == 16


def test_crlf_line_ends_are_accepted() -> None:
    m = parse("0 ?\r\n0 0x10 +\r\n0x10 0x10 -\r\n")
    assert triples(m) == [(0, 16, "+"), (16, 16, "-")]


@pytest.mark.parametrize(
    "text, line",
    [
        ("0x10#a ?\n0 0x10 +\n", 1),  # '#' glued to the position
        ("0 ?#\n0 0x10 +\n", 1),  # glued to the status char
        ("0 ?\n0 0x10#5 +\n", 2),  # glued to the size
        ("0 ?\n0 0x10 +#c\n", 2),  # glued to the block status
    ],
)
def test_hash_glued_to_a_token_is_not_a_comment(text: str, line: int) -> None:
    with pytest.raises(MapfileError, match=rf"test\.map: line {line}: "):
        parse(text)


def test_status_line_with_and_without_pass() -> None:
    m = parse("0x100 * 3\n0 0x200 +\n")
    assert (m.current_pos, m.phase, m.pass_) == (0x100, Phase.TRIMMING, 3)
    m = parse("0x100 /\n0 0x200 +\n")
    assert (m.current_pos, m.phase, m.pass_) == (0x100, Phase.SCRAPING, 1)


@pytest.mark.parametrize("char", list("?*%/-FG+"))
def test_every_current_status_char(char: str) -> None:
    m = parse(f"0 {char} 2\n0 0x10 +\n")
    assert m.phase == Phase(char)
    assert m.pass_ == 2


def test_phase_chars_are_the_documented_set() -> None:
    assert {p.value for p in Phase} == set("?*%/-FG+")
    assert {s.value for s in Status} == set("?*/-+")


@pytest.mark.parametrize("char", list("?*/-+"))
def test_every_block_status_char(char: str) -> None:
    m = parse(f"0 ?\n0 0x10 {char}\n0x10 0x10 {'+' if char != '+' else '-'}\n")
    assert m.block_at(0).status == Status(char)
    assert m.bytes_in(Status(char)) == 16


def test_first_block_past_zero_means_non_tried_before_it() -> None:
    assert triples(parse("0 ?\n0x10 0x10 +\n")) == [(0, 16, "?"), (16, 16, "+")]
    assert triples(parse("0 ?\n0x10 0x10 ?\n0x20 0x10 -\n")) == [(0, 32, "?"), (32, 16, "-")]


def test_empty_block_at_zero_is_accepted_before_the_first_block() -> None:
    assert triples(parse("0 ?\n0 0 +\n0 0x10 -\n")) == [(0, 16, "-")]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only comments\n\n",
        "0x0 + 4\n",
        "0 ?\n0 0 +\n",
    ],
)
def test_mapfiles_without_blocks_give_an_empty_map(text: str) -> None:
    m = parse(text)
    assert m.size == 0 and list(m) == []


def test_adjacent_equal_blocks_are_merged() -> None:
    m = parse("0 ?\n0 0x10 +\n0x10 0x10 +\n0x20 0x10 -\n")
    assert triples(m) == [(0, 32, "+"), (32, 16, "-")]


# -- errors name the line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, line, what",
    [
        ("# no status line\n0 0x10 +\n", 2, "status line"),
        ("0\n", 1, "status line"),
        ("0 x\n0 0x10 +\n", 1, "status line"),
        ("0 ++\n0 0x10 +\n", 1, "status line"),
        ("0 ? 1 2\n", 1, "status line"),
        ("0 ? 0\n0 0x10 +\n", 1, "pass"),
        ("0 ? -1\n0 0x10 +\n", 1, "pass"),
        ("0 ? x\n0 0x10 +\n", 1, "status line"),
        ("-1 ?\n0 0x10 +\n", 1, "negative"),
        ("0 ?\n0 0x10\n", 2, "bad block line"),
        ("0 ?\n0 0x10 + extra\n", 2, "bad block line"),
        ("0 ?\nzz 0x10 +\n", 2, "bad block line"),
        ("0 ?\n0 0x10 x\n", 2, "bad block line"),
        ("0 ?\n0 0x10 F\n", 2, "bad block line"),
        ("0 ?\n0 0x10 %\n", 2, "bad block line"),
        ("0 ?\n0 0x10 +-\n", 2, "bad block line"),
        ("0 ?\n0 0x10 +\n0x20 0x10 -\n", 3, "does not start"),
        ("0 ?\n0 0x10 +\n0x8 0x10 -\n", 3, "does not start"),
        ("0 ?\n0x10 0x10 +\n0 0x10 -\n", 3, "does not start"),
        ("0 ?\n-0x10 0x10 +\n", 2, "negative"),
        ("0 ?\n0 -8 +\n", 2, "negative"),
        ("0 ?\n0 0x10 +\n0x10 0 +\n0x10 0x10 -\n", 3, "empty block"),
        ("0 ?\n0 0x10 +\n0 0 -\n", 3, "does not start"),
        ("0 ?\n0 0 +\n0x10 0x10 -\n", 3, "does not start"),
        ("# a\n\n# b\n0 ?\n\n0 0x10 +\n0x10 0x10 q\n", 7, "bad block line"),
    ],
)
def test_errors_name_the_line(text: str, line: int, what: str) -> None:
    with pytest.raises(MapfileError, match=rf"^test\.map: line {line}: .*{what}"):
        parse(text)


def test_error_is_a_value_error() -> None:
    assert issubclass(MapfileError, ValueError)


def test_read_binary_garbage_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "garbage.map"
    p.write_bytes(b"# fine\n0 ?\n\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(MapfileError, match=rf"{re.escape(str(p))}: line 3: .*binary"):
        read_mapfile(p)
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(MapfileError, match=r": line \d+: "):
        read_mapfile(p)
    p.write_bytes(b"\x00\x00\x00\x01\x02")  # ASCII control bytes: not a status line
    with pytest.raises(MapfileError, match=r": line 1: "):
        read_mapfile(p)


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MapfileError, match="cannot read"):
        read_mapfile(tmp_path / "nope.map")


# -- formatting and round trips ------------------------------------------------------------------


@st.composite
def rescue_maps(draw: st.DrawFn, max_blocks: int = 40) -> RescueMap:
    """Random maps: contiguous blocks of random statuses, sizes scaled to exercise big numbers."""
    scale = draw(st.sampled_from([1, 512, 1_000_003, 2**30]))
    parts = draw(st.lists(st.tuples(st.integers(1, 300), st.sampled_from(list(Status))), max_size=max_blocks))
    blocks, pos = [], 0
    for length, status in parts:
        blocks.append((pos, pos + length * scale, status))
        pos += length * scale
    m = RescueMap.from_blocks(pos, blocks)
    m.current_pos = draw(st.integers(0, pos))
    m.phase = draw(st.sampled_from(list(Phase)))
    m.pass_ = draw(st.integers(1, 1000))
    return m


@settings(max_examples=100, deadline=None)
@given(rescue_maps(), st.booleans())
def test_format_then_parse_round_trips(m: RescueMap, write_sweeping: bool) -> None:
    text = format_mapfile(m, command_line="station rescue /dev/sdz img map", start_time=0.0, message="hi")
    back = parse(text)
    assert list(back) == list(m)
    assert (back.size, back.current_pos, back.pass_) == (m.size, m.current_pos, m.pass_)
    expected_phase = Phase.COPYING if m.phase == Phase.SWEEPING else m.phase
    assert back.phase == expected_phase

    swept = parse(format_mapfile(m, write_sweeping=True))
    assert swept.phase == m.phase
    assert list(swept) == list(m)


@settings(max_examples=50, deadline=None)
@given(rescue_maps(max_blocks=15))
def test_any_spelling_of_the_numbers_gives_the_same_map(m: RescueMap) -> None:
    """ddrescue's own hex layout and hand-written decimal/octal/commented lines parse alike."""
    lines = [f"{m.current_pos} {m.phase.value} {m.pass_}"]
    for i, b in enumerate(m):
        st = b.status.value
        spelled = [
            f"{b.pos} {b.size} {st}",
            f"0{b.pos:o} +{b.size:#x} {st}  # octal and signed hex",
            f"\t{b.pos:#X}  {b.size:#x} {st}",
            f"0x{b.pos:08X}  0x{b.size:08X}  {st}",
        ]
        lines.append(spelled[i % 4])
    back = parse("\n".join(lines))
    assert list(back) == list(m)
    assert (back.current_pos, back.phase, back.pass_) == (m.current_pos, m.phase, m.pass_)


def status_line(text: str) -> str:
    return next(ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))


def test_sweeping_is_written_as_copying_by_default() -> None:
    m = RescueMap(0x1000)
    m.phase = Phase.SWEEPING
    assert status_line(format_mapfile(m)).split()[1] == "?"
    assert status_line(format_mapfile(m, write_sweeping=True)).split()[1] == "%"


def test_format_layout_matches_ddrescue() -> None:
    m = RescueMap.from_blocks(0x30000, [(0, 0x20000, Status.FINISHED), (0x20000, 0x30000, Status.BAD_SECTOR)])
    m.current_pos, m.phase, m.pass_ = 0x20000, Phase.RETRYING, 2
    lines = format_mapfile(m).splitlines()
    assert lines[-4:] == [
        "0x00020000     -               2",
        "#      pos        size  status",
        "0x00000000  0x00020000  +",
        "0x00020000  0x00010000  -",
    ]
    assert lines[0].startswith("# Mapfile. Created by Station")


# -- atomic write ----------------------------------------------------------------------------------


def test_write_keeps_previous_version_as_bak(tmp_path: Path) -> None:
    path = tmp_path / "rescue.map"
    m = RescueMap(0x1000)
    write_mapfile(path, m)
    first = path.read_text()
    assert sorted(os.listdir(tmp_path)) == ["rescue.map"]

    m.set_status(0, 0x800, Status.FINISHED)
    write_mapfile(path, m)
    second = path.read_text()
    assert (tmp_path / "rescue.map.bak").read_text() == first
    assert triples(read_mapfile(path)) == [(0, 0x800, "+"), (0x800, 0x800, "?")]

    m.set_status(0x800, 0x800, Status.BAD_SECTOR)
    write_mapfile(path, m, command_line="x")
    assert (tmp_path / "rescue.map.bak").read_text() == second
    assert triples(read_mapfile(path)) == [(0, 0x800, "+"), (0x800, 0x800, "-")]
    assert sorted(os.listdir(tmp_path)) == ["rescue.map", "rescue.map.bak"]


def test_failed_write_leaves_old_map_and_no_temp_files(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "rescue.map"
    write_mapfile(path, RescueMap(0x1000))
    before = path.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        write_mapfile(path, RescueMap(0x2000))
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["rescue.map"]


def test_a_command_line_that_is_not_ascii_is_escaped(tmp_path: Path) -> None:
    path = tmp_path / "rescue.map"
    write_mapfile(path, RescueMap(0x1000), command_line="station image src caf\u00e9\nx.img")
    lines = path.read_text(encoding="ascii").splitlines()
    assert "# Command line: station image src caf\\xe9\\nx.img" in lines
    assert read_mapfile(path).size == 0x1000


# -- interop with GNU ddrescuelog / ddrescue ------------------------------------------------------

_SI = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_TOTAL_LINE = re.compile(
    r"^\s*(non-tried|rescued|non-trimmed|non-scraped|bad-sector):"
    r"\s+(\d+) ([kMGTPE]?)B,\s+in\s+(\d+) area\(s\)"
)
_NAMES = {
    "non-tried": Status.NON_TRIED,
    "rescued": Status.FINISHED,
    "non-trimmed": Status.NON_TRIMMED,
    "non-scraped": Status.NON_SCRAPED,
    "bad-sector": Status.BAD_SECTOR,
}


def ddrescuelog_t(path: Path) -> str:
    """Run `ddrescuelog -t`; fail the test with its stderr if it rejects the file."""
    assert DDRESCUELOG is not None
    r = subprocess.run([DDRESCUELOG, "-t", str(path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"ddrescuelog rejected {path}: {r.stderr}\n{path.read_text()[:2000]}"
    return r.stdout


def assert_totals_match(output: str, m: RescueMap) -> None:
    """ddrescuelog prints bytes divided (truncating) by 1000 until <= 999999, then an SI prefix."""
    s = m.summary()
    seen = set()
    for line in output.splitlines():
        match = _TOTAL_LINE.match(line)
        if not match:
            continue
        name, number, prefix, areas = match.groups()
        status = _NAMES[name]
        ours = s.bytes[status]
        assert ours // _SI[prefix] == int(number), (name, ours, line)
        assert (prefix != "") == (ours > 999_999), (name, ours, line)
        assert int(areas) == s.areas[status], (name, line)
        seen.add(name)
    assert seen == set(_NAMES), output
    extent = re.search(r"mapfile extent:\s+(\d+) ([kMGTPE]?)B,\s+in\s+(\d+) area", output)
    assert extent, output
    assert m.size // _SI[extent.group(2)] == int(extent.group(1))
    assert int(extent.group(3)) == s.fragments


@needs_ddrescuelog
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(m=rescue_maps())
def test_ddrescuelog_accepts_what_we_write(tmp_path: Path, m: RescueMap) -> None:
    if m.size == 0:
        m.resize(512)
    path = tmp_path / "random.map"
    write_mapfile(path, m, command_line="station test")
    out = ddrescuelog_t(path)
    assert_totals_match(out, m)
    written_phase = Phase.COPYING if m.phase == Phase.SWEEPING else m.phase
    assert f"current status: {written_phase.label}" in out


@needs_ddrescuelog
def test_ddrescuelog_reads_every_status_and_phase(tmp_path: Path) -> None:
    statuses = list(Status)
    m = RescueMap.from_blocks(5 * 4096, [(i * 4096, (i + 1) * 4096, st) for i, st in enumerate(statuses)])
    for phase in Phase:
        m.phase, m.current_pos, m.pass_ = phase, 4096, 3
        path = tmp_path / f"phase{phase.name}.map"
        write_mapfile(path, m)
        out = ddrescuelog_t(path)
        assert_totals_match(out, m)


@pytest.fixture
def ddrescue_source(tmp_path: Path) -> tuple[Path, Path, list[tuple[int, int]]]:
    """A 64 KiB source file and a --test-mode map making some ranges unreadable."""
    src = tmp_path / "src.bin"
    src.write_bytes(random.Random(1).randbytes(0x10000))
    bad = [(0x2000, 0x2800), (0x7800, 0x7801), (0xC100, 0xC300)]
    lines = ["0 +"]
    pos = 0
    for lo, hi in bad:
        lines += [f"{pos:#x} {lo - pos:#x} +", f"{lo:#x} {hi - lo:#x} -"]
        pos = hi
    lines.append(f"{pos:#x} {0x10000 - pos:#x} +")
    testmap = tmp_path / "test.map"
    testmap.write_text("\n".join(lines) + "\n")
    return src, testmap, bad


def run_ddrescue(tmp_path: Path, src: Path, testmap: Path, mapfile: Path, *opts: str) -> None:
    assert DDRESCUE is not None
    cmd = [
        DDRESCUE,
        "-q",
        "-H",
        str(testmap),
        "-c",
        "4",
        *opts,
        str(src),
        str(tmp_path / "dst.img"),
        str(mapfile),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def independent_blocks(path: Path) -> list[tuple[int, int, str]]:
    """The block lines of a ddrescue-written mapfile, read naively (ddrescue writes hex)."""
    rows = [ln.split() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return [(int(p, 16), int(s, 16), st) for p, s, st in rows[1:]]


def bad_sectors(m: RescueMap, sector: int = 512) -> set[int]:
    return {s for b in m if b.status == Status.BAD_SECTOR for s in range(b.pos // sector, b.end // sector)}


def sector_cover(ranges: list[tuple[int, int]], sector: int = 512) -> set[int]:
    return {s for lo, hi in ranges for s in range(lo // sector, (hi + sector - 1) // sector)}


@needs_ddrescue
@pytest.mark.parametrize(
    "opts", [(), ("-n", "-N"), ("-n",), ("-s", "0x4000"), ("-i", "0x1000", "-s", "0x2000")]
)
def test_parses_mapfiles_written_by_ddrescue(
    tmp_path: Path, ddrescue_source: tuple[Path, Path, list[tuple[int, int]]], opts: tuple[str, ...]
) -> None:
    src, testmap, bad = ddrescue_source
    mapfile = tmp_path / "rescue.map"
    run_ddrescue(tmp_path, src, testmap, mapfile, *opts)
    m = read_mapfile(mapfile)
    assert triples(m) == independent_blocks(mapfile)
    assert m.size == 0x10000
    assert m.phase == Phase.FINISHED
    assert_totals_match(ddrescuelog_t(mapfile), m)
    # Nothing ddrescue was told is unreadable may be marked rescued.
    for lo, hi in bad:
        assert all(b.status != Status.FINISHED for b in m.blocks(lo, hi))
    if opts == ():
        assert bad_sectors(m) == sector_cover(bad)
        assert m.summary().finished
    if opts == ("-n", "-N"):
        assert m.count(Status.NON_TRIMMED) > 0
    if opts == ("-n",):
        assert m.count(Status.NON_SCRAPED) > 0
    if opts[:1] in (("-s",), ("-i",)):
        assert m.status_at(0xFFFF) == Status.NON_TRIED


@needs_ddrescue
def test_ddrescue_resumes_from_a_map_we_wrote(
    tmp_path: Path, ddrescue_source: tuple[Path, Path, list[tuple[int, int]]]
) -> None:
    """Stop after copying, rewrite the map ourselves, and let ddrescue finish from it."""
    src, testmap, bad = ddrescue_source
    mapfile = tmp_path / "rescue.map"
    run_ddrescue(tmp_path, src, testmap, mapfile, "-n", "-N")
    partial = read_mapfile(mapfile)
    assert partial.count(Status.NON_TRIMMED) > 0
    write_mapfile(mapfile, partial)
    run_ddrescue(tmp_path, src, testmap, mapfile)
    done = read_mapfile(mapfile)
    assert done.summary().finished
    assert bad_sectors(done) == sector_cover(bad)
    good = src.read_bytes()
    img = (tmp_path / "dst.img").read_bytes()
    for b in done.blocks():
        if b.status == Status.FINISHED:
            assert img[b.pos : b.end] == good[b.pos : b.end]

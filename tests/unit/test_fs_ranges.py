"""Areas (the interval index behind affected) against brute force; bitmaps to ranges."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from station.fs.ranges import Areas, join, merge, subtract, unrescued_areas
from station.fs.structures.base import bitmap_ranges, nonzero_ranges
from station.rescue.rescuemap import RescueMap, Status

spans = st.lists(
    st.tuples(st.integers(0, 300), st.integers(0, 40)).map(lambda t: (t[0], t[0] + t[1])), max_size=25
)


def cover(ranges) -> set[int]:
    return {i for lo, hi in ranges for i in range(lo, hi)}


@given(spans, st.integers(0, 320), st.integers(0, 60))
def test_areas_answer_like_brute_force(areas, lo, length) -> None:
    a = Areas(areas)
    hi = lo + length
    inside = cover(areas) & set(range(lo, hi))
    assert a.hits(lo, hi) == bool(inside)
    got = a.within(lo, hi)
    assert cover(got) == inside and got == merge(got)
    assert a.bytes == len(cover(areas))


@given(spans, spans)
def test_merge_and_subtract(a, b) -> None:
    assert cover(merge(a)) == cover(a)
    assert cover(subtract(merge(a), merge(b))) == cover(a) - cover(b)


def test_unrescued_areas_join_every_unfinished_status() -> None:
    m = RescueMap(100, Status.FINISHED)
    m.set_status(10, 5, Status.BAD_SECTOR)
    m.set_status(15, 5, Status.NON_SCRAPED)
    m.set_status(40, 5, Status.NON_TRIMMED)
    m.set_status(90, 10, Status.NON_TRIED)
    assert list(unrescued_areas(m)) == [(10, 20), (40, 45), (90, 100)]
    assert not unrescued_areas(None)


@given(st.binary(max_size=40), st.integers(0, 320), st.booleans())
def test_bitmap_ranges(bitmap, count, msb) -> None:
    count = min(count, len(bitmap) * 8)
    bits = [(bitmap[i // 8] >> (7 - i % 8 if msb else i % 8)) & 1 for i in range(count)]
    got = bitmap_ranges(bitmap, count, 4, 1000, msb_first=msb)
    assert cover(got) == {1000 + 4 * i + k for i, b in enumerate(bits) if b for k in range(4)}
    assert got == merge(got)


def test_nonzero_ranges() -> None:
    import numpy as np

    assert nonzero_ranges(np.array([0, 5, 7, 0, 0, 1]), 10, 0) == [(10, 30), (50, 60)]


def test_join_keeps_a_files_runs_in_file_order() -> None:
    # a fragmented file whose second run lies before its first on the disk keeps both
    assert join([(100, 200), (0, 50)]) == [(100, 200), (0, 50)]
    assert join([(0, 50), (50, 80), (200, 300), (300, 310)]) == [(0, 80), (200, 310)]


@given(spans)
def test_join_covers_the_same_bytes(a) -> None:
    assert cover(join(a)) == cover(a)

"""`-d` (O_DIRECT) on a file source (issue 10, §3.3): the sector size is the source's (512 for a
file unless told), and the direct-I/O alignment never widens what is marked bad: the bad bytes are
exactly the test map's, as without -d."""

from __future__ import annotations

import pytest

from station.rescue.rescuemap import Status

KiB = 1024
SIZE = 8 * 1024 * KiB
# bad areas whose edges are not on 4 KiB boundaries, long enough to be crossed and read back
BAD = [(1024 * KiB + 512, 300 * KiB + 1536), (4096 * KiB - 1536, 200 * KiB + 1024), (6000 * KiB + 3072, 1024)]


@pytest.mark.parametrize("direct", [False, True], ids=["buffered", "direct"])
def test_direct_reads_mark_exactly_the_bad_sectors_bad(kit, tmp_path, direct) -> None:
    src = kit.make_source(tmp_path / "src.bin", SIZE)
    test_map = kit.write_test_map(tmp_path / "test.map", SIZE, [(p, n, "-") for p, n in BAD])
    r = kit.station("image", "-q", *(["-d"] if direct else []), "-H", test_map, src, tmp_path / "o.img")
    if direct and "direct I/O" in r.stderr:
        pytest.skip("this filesystem has no O_DIRECT")
    assert r.returncode == 0, r.stderr
    m = kit.read_map(tmp_path / "o.img.map")
    assert kit.ranges(m, "-") == [(p, p + n) for p, n in BAD]
    assert m.bytes_in(Status.FINISHED) == SIZE - sum(n for _, n in BAD)
    kit.assert_finished_blocks_match(m, src, tmp_path / "o.img")

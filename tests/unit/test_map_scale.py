"""Correctness at scale: a 200,000-fragment map survives write_mapfile/read_mapfile exactly."""

from __future__ import annotations

import random
from pathlib import Path

from station.rescue.mapfile import read_mapfile, write_mapfile
from station.rescue.rescuemap import Phase, RescueMap, Status

FRAGMENTS = 200_000


def random_fragmented_map(fragments: int, seed: int) -> RescueMap:
    """`fragments` blocks of random sizes (1 B .. 1 GiB), no two neighbours of the same status."""
    rng = random.Random(seed)
    statuses = list(Status)
    blocks: list[tuple[int, int, Status]] = []
    pos, prev = 0, None
    for _ in range(fragments):
        size = rng.choice((rng.randint(1, 4096), rng.randint(1, 2**20) * 512, rng.randint(1, 2**30)))
        status = rng.choice([s for s in statuses if s != prev])
        blocks.append((pos, pos + size, status))
        pos, prev = pos + size, status
    m = RescueMap.from_blocks(pos, blocks)
    m.current_pos, m.phase, m.pass_ = rng.randrange(pos), Phase.SCRAPING, 4
    return m


def test_large_map_round_trips_exactly(tmp_path: Path) -> None:
    m = random_fragmented_map(FRAGMENTS, seed=20240611)
    assert len(m) == FRAGMENTS
    path = tmp_path / "big.map"
    write_mapfile(path, m)
    back = read_mapfile(path)

    assert len(back) == FRAGMENTS
    assert back.size == m.size
    assert (back.current_pos, back.phase, back.pass_) == (m.current_pos, m.phase, m.pass_)
    assert list(back) == list(m)
    assert back.summary() == m.summary()
    block_lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")][1:]
    assert len(block_lines) == FRAGMENTS

    # The loaded map is fully indexed: overwriting a middle block merges it with its left neighbour.
    middle = back.block_at(m.size // 2)
    before = back.block_at(middle.pos - 1)
    after = back.block_at(middle.end)
    back.set_status(middle.pos, middle.size, before.status)
    merged = 2 if after.status == before.status else 1
    assert len(back) == FRAGMENTS - merged
    assert back.block_at(middle.pos).pos == before.pos

"""Benchmark: loading, saving and updating a rescue map of a million fragments.

Builds a 1,000,000-fragment mapfile (statuses cycling so no two neighbours merge), then times
read_mapfile, summary, write_mapfile, block_map, and 100,000 random set_status updates on a fresh
big map and on a fresh 10-fragment map (updates are O(log n): their cost must not grow with the map
the way a list-based map's would).  Prints the median of 3 runs of each.

    .venv/bin/python bench/bench_map_scale.py [--fragments N] [--updates N] [--runs N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from station.rescue.mapfile import read_mapfile, write_mapfile
from station.rescue.rescuemap import RescueMap, Status
from station.views.mapview import block_map

CYCLE = (Status.FINISHED, Status.BAD_SECTOR, Status.NON_TRIED, Status.NON_TRIMMED, Status.NON_SCRAPED)
FRAGMENT = 4096


def alternating_map(fragments: int) -> RescueMap:
    """A map of exactly `fragments` blocks of FRAGMENT bytes, statuses cycling through CYCLE."""
    blocks = [(i * FRAGMENT, (i + 1) * FRAGMENT, CYCLE[i % len(CYCLE)]) for i in range(fragments)]
    return RescueMap.from_blocks(fragments * FRAGMENT, blocks)


def random_updates(m: RescueMap, count: int, seed: int) -> None:
    """`count` set_status calls of 1..8 sectors (at most one FRAGMENT) at random places and statuses.

    Each update then touches one or two blocks on either map, so the timings compare the cost of the
    same work on a big and a small map.
    """
    rng = random.Random(seed)
    statuses = list(Status)
    for _ in range(count):
        size = rng.randint(1, FRAGMENT // 512) * 512
        pos = rng.randrange(0, m.size - size + 1, 512)
        m.set_status(pos, size, rng.choice(statuses))


def median_time(fn: Callable[[], object], runs: int, setup: Callable[[], object] | None = None) -> float:
    """Median wall time of `runs` calls of fn, with optional untimed setup before each."""
    times = []
    for _ in range(runs):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_updates(fragments: int, updates: int, runs: int) -> float:
    """Median time of `updates` random set_status calls on a fresh map of `fragments` blocks."""
    maps: list[RescueMap] = []
    return median_time(
        lambda: random_updates(maps[-1], updates, seed=1),
        runs,
        setup=lambda: maps.append(alternating_map(fragments)),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fragments", type=int, default=1_000_000)
    ap.add_argument("--updates", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    big = alternating_map(args.fragments)
    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.map"
        write_mapfile(path, big)
        mib = path.stat().st_size / 2**20
        print(f"{args.fragments:,} fragments, mapfile {mib:.1f} MiB, median of {args.runs} runs")

        loaded = read_mapfile(path)
        assert list(loaded.blocks(0, 100 * FRAGMENT)) == list(big.blocks(0, 100 * FRAGMENT))
        assert len(loaded) == args.fragments
        rows.append(("load (read_mapfile)", median_time(lambda: read_mapfile(path), args.runs), ""))
        rows.append(("summary", median_time(big.summary, args.runs), ""))
        rows.append(("save (write_mapfile)", median_time(lambda: write_mapfile(path, big), args.runs), ""))
    rows.append(("block_map 200x50 cells", median_time(lambda: block_map(big, 200, 50), args.runs), ""))

    for fragments in (args.fragments, 10):
        t = time_updates(fragments, args.updates, args.runs)
        per_update = f"{t / args.updates * 1e6:.1f} us/update"
        rows.append((f"{args.updates:,} set_status, {fragments:,}-fragment map", t, per_update))

    width = max(len(name) for name, _, _ in rows)
    print(f"{'operation':<{width}}  {'median':>10}")
    for name, t, note in rows:
        print(f"{name:<{width}}  {t * 1000:>7.1f} ms  {note}")


if __name__ == "__main__":
    main()

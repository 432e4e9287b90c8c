"""Benchmark: affected() on an ext4 image of 100,000 files against a 1,000,000-fragment map.

Builds (once, in a temporary directory) a sparse 1 TiB ext4 image with `mkfs.ext4 -d` from
100,000 files of 1 to 4 KiB in 100 directories, and a map of the same size with 500,000 bad
sectors at random places (seeded): about a million fragments, a 1 TB-scale map.  Then times
affected() (open the disk, walk the tree through TSK, locate every structure and record,
intersect every extent with the unrescued areas) and prints the median of a few runs, with
the walk alone for comparison.

    .venv/bin/python bench/bench_affected.py [--files N] [--bad N] [--runs N] [--size-gib N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from station.fs import affected, open_disk
from station.images.reader import RawImageReader
from station.rescue.rescuemap import RescueMap, Status

SECTOR = 512


def make_tree(root: Path, files: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    per_dir = max(1, files // 100)
    for i in range(files):
        d = root / f"d{i // per_dir:03d}"
        if i % per_dir == 0:
            d.mkdir(exist_ok=True)
        (d / f"f{i:06d}.bin").write_bytes(rng.randbytes(rng.randint(1024, 4096)))


def make_map(size: int, bad: int, seed: int = 11) -> RescueMap:
    """`bad` single bad sectors at random places; everything else finished."""
    rng = random.Random(seed)
    sectors = sorted(set(rng.sample(range(size // SECTOR), bad)))
    blocks: list[tuple[int, int, Status]] = []
    pos = 0
    for s in sectors:
        at = s * SECTOR
        if at > pos:
            blocks.append((pos, at, Status.FINISHED))
        if blocks and blocks[-1][2] == Status.BAD_SECTOR and blocks[-1][1] == at:
            blocks[-1] = (blocks[-1][0], at + SECTOR, Status.BAD_SECTOR)
        else:
            blocks.append((at, at + SECTOR, Status.BAD_SECTOR))
        pos = at + SECTOR
    if pos < size:
        blocks.append((pos, size, Status.FINISHED))
    return RescueMap.from_blocks(size, blocks)


def median(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--bad", type=int, default=500_000, help="bad sectors (about twice as many fragments)")
    ap.add_argument("--size-gib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    size = args.size_gib << 30
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        tree = Path(tmp) / "tree"
        tree.mkdir()
        make_tree(tree, args.files)
        image = Path(tmp) / "fs.img"
        with open(image, "wb") as f:
            f.truncate(size)
        inodes = str(args.files + 1000)
        subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-N", inodes, "-J", "size=64", "-d", str(tree), str(image)], check=True
        )
        m = make_map(size, args.bad)
        print(
            f"image {args.size_gib} GiB ext4, {args.files:,} files; map {len(m):,} fragments, "
            f"{m.bytes_in(Status.BAD_SECTOR) // SECTOR:,} bad sectors "
            f"(set up in {time.perf_counter() - t0:.0f} s)"
        )
        reader = RawImageReader(str(image), m)
        t_walk, n = median(
            lambda: sum(1 for fs in open_disk(reader).filesystems for _ in fs.walk()), args.runs
        )
        t_aff, report = median(lambda: affected(reader), args.runs)
        hit_files = sum(1 for h in report.files if h.entry.kind == "file")
        print(f"walk alone ({n:,} entries, no map):  {t_walk:6.2f} s  (median of {args.runs})")
        print(f"affected (walk + intersection):   {t_aff:6.2f} s  (median of {args.runs})")
        print(
            f"  {len(report.files):,} entries listed ({hit_files:,} files), "
            f"{report.entries_checked:,} checked"
        )
        print(f"  notes: {report.notes[:3]}")
        print(f"  machine: {os.cpu_count()} cores, shared with other work: a rough number")


if __name__ == "__main__":
    main()

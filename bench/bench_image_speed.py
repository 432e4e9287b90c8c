"""Speed of `station image` on a healthy, cached source, side by side with dd and GNU ddrescue.

    .venv/bin/python bench/bench_image_speed.py [--size 2Gi] [--rounds 7] [--dir /dev/shm/station-bench]
        [--maps /var/tmp/station-bench-maps]

Each round runs every tool once, in a rotating order, on the same source file (created once,
then read once so it sits in the page cache) into a fresh destination in the same directory;
every tool's mapfile goes to --maps (a disk: Station refuses a map on tmpfs under /dev).
The machine is noisy, so the report is the median of the rounds, with min and max, and the
ratios of the medians.  Peak RSS of `station image` is measured at two source sizes to show
that memory does not grow with the source.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATION = [sys.executable, "-m", "station.cli"]


def parse_size(text: str) -> int:
    sys.path.insert(0, str(ROOT))
    from station.core.units import parse_size as ps

    return ps(text)


def make_source(path: Path, size: int) -> None:
    """Deterministic, incompressible-looking content (not zeros: no sparse shortcuts)."""
    if path.exists() and path.stat().st_size == size:
        return
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(size // len(block)):
            f.write(i.to_bytes(8, "little") + block[8:])
        f.write(block[: size % len(block)])


def warm(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss


def clean(maps: Path, *paths: Path) -> None:
    for p in paths:
        for q in (p, maps / (p.name + ".map"), maps / (p.name + ".map.bak")):
            q.unlink(missing_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="2Gi")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--dir", default="/dev/shm/station-bench")
    # Station refuses a mapfile on tmpfs under /dev (lost at reboot): the maps, both tools', on a disk
    ap.add_argument("--maps", default="/var/tmp/station-bench-maps", help="the mapfiles' folder")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "image_speed.json"))
    ap.add_argument("--keep", action="store_true", help="keep the source file")
    a = ap.parse_args()
    size = parse_size(a.size)
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    maps = Path(a.maps)
    maps.mkdir(parents=True, exist_ok=True)
    src = d / "source.bin"
    make_source(src, size)
    warm(src)
    env = dict(os.environ, XDG_DATA_HOME=str(maps / "xdg"), PYTHONPATH=str(ROOT))
    names = ("station", "nohash", "dd", "dd+sha256", "ddrescue")
    dst = {name: d / f"out.{name}" for name in names}
    # station hashes the image (SHA-256) by default; "nohash" does what ddrescue does, and
    # "dd+sha256" is the standard tools' way to an image and its hash in one read
    tools: dict[str, list[str]] = {
        "station": [*STATION, "image", "-q", str(src), str(dst["station"]), str(maps / "out.station.map")],
        "nohash": [*STATION, "image", "-q", "--hash", "none",
                   str(src), str(dst["nohash"]), str(maps / "out.nohash.map")],
        "dd": ["dd", f"if={src}", f"of={dst['dd']}", "bs=1M", "status=none"],
        "dd+sha256": [
            "bash", "-c",
            f"dd if={src} bs=1M status=none | tee {dst['dd+sha256']} | openssl dgst -sha256 >/dev/null",
        ],
        "ddrescue": ["ddrescue", str(src), str(dst["ddrescue"]), str(maps / "out.ddrescue.map")],
    }  # fmt: skip
    if not shutil.which("ddrescue"):
        del tools["ddrescue"]
    times: dict[str, list[float]] = {t: [] for t in tools}
    rss: list[int] = []
    names = list(tools)
    for r in range(a.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            clean(maps, *dst.values())
            wall, maxrss = timed(tools[name], env)
            times[name].append(wall)
            if name == "station":
                rss.append(maxrss)
        print(f"round {r + 1}: " + "  ".join(f"{n} {times[n][-1]:.2f}s" for n in names), flush=True)
    # correctness of our image, once
    clean(maps, *dst.values())
    timed(tools["station"], env)
    same = subprocess.run(["cmp", "-s", str(src), str(dst["station"])]).returncode == 0
    # memory at a small size, to compare with the big one
    small = d / "small.bin"
    make_source(small, min(size, 256 << 20))
    clean(maps, dst["station"])
    small_cmd = [*STATION, "image", "-q", str(small), str(dst["station"]), str(maps / "out.station.map")]
    _, small_rss = timed(small_cmd, env)
    clean(maps, *dst.values())
    small.unlink()
    if not a.keep:
        src.unlink()
    med = {n: statistics.median(v) for n, v in times.items()}
    print(f"\n{size / 2**30:.2f} GiB cached source, {a.rounds} rounds, destination in {d}")
    print(f"{'tool':10} {'median s':>9} {'min':>7} {'max':>7} {'GB/s':>6} {'vs station':>11}")
    for n in names:
        v = times[n]
        print(
            f"{n:10} {med[n]:9.2f} {min(v):7.2f} {max(v):7.2f} {size / med[n] / 1e9:6.2f} "
            f"{med[n] / med['station']:10.2f}x"
        )
    print(f"station image == source: {same}")
    print(f"station peak RSS: {max(rss) / 1024:.0f} MiB at {size >> 20} MiB, "
          f"{small_rss / 1024:.0f} MiB at {min(size, 256 << 20) >> 20} MiB")  # fmt: skip
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "size": size,
                "rounds": a.rounds,
                "dir": str(d),
                "times": times,
                "median": med,
                "station_equals_source": same,
                "station_peak_rss_kib": max(rss),
                "station_small_peak_rss_kib": small_rss,
                "host_cpus": os.cpu_count(),
            },
            indent=2,
        )
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

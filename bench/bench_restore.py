"""Restoring a compressed image to one and to four file targets, against zstd | dd (issue 13, section 4).

    .venv/bin/python bench/bench_restore.py [--size 2GiB] [--runs 3] [--targets DIR] [--verify]
                                            [--workdir /var/tmp/station-bench-restore]

The image: bench_zst's source (half zeros, a quarter random, a quarter files from /usr, in 16 MiB
stretches) made into a sealed zst image with station.images (raw_to_zst), kept between runs.
Each run does, in turn, each a separate process, the targets deleted before each:

  dd        zstd -dc IMAGE | dd of=T bs=1M conv=fdatasync
  one       station restore IMAGE T --no-verify
  four      station restore IMAGE T1 T2 T3 T4 --no-verify

(with --verify, "one" and "four" also read their targets back and compare.)  It prints the
medians and the two ratios the issue sets: four / one (at most 1.3) and one / dd (at most 1.0).
Targets go to --targets (default: the work directory); on tmpfs (/dev/shm) the disk is out of
the comparison and only the CPU work is compared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_zst import make_source  # noqa: E402 (the scripts folder is not a package)

from station.core.units import fmt_bytes, parse_size  # noqa: E402

STATION = [sys.executable, "-m", "station.cli"]


def make_image(work: str, size: int) -> str:
    """The sealed zst image (and its raw source) in the work directory, made once."""
    from station.images.convert import raw_to_zst

    raw, image = os.path.join(work, "source.raw"), os.path.join(work, f"image-{size}.zst")
    if not os.path.exists(image):
        make_source(raw, size)
        raw_to_zst(raw, image + ".tmp")
        os.replace(image + ".tmp", image)
    return image


def clear(paths: list[str]) -> None:
    for p in paths:
        if os.path.exists(p):
            os.unlink(p)
    os.sync()


def timed(cmd: list[str] | str, env: dict[str, str], shell: bool = False) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, shell=shell, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {cmd}\n{r.stderr.strip()}")
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="2GiB", help="image size [2GiB]")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", default="/var/tmp/station-bench-restore")
    ap.add_argument("--targets", help="directory for the targets [the work directory]")
    ap.add_argument("--verify", action="store_true", help="station also reads the targets back")
    a = ap.parse_args()
    size = parse_size(a.size)
    os.makedirs(a.workdir, exist_ok=True)
    tdir = a.targets or a.workdir
    os.makedirs(tdir, exist_ok=True)
    image = make_image(a.workdir, size)
    print(f"image {image}: {fmt_bytes(os.path.getsize(image))} for {fmt_bytes(size)}; targets in {tdir}")
    store = tempfile.mkdtemp(prefix="station-bench-xdg-")
    env = {**os.environ, "XDG_DATA_HOME": store}
    one = [os.path.join(tdir, "one.img")]
    four = [os.path.join(tdir, f"four-{i}.img") for i in range(4)]
    dd_out = os.path.join(tdir, "dd.img")
    verify = [] if a.verify else ["--no-verify"]
    pipeline = f"zstd -qdc {image} | dd of={dd_out} bs=1M conv=fdatasync status=none"
    cases = {
        "dd": lambda: timed(pipeline, env, True),
        "one": lambda: timed([*STATION, "restore", image, *one, *verify, "-q", "--force"], env),
        "four": lambda: timed([*STATION, "restore", image, *four, *verify, "-q", "--force"], env),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    try:
        for run in range(a.runs):
            order = list(cases) if run % 2 == 0 else list(reversed(cases))
            for name in order:
                clear([dd_out, *one, *four])
                times[name].append(cases[name]())
                print(f"run {run + 1} {name:>4}: {times[name][-1]:.2f} s", flush=True)
    finally:
        clear([dd_out, *one, *four])
        shutil.rmtree(store, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"median {k:>4}: {v:.2f} s ({fmt_bytes(size / v)}/s per target)")
    print(f"four / one: {med['four'] / med['one']:.2f} (at most 1.3)")
    print(f"one / dd:   {med['one'] / med['dd']:.2f} (at most 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Writing a zst image vs the standard tools, side by side (issue 11, section 3).

    .venv/bin/python bench/bench_zst.py [--size 2G] [--runs 3] [--workdir /var/tmp/station-bench-zst]

Source: a file in the page cache, half zeros, a quarter random bytes, a quarter files from /usr,
interleaved in 16 MiB stretches.  Each run does, in turn:

  pipeline  dd bs=1M | tee >(openssl dgst -sha256) | zstd -3 -T0 > x.zst
  zstd      zstd -3 -T0 SOURCE -o x.zst
  sink      a separate process: 1 MiB sequential writes into open_image_sink (sha256), sync, seal
  image     the real thing, end to end: `station image -q --hash sha256 SOURCE DEST.zst` (the
            engine, the session, the map, hashing, sealing), its session store in the workdir

and prints the medians, the ratios to the pipeline, the sizes, then random 4 KiB reads per second
from the sealed image with ZstImageReader and that process's peak memory.  The machine's load
average is printed too: on a shared machine the numbers are rough.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time

from station.core.units import fmt_bytes, parse_size

STRETCH = 16 << 20

WRITER = r"""
import os, sys, time
from station.images.zstsink import open_image_sink
src, dst = sys.argv[1], sys.argv[2]
size = os.path.getsize(src)
buf = bytearray(1 << 20)
t = time.perf_counter()
fd = os.open(src, os.O_RDONLY)
sink = open_image_sink(dst, size, algorithms=("sha256",))
pos = 0
while pos < size:
    n = os.preadv(fd, [buf], pos)
    sink.write_at(pos, memoryview(buf)[:n])
    pos += n
sink.sync()
r = sink.seal()
print(time.perf_counter() - t, r.hashes["sha256"], r.in_place)
"""


def make_source(path: str, size: int) -> None:
    """Half zeros, a quarter random, a quarter /usr files, in 16 MiB stretches; kept between runs."""
    if os.path.exists(path) and os.path.getsize(path) == size:
        return
    rng = random.Random(11)
    usr = _usr_bytes()
    kinds = ["zero", "random", "zero", "usr"]
    with open(path + ".tmp", "wb") as f:
        pos, i, u = 0, 0, 0
        while pos < size:
            n = min(STRETCH, size - pos)
            kind = kinds[i % 4]
            if kind == "zero":
                f.write(bytes(n))
            elif kind == "random":
                f.write(rng.randbytes(n))
            else:
                piece = bytearray()
                while len(piece) < n:
                    take = usr[u : u + n - len(piece)]
                    piece += take
                    u = (u + len(take)) % len(usr)
                f.write(piece)
            pos, i = pos + n, i + 1
    os.replace(path + ".tmp", path)


def _usr_bytes(limit: int = 600 << 20) -> bytes:
    out = bytearray()
    for root in ("/usr/lib", "/usr/bin", "/usr/share"):
        for d, _, files in os.walk(root):
            for name in sorted(files):
                p = os.path.join(d, name)
                if os.path.islink(p) or not os.path.isfile(p):
                    continue
                try:
                    with open(p, "rb") as f:
                        out += f.read(8 << 20)
                except OSError:
                    continue
                if len(out) >= limit:
                    return bytes(out)
    return bytes(out)


def warm(path: str) -> None:
    with open(path, "rb") as f:
        while f.read(16 << 20):
            pass


def timed(cmd: list[str] | str, shell: bool = False) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, shell=shell, check=True, executable="/bin/bash" if shell else None)
    return time.perf_counter() - t


READER = r"""
import random, sys, time
from station.images.zstreader import ZstImageReader
path, count = sys.argv[1], int(sys.argv[2])
with ZstImageReader(path) as r:
    rng = random.Random(5)
    positions = [rng.randrange(0, r.size // 4096) * 4096 for _ in range(count)]
    t = time.perf_counter()
    for p in positions:
        r.read(p, 4096)
    dt = time.perf_counter() - t
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")][0].split()[1]
print(count / dt, int(hwm) * 1024)
"""


def random_reads(path: str, count: int) -> tuple[float, int]:
    """Reads per second and peak RSS of a fresh process reading the sealed image."""
    out = subprocess.run(
        [sys.executable, "-c", READER, path, str(count)], check=True, capture_output=True, text=True
    )
    rps, rss = out.stdout.split()
    return float(rps), int(rss)


def station_image(src: str, dest: str, workdir: str, digest: str) -> float:
    """`station image -q --hash sha256 SRC DEST.zst` as a user runs it; seconds, checked."""
    env = {**os.environ, "XDG_DATA_HOME": os.path.join(workdir, "xdg")}
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "station.cli", "image", "-q", "--hash", "sha256", src, dest],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    took = time.perf_counter() - t
    if r.returncode != 0 or "image sealed" not in r.stderr:
        raise SystemExit(f"station image failed ({r.returncode}): {r.stderr.strip()}")
    from station.images.zstreader import ZstImageReader

    with ZstImageReader(dest) as z:
        if z.metadata["hashes"]["sha256"] != digest:
            raise SystemExit("station image's sha256 is not the sink's")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="2G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", default="/var/tmp/station-bench-zst")
    ap.add_argument("--reads", type=int, default=5000)
    a = ap.parse_args()
    size = parse_size(a.size)
    os.makedirs(a.workdir, exist_ok=True)
    src = os.path.join(a.workdir, f"source-{size}.bin")
    make_source(src, size)
    warm(src)
    out_pipe, out_zstd, out_ours, out_image = (
        os.path.join(a.workdir, n) for n in ("pipe.zst", "zstd.zst", "station.zst", "image.zst")
    )
    times: dict[str, list[float]] = {"pipeline": [], "zstd": [], "sink": [], "image": []}
    digest = ""
    in_place = False
    for run in range(a.runs):
        for p in (out_pipe, out_zstd, out_ours, out_ours + ".idx", out_image, out_image + ".map"):
            if os.path.exists(p):
                os.unlink(p)
        warm(src)
        times["pipeline"].append(
            timed(
                f"dd if={src} bs=1M status=none | tee >(openssl dgst -sha256 >/dev/null) | "
                f"zstd -3 -T0 -q > {out_pipe}",
                shell=True,
            )
        )
        times["zstd"].append(timed(["zstd", "-3", "-T0", "-q", "-f", src, "-o", out_zstd]))
        res = subprocess.run(
            [sys.executable, "-c", WRITER, src, out_ours], check=True, capture_output=True, text=True
        ).stdout.split()
        times["sink"].append(float(res[0]))
        digest, in_place = res[1], res[2] == "True"
        warm(src)
        times["image"].append(station_image(src, out_image, a.workdir, digest))
        print(f"run {run + 1}: " + "  ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    outputs = {"pipeline": out_pipe, "zstd": out_zstd, "sink": out_ours, "image": out_image}
    sizes = {k: os.path.getsize(p) for k, p in outputs.items()}
    load = os.getloadavg()[0]
    print(f"\nsource {fmt_bytes(size)} (half zeros, 1/4 random, 1/4 /usr), {a.runs} runs, medians")
    print(f"(load average now {load:.2f} on {os.cpu_count()} CPUs):")
    for k in outputs:
        print(
            f"  {k:9s} {med[k]:6.2f} s  {size / med[k] / 1e6:7.0f} MB/s"
            f"  x{med[k] / med['pipeline']:.2f} of pipeline"
            f"  size {fmt_bytes(sizes[k])} (x{sizes[k] / sizes['zstd']:.3f} of zstd -3)"
        )
    print(f"  station sealed in place: {in_place}; sha256 {digest}")
    rps, rss = random_reads(out_ours, a.reads)
    print(
        f"random 4 KiB reads from the sealed image: {rps:.0f}/s ({a.reads} reads), peak RSS {fmt_bytes(rss)}"
    )


if __name__ == "__main__":
    main()

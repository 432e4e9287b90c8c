"""Imaging throughput with the workstation open versus headless, on the same cached source.

    .venv/bin/python bench/bench_tui_overhead.py [--size 2Gi] [--rounds 11] [--dir /dev/shm/station-bench]

Both modes run the same job in the same process: `prepare` then `ImageJob.run` in a thread,
from a source file in the page cache (tmpfs) to a fresh image beside it.

* headless: the job's thread alone, with an emit that keeps the last event (as `station image -q`);
* tui: StationApp running (Textual's headless driver: every layout, render and compositor pass
  happens, only the bytes to a terminal are skipped), the job started with `app.start_job`, the
  live screen redrawing four times a second with the sector map, chart, counters and log.

The time is the wall time of `ImageJob.run` in both modes (the workstation starts the engine
0.2 s after showing the live screen; that wait is not counted).  Rounds alternate the order of
the modes; the report is the median throughput of each mode with min and max, their ratio, and
the median of each round's own ratio (steadier on a shared, noisy machine).  The target is a
TUI within 5% of headless.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_image_speed import make_source, warm  # noqa: E402  (one way to make a cached source)


def clean(p: Path) -> None:
    for q in (p, Path(str(p) + ".map"), Path(str(p) + ".map.bak")):
        q.unlink(missing_ok=True)


def timed_job(src: Path, dest: Path, store):
    """A prepared job whose run() records its own wall time in job.seconds."""
    from station.jobs.imaging import prepare

    # The image is kept from round to round and overwritten in place (force): freeing and
    # allocating a GiB of tmpfs pages every round costs more, and more erratically, than imaging.
    for q in (Path(str(dest) + ".map"), Path(str(dest) + ".map.bak")):
        q.unlink(missing_ok=True)
    job = prepare(str(src), str(dest), command=["bench"], store=store, force=True)
    run = job.run

    def timed(**kw):
        t0 = time.perf_counter()
        result = run(**kw)
        job.seconds = time.perf_counter() - t0  # type: ignore[attr-defined]
        if result.outcome != "finished":
            raise SystemExit(f"the benchmark job ended {result.outcome}: {result.reason}")
        return result

    job.run = timed  # type: ignore[method-assign]
    return job


def headless(src: Path, dest: Path, store) -> float:
    from station.core.control import RunControl

    job = timed_job(src, dest, store)
    last = []
    t = threading.Thread(target=lambda: job.run(emit=last.append, control=RunControl()))
    t.start()
    t.join()
    return job.seconds


def with_tui(src: Path, dest: Path, store, size: tuple[int, int]) -> tuple[float, int]:
    from station.tui.app import StationApp

    job = timed_job(src, dest, store)
    app = StationApp(store=store, health=None, attached=[])
    box: dict = {}

    async def go() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause(0.5)  # settled on the devices screen
            live = app.start_job(job, f"{src} → {dest}", str(src))
            while live.running:
                await asyncio.sleep(0.05)
            await pilot.pause(0.1)
            box["updates"] = live.updates

    asyncio.run(go())
    return job.seconds, box["updates"]


def main() -> int:
    from station.core.session import SessionStore
    from station.core.units import parse_size

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="2Gi")
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--dir", default="/dev/shm/station-bench")
    ap.add_argument("--terminal", default="160x50", help="the TUI's screen size, COLSxROWS")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "tui_overhead.json"))
    a = ap.parse_args()
    size = parse_size(a.size)
    cols, rows = (int(x) for x in a.terminal.split("x"))
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    src, dest = d / "tui-source.bin", d / "tui-dest.img"
    store = SessionStore(d / "sessions")
    make_source(src, size)
    warm(src)
    times: dict[str, list[float]] = {"headless": [], "tui": []}
    updates: list[int] = []
    headless(src, dest, store)  # one unmeasured run of each: imports, page cache, allocator
    with_tui(src, dest, store, (cols, rows))
    for r in range(a.rounds):
        order = ["headless", "tui"] if r % 2 == 0 else ["tui", "headless"]
        for mode in order:
            if mode == "headless":
                times[mode].append(headless(src, dest, store))
            else:
                seconds, n = with_tui(src, dest, store, (cols, rows))
                times[mode].append(seconds)
                updates.append(n)
            print(f"round {r + 1} {mode:<8} {size / times[mode][-1] / 1e6:8.0f} MB/s", flush=True)
    clean(dest)
    report = {"size": size, "rounds": a.rounds, "terminal": a.terminal, "cpus": os.cpu_count()}
    for mode, ts in times.items():
        rates = [size / t / 1e6 for t in ts]
        report[mode] = {
            "median_MBps": statistics.median(rates),
            "min_MBps": min(rates),
            "max_MBps": max(rates),
            "median_seconds": statistics.median(ts),
        }
    report["tui_over_headless"] = report["tui"]["median_MBps"] / report["headless"]["median_MBps"]
    # Each round's two runs are back to back, under the same load from whatever else the machine
    # is doing: the median of the per-round ratios is steadier than the ratio of the medians.
    paired = [h / t for h, t in zip(times["headless"], times["tui"], strict=True)]
    report["paired_ratio_median"] = statistics.median(paired)
    report["tui_progress_updates_per_second"] = statistics.median(
        n / t for n, t in zip(updates, times["tui"], strict=True)
    )
    print()
    print(f"source {size / 2**30:.2f} GiB in {d}, {a.rounds} rounds, TUI at {a.terminal}")
    for mode in ("headless", "tui"):
        m = report[mode]
        spread = f"(min {m['min_MBps']:.0f}, max {m['max_MBps']:.0f})"
        print(f"{mode:<9} median {m['median_MBps']:7.0f} MB/s  {spread}")
    print(
        f"ratio     tui/headless = {report['tui_over_headless']:.3f} of the medians, "
        f"{report['paired_ratio_median']:.3f} median of the rounds' ratios (target >= 0.95)"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    report["loadavg_end"] = os.getloadavg()
    print(f"TUI progress updates: {report['tui_progress_updates_per_second']:.1f} per second")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: the catalog with 10,000 sessions: `station images --search` and the images screen.

Fills a private session store (a temporary XDG_DATA_HOME) with N session records as the jobs
write them (about 3,000 drives, a fifth of the sessions resuming an earlier one, a third of the
images labelled), then times:

- the first import (the catalog created and every record read);
- `station images --search TEXT` run in this process (station.cli.main, output to /dev/null):
  a search matching a few images, one matching most of them, --serial and --json, each the
  median of several runs; the catalog is synced at every command, as in use;
- the same command as a new process (Python's and the CLI's start-up included);
- a command right after a new session appeared (every session directory compared);
- the images screen of the workstation, opened with F5 under Textual's pilot until its table is
  filled (median of 3).

    .venv/bin/python bench/bench_catalog.py [--sessions N] [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

MODELS = ("WDC WD10EZEX-08WN4A0", "ST2000DM008-2FR102", "Samsung SSD 870 EVO 1TB", "TOSHIBA MQ04ABF100",
          "HGST HTS721010A9E630", "KINGSTON SA400S37480G")  # fmt: skip
CUSTOMERS = ("Ann Smith", "Bob Jones", "Cid Garcia", "Dora Novak", "Eve Martin", "Farid Haddad")


def fill_store(root: Path, sessions: int, seed: int = 7) -> None:
    """N session directories as the lifecycle leaves them (records written directly: no fsync)."""
    from station.core.identity import SourceIdentity
    from station.core.record import SessionRecord, SessionResult

    rnd = random.Random(seed)
    root.mkdir(parents=True)
    t0 = time.time() - 400 * 86400
    last_dest: dict[str, str] = {}
    for i in range(sessions):
        drive = rnd.randrange(3000)
        serial = f"SN{drive:06d}X"
        model = MODELS[drive % len(MODELS)]
        resumed = serial in last_dest and rnd.random() < 0.5
        dest = last_dest[serial] if resumed else f"/srv/images/{serial}-{i}.{'zst' if i % 3 == 0 else 'img'}"
        last_dest[serial] = dest
        size = (500 + drive % 4 * 500) * 10**9
        sid = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(t0 + i * 3000))}-{i:06x}"
        started = t0 + i * 3000
        source = SourceIdentity(path="/dev/sdb", kind="block", size=size, model=model, serial=serial)
        result = SessionResult(rescued=size - 4096, size=size, bad=4096, pending=0, read_errors=3,
                               exit_status=0, hashes={"sha256": f"{i:064x}"})  # fmt: skip
        record = SessionRecord(
            id=sid, state="finished", pid=None, host="bench-host", started=started, ended=started + 2000,
            method="engine", source=source, destinations=[dest], mapfile=dest + ".map",
            options={"retry_passes": 1}, resumed=resumed, reason="rescue finished", result=result,
            drive={"model": model, "serial": serial, "firmware": "FW01", "capacity_bytes": size},
        )  # fmt: skip
        d = root / sid
        d.mkdir()
        (d / "session.json").write_text(json.dumps(record.to_dict()))
        if not resumed and rnd.random() < 0.33:
            label = {"case": f"T-{1000 + i}", "customer": rnd.choice(CUSTOMERS),
                     "label": f"{model.split()[0]} job", "tags": ["urgent"] if i % 7 == 0 else [], "note": "",
                     "updated": started}  # fmt: skip
            (d / "label.json").write_text(json.dumps(label))


def timed(fn: Callable[[], object], runs: int) -> float:
    """The median wall time of `runs` calls, in ms."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def cli(*args: str) -> int:
    from station.cli import main

    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        return main(list(args))


def screen_open_ms(runs: int) -> float:
    """F5 to a filled images table, under Textual's pilot (the catalog already imported)."""
    from station.tui.app import StationApp
    from station.tui.screens.images import ImagesScreen

    async def once() -> float:
        app = StationApp(scan=lambda: [], health=None, attached=[])
        async with app.run_test(size=(160, 45)) as pilot:
            await pilot.pause()
            t = time.perf_counter()
            await pilot.press("f5")
            while not (isinstance(app.screen, ImagesScreen) and app.screen.loaded):
                await pilot.pause(0.005)
            return (time.perf_counter() - t) * 1000

    return statistics.median(asyncio.run(once()) for _ in range(runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as tmp:
        os.environ["XDG_DATA_HOME"] = tmp
        from station.catalog import Catalog
        from station.core.session import SessionStore

        store = SessionStore()
        t = time.perf_counter()
        fill_store(store.root, a.sessions)
        print(f"store filled: {a.sessions} sessions in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        with Catalog.open(store) as cat:
            images = cat.count_images()
        took = time.perf_counter() - t
        print(f"first import (catalog created, every record read): {took:.2f} s, {images} images")
        with Catalog.open(store) as cat:
            few = cat.images()[0].case or "T-1000"
        rows = [
            (f"station images --search {few} (1 match)", ("images", "--search", few)),
            ("station images --search 'ann urgent' (a few)", ("images", "--search", "ann urgent")),
            ("station images --search wdc (a sixth)", ("images", "--search", "wdc")),
            ("station images --search srv (all)", ("images", "--search", "srv")),
            ("station images --serial SN000042X", ("images", "--serial", "SN000042X")),
            ("station images --search ann --json", ("images", "--search", "ann", "--json")),
            ("station drive SN000042X", ("drive", "SN000042X")),
        ]
        print(f"\nin this process (median of {a.runs}; the catalog synced at each command):")
        for name, args in rows:
            print(f"  {name:<48} {timed(lambda args=args: cli(*args), a.runs):8.1f} ms")
        proc = timed(
            lambda: subprocess.run(
                [sys.executable, "-m", "station.cli", "images", "--search", few],
                stdout=subprocess.DEVNULL,
                check=True,
            ),  # fmt: skip
            max(3, a.runs // 2),
        )
        start = timed(
            lambda: subprocess.run(
                [sys.executable, "-m", "station.cli", "--version"], stdout=subprocess.DEVNULL
            ),
            max(3, a.runs // 2),
        )
        print(f"\nas a new process: station images --search {few}: {proc:.0f} ms")
        print(f"                  station --version alone: {start:.0f} ms")

        def new_session() -> None:
            d = store.root / f"29990101-000000-{random.randrange(1 << 24):06x}"
            d.mkdir()
            (d / "session.json").write_text((next(store.root.iterdir()) / "session.json").read_text())
            cli("images", "--search", few)

        print(f"after a new session appeared (every directory compared): {timed(new_session, 3):.0f} ms")
        print(f"\nimages screen, F5 to a filled table (median of 3): {screen_open_ms(3):.0f} ms")


if __name__ == "__main__":
    main()

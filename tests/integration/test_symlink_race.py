"""The source is never written through a name someone else flips (issue 10, §3.1).

A racer flips the destination (or the map's temporary name) between nothing and a symlink to the
source while jobs start, many times: whatever the timing, the source's bytes and mtime never
change.  Each try either runs into a new file of its own or is refused in one line.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.core.session import SessionStore
from station.jobs.imaging import prepare
from station.media.base import Refused
from station.media.sink import open_sink
from station.rescue.mapfile import write_mapfile
from station.rescue.options import RescueOptions
from station.rescue.rescuemap import RescueMap

SIZE = 64 * 1024


def fingerprint(path: Path) -> tuple[str, int, int]:
    st = os.stat(path)
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_size


@contextlib.contextmanager
def flipping(name: Path, target: Path) -> Iterator[list[int]]:
    """A thread flipping `name` between nothing and a symlink to `target` until the block ends."""
    stop = threading.Event()
    flips = [0]

    rng = random.Random(0)

    def race() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                os.symlink(target, name)
                flips[0] += 1
            if rng.random() < 0.5:  # each state held for a random while too, so both are met often
                time.sleep(rng.uniform(0, 0.0005))
            with contextlib.suppress(OSError):
                if os.path.islink(name):
                    os.unlink(name)
            if rng.random() < 0.5:
                time.sleep(rng.uniform(0, 0.0005))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    t = threading.Thread(target=race, daemon=True)
    t.start()
    try:
        yield flips
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old)


def clear(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "evidence.img"
    src.write_bytes(os.urandom(SIZE))
    os.utime(src, ns=(1_000_000_000, 1_000_000_000))
    return src


def test_a_sink_never_opens_the_source_through_a_flipped_dest(tmp_path: Path, source: Path) -> None:
    before = fingerprint(source)
    dest = tmp_path / "dest.img"
    outcomes = {"written": 0, "refused": 0}
    with flipping(dest, source) as flips:
        for _ in range(2000):
            try:
                with open_sink(str(dest), size=SIZE, create=True, source=str(source)) as sink:
                    sink.write_at(0, memoryview(b"X" * 4096))
                    sink.sync()
                outcomes["written"] += 1
            except Refused:
                outcomes["refused"] += 1
            if not dest.is_symlink():
                clear(dest)
            assert fingerprint(source) == before
    assert flips[0] > 0 and outcomes["written"] > 0, (flips, outcomes)


def test_a_job_never_writes_the_source_through_a_flipped_dest(tmp_path: Path, source: Path) -> None:
    before = fingerprint(source)
    dest, store = tmp_path / "dest.img", SessionStore(tmp_path / "sessions")
    ran = 0
    with flipping(dest, source):
        for i in range(60):
            mapfile = tmp_path / f"m{i}.map"
            try:
                job = prepare(str(source), str(dest), str(mapfile), options=RescueOptions(), store=store)
                job.run()
                ran += 1
            except Refused:
                pass
            if not dest.is_symlink():
                clear(dest)
            assert fingerprint(source) == before
    assert ran > 0


def test_a_symlink_at_the_maps_temporary_name_is_never_followed(tmp_path: Path, source: Path) -> None:
    before = fingerprint(source)
    mapfile = tmp_path / "case.map"
    tmp = tmp_path / f".case.map.tmp{os.getpid()}"
    tmp.symlink_to(source)
    write_mapfile(mapfile, RescueMap(SIZE))
    assert fingerprint(source) == before
    assert mapfile.is_file() and not mapfile.is_symlink()
    with flipping(tmp, source):
        for _ in range(300):
            with contextlib.suppress(OSError):  # the racer took our temporary name: this save fails
                write_mapfile(mapfile, RescueMap(SIZE))
            assert fingerprint(source) == before

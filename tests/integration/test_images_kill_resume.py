"""kill -9 of a process writing a zst image, at random moments, then resume: nothing synced is lost."""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from station.images.zstreader import ZstImageReader
from station.images.zstsink import open_image_sink

CS = 16 << 10
SIZE = 64 * CS + 1024
OPS = 1500

WRITER = r"""
import random, sys
from station.images.zstsink import open_image_sink
path, seed, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, sys.argv[4])
from test_images_kill_resume import ops
sink = open_image_sink(path, SIZE, chunk_size=CS, memory=8 * CS)
for i, (pos, data, sync) in enumerate(ops(seed)):
    if i < start:
        continue
    sink.write_at(pos, memoryview(data))
    if sync:
        sink.sync()
        print(i, flush=True)
sink.sync()
print("done", flush=True)
""".replace("SIZE", str(SIZE)).replace("CS", str(CS))


def ops(seed: int) -> list[tuple[int, bytes, bool]]:
    """Mostly sequential runs with jumps back (trimming, scraping), sector-aligned, a sync every few."""
    rng = random.Random(seed)
    out, pos = [], 0
    for i in range(OPS):
        if rng.random() < 0.2:
            pos = rng.randrange(0, SIZE // 512) * 512
        n = min(rng.choice([512, 4096, 65536, CS]), SIZE - pos)
        if n <= 0:
            pos, n = 0, 512
        out.append((pos, rng.randbytes(n // 3) + bytes([i & 255]) * (n - n // 3), i % 7 == 6))
        pos = (pos + n) % SIZE
    return out


def model_after(seed: int, last: int) -> bytearray:
    m = bytearray(SIZE)
    for pos, data, _ in ops(seed)[: last + 1]:
        m[pos : pos + len(data)] = data
    return m


killed: list[bool] = []


@pytest.mark.parametrize("seed", range(6))
def test_kill_at_a_random_moment_then_resume(tmp_path, seed):
    path = str(tmp_path / "k.zst")
    here = str(__import__("pathlib").Path(__file__).parent)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, path, str(seed), "0", here], stdout=subprocess.PIPE, text=True
    )
    synced = [-1]
    rng = random.Random(seed)
    target = rng.randrange(OPS // 10, OPS - 50)  # somewhere in the middle, whatever this machine's speed
    reached = threading.Event()

    def follow() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip().isdigit():
                synced[0] = int(line)
                if synced[0] >= target:
                    reached.set()
        reached.set()

    t = threading.Thread(target=follow)
    t.start()
    reached.wait(60)
    time.sleep(rng.uniform(0.0, 0.005))  # then any moment: between syncs, inside a write, inside a sync
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    t.join()
    last = synced[0]
    killed.append(last < OPS - 7)
    # everything synced is there; what came after may or may not be, but only where later ops wrote
    later = bytearray(SIZE)
    for pos, data, _ in ops(seed)[last + 1 :]:
        later[pos : pos + len(data)] = b"\1" * len(data)
    expect = model_after(seed, last)
    with ZstImageReader(path) as r:
        got = r.read(0, SIZE)
    assert all(got[i] == expect[i] for i in range(SIZE) if not later[i]) if last >= 0 else True
    # resume from the op after the last sync, as the engine does from its map, and finish
    sink = open_image_sink(path, SIZE)
    for pos, data, _ in ops(seed)[last + 1 :]:
        sink.write_at(pos, memoryview(data))
    res = sink.seal()
    final = model_after(seed, OPS - 1)
    assert res.hashes["sha256"] == hashlib.sha256(final).hexdigest()
    with ZstImageReader(path) as r:
        assert r.read(0, SIZE) == final


def test_the_kills_came_in_the_middle():
    """The test above means something only if most kills interrupted the writer."""
    assert sum(killed) >= 3

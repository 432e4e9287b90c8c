"""Killing `station image` at random moments never costs correctness, and every rerun resumes.

A 192 MiB source with simulated damage (-H) keeps a run busy for a few seconds; the map is saved
every 50 ms.  After each SIGKILL the mapfile on disk must parse, pass ddrescuelog, only grow its
rescued set, never call a damaged sector rescued or a readable one bad, and every '+' block must
hold the source's bytes in the image.  SIGINT and SIGTERM must stop the run within seconds with
exit status 1 and a saved, resumable map.

The kill moments come from a seeded RNG; the seed is printed (run with -s to see it) and can be
set with STATION_KILL_SEED to replay a failure.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from station.rescue.rescuemap import Phase

MiB = 1024 * 1024
SIZE = 192 * MiB
SAVE_INTERVAL = "0.05"
KILLS = 8


def _damage(size: int) -> list[tuple[int, int, str]]:
    """Six 2 MiB bad areas and a few dozen scattered bad sectors (fixed, not random per run)."""
    bad = [((i * 30 + 12) * MiB, 2 * MiB, "-*?/"[i % 4]) for i in range(6)]
    rng = random.Random(3)
    for _ in range(40):
        p = rng.randrange(0, size // 512) * 512
        if all(p + 512 < b or p > b + s + 512 for b, s, _ in bad):
            bad.append((p, 512, "-"))
    return sorted(bad)


DAMAGE = _damage(SIZE)


def _bad_ranges() -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for pos, size, _ in DAMAGE:
        if out and out[-1][1] == pos:
            out[-1] = (out[-1][0], pos + size)
        else:
            out.append((pos, pos + size))
    return out


BAD = _bad_ranges()
GOOD = [
    (a, b) for a, b in zip([0] + [hi for _, hi in BAD], [lo for lo, _ in BAD] + [SIZE], strict=True) if b > a
]


@pytest.fixture(scope="module")
def source(tmp_path_factory, kit):
    d = tmp_path_factory.mktemp("kill-source")
    src = kit.make_source(d / "source.bin", SIZE, seed=11)
    testmap = kit.write_test_map(d / "test.map", SIZE, DAMAGE)
    return src, testmap


@pytest.fixture
def seed() -> int:
    s = int(os.environ.get("STATION_KILL_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"kill/resume seed: {s} (replay with STATION_KILL_SEED={s})")
    return s


def check_consistent(kit, mapfile: Path, src: Path, img: Path, lists: bool = False):
    """The map on disk parses, passes ddrescuelog, matches the damage and the image; returns it."""
    m = kit.read_map(mapfile)
    assert m.size == SIZE
    kit.ddrescuelog_ok(mapfile, lists=lists)
    assert kit.covered(kit.ranges(m, "-"), BAD), "a readable sector was marked bad"
    assert kit.covered(kit.ranges(m, "+"), GOOD), "a damaged sector was marked rescued"
    kit.assert_finished_blocks_match(m, src, img)
    return m


def check_finished(kit, mapfile: Path, src: Path, img: Path) -> None:
    m = check_consistent(kit, mapfile, src, img)
    assert m.phase == Phase.FINISHED
    assert kit.ranges(m, "-") == BAD
    assert kit.ranges(m, "+") == GOOD


class LineReader:
    """Reads a child's stdout lines in a thread, so the test can wait for one with a deadline."""

    def __init__(self, stream) -> None:
        self.lines: queue.SimpleQueue = queue.SimpleQueue()
        self.all: list[str] = []
        self._t = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._t.start()

    def _run(self, stream) -> None:
        for line in stream:
            self.all.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pred, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            if line is None:
                raise AssertionError("the run ended before the awaited progress line")
            e = json.loads(line)
            if pred(e):
                return e

    def join(self) -> None:
        self._t.join(timeout=10)


def sessions(kit) -> list[dict]:
    """`station sessions --json`, oldest first (ids only sort to the second)."""
    r = kit.station("sessions", "--json")
    assert r.returncode == 0, r.stderr
    return sorted(json.loads(r.stdout), key=lambda s: s["started"])


def test_sigkill_at_random_moments_then_resume(kit, source, tmp_path, seed):
    src, testmap = source
    img, mapfile = tmp_path / "image.bin", tmp_path / "image.map"
    args = ["image", "-q", "--save-interval", SAVE_INTERVAL, "-H", testmap, src, img, mapfile]
    rng = random.Random(seed)
    rescued_before: list[tuple[int, int]] = []
    history: list[tuple[int, int]] = []
    kills = 0
    finished_early = False
    for i in range(KILLS):
        delay = rng.uniform(0.1, 0.7)
        p = kit.popen_station(*args, stdout=subprocess.DEVNULL)
        try:
            rc = p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            rc = p.wait(timeout=10)
            assert rc == -signal.SIGKILL
            kills += 1
        else:
            assert rc == 0, f"run {i} ended with {rc} before the kill: {p.stderr.read()}"
            finished_early = True
        finally:
            kit.stop(p)
            p.stderr.close()
        if not mapfile.exists():  # killed before the first map was written
            assert i == 0 or not history, "the mapfile vanished after a kill"
            continue
        m = check_consistent(kit, mapfile, src, img)
        rescued_now = kit.ranges(m, "+")
        assert kit.covered(rescued_before, rescued_now), f"kill {i} (after {delay:.3f} s) lost rescued data"
        rescued_before = rescued_now
        history.append((m.summary().rescued, m.summary().pending))  # scraping shrinks what is pending
        print(
            f"run {i}: {'killed' if not finished_early else 'finished'} after {delay:.3f} s; map: "
            f"{m.phase.label} pass {m.pass_}, rescued {history[-1][0]}, pending {history[-1][1]}, "
            f"{len(m)} blocks"
        )
        bak = mapfile.with_name(mapfile.name + ".bak")
        if bak.exists():
            kit.ddrescuelog_ok(bak, lists=False)
        if finished_early:
            break
    assert kills >= 3, f"only {kills} runs were killed mid-way: the workload is too small for this machine"
    assert len(set(history)) > 1, "no run made progress that survived its kill"

    r = kit.station(*args, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    check_finished(kit, mapfile, src, img)

    states = [s["state"] for s in sessions(kit)]
    assert states[-1] == "finished"
    killed = states[:-2] if finished_early else states[:-1]  # a run that beat its kill finished
    assert all(s == "interrupted" for s in killed), states  # killed runs read as interrupted
    assert not finished_early or states[-2] == "finished", states


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_saves_and_resumes(kit, source, tmp_path, sig, seed):
    src, testmap = source
    img, mapfile = tmp_path / "image.bin", tmp_path / "image.map"
    args = ["image", "--json", "--save-interval", SAVE_INTERVAL, "-H", testmap, src, img, mapfile]
    rng = random.Random(seed)
    previous = 0
    for stop in range(2):  # interrupt the first run and the resumed one, then let it finish
        p = kit.popen_station(*args)
        reader = LineReader(p.stdout)
        try:
            first = reader.wait_for(lambda e: e["kind"] == "progress", timeout=30)
            if stop:
                assert first["rescued"] == previous > 0, "the rerun did not resume from the saved map"
            reader.wait_for(lambda e: e["kind"] == "progress", timeout=30)  # the next one, 0.25 s on
            time.sleep(rng.uniform(0.0, 0.3))
            assert p.poll() is None, "the run ended before it could be interrupted"
            p.send_signal(sig)
            t0 = time.monotonic()
            rc = p.wait(timeout=10)
            took = time.monotonic() - t0
        finally:
            kit.stop(p)
        reader.join()
        err = p.stderr.read()
        p.stderr.close()
        assert rc == 1, err
        assert took < 10
        assert "Traceback" not in err
        last = json.loads(reader.all[-1])
        assert (last["kind"], last["outcome"], last["reason"]) == ("finished", "stopped", "interrupted")
        m = check_consistent(kit, mapfile, src, img)
        assert m.phase != Phase.FINISHED and m.summary().pending > 0
        assert m.summary().rescued >= previous
        previous = m.summary().rescued
        assert sessions(kit)[-1]["state"] == "stopped"

    r = kit.station(*args, timeout=120)
    assert r.returncode == 0, r.stderr
    events = kit.json_lines(r.stdout)
    assert events[0]["kind"] == "progress" and events[0]["rescued"] == previous
    assert events[-1]["outcome"] == "finished"
    check_finished(kit, mapfile, src, img)


def test_repeated_sigint_still_stops_cleanly(kit, source, tmp_path):
    """A technician holding Ctrl-C (SIGINT every ms until the process is gone) gets a clean stop too."""
    src, testmap = source
    img, mapfile = tmp_path / "image.bin", tmp_path / "image.map"
    p = kit.popen_station(
        "image", "--json", "--save-interval", SAVE_INTERVAL, "-H", testmap, src, img, mapfile
    )
    reader = LineReader(p.stdout)
    try:
        reader.wait_for(lambda e: e["kind"] == "progress" and e["rescued"] > 0, timeout=30)
        deadline = time.monotonic() + 10
        while p.poll() is None and time.monotonic() < deadline:
            try:
                p.send_signal(signal.SIGINT)
            except ProcessLookupError:
                break
            time.sleep(0.001)
        rc = p.wait(timeout=10)
    finally:
        kit.stop(p)
    reader.join()
    err = p.stderr.read()
    p.stderr.close()
    m = check_consistent(kit, mapfile, src, img)  # the data is safe either way
    assert m.summary().rescued > 0 and m.phase != Phase.FINISHED
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert rc == 1, f"exit status {rc}; stderr: {err!r}"

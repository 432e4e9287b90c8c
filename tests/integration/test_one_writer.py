"""One writer: a second `station image` on the same image or map is refused at once, naming the
session that holds it; kill -9 of the first leaves nothing stale."""

from __future__ import annotations

import json
import signal
import time


def wait_until(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def running_session(kit) -> str:
    r = kit.station("sessions", "--json")
    rows = [s for s in json.loads(r.stdout) if s["state"] == "running"]
    return rows[0]["id"] if rows else ""


def test_a_second_run_on_the_same_image_or_map_is_refused(kit, tmp_path) -> None:
    img, mapfile = tmp_path / "demo.img", tmp_path / "demo.map"
    first = kit.popen_station("image", "-q", "demo", img, mapfile)  # the demo drive reads in real time
    try:
        wait_until(lambda: bool(running_session(kit)))
        sid = running_session(kit)
        t0 = time.monotonic()
        same_image = kit.station("image", "-q", "demo", img, tmp_path / "other.map")
        same_map = kit.station("image", "-q", "demo", tmp_path / "other.img", mapfile)
        assert time.monotonic() - t0 < 20  # at once, not after the first run ends
        for r, name in ((same_image, img), (same_map, mapfile)):
            assert r.returncode == 2, r.stderr
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1, r.stderr
            assert lines[0].startswith(
                f"station: refusing: {name} is being written by session {sid} (pid {first.pid}: "
            ), lines[0]
            assert "Traceback" not in r.stderr
        assert not (tmp_path / "other.img").exists() and not (tmp_path / "other.map").exists()
        assert first.poll() is None  # the first run goes on
        r = kit.station("sessions", "--json")  # one writer, and `station sessions` says so
        assert [s["id"] for s in json.loads(r.stdout) if s["state"] == "running"] == [sid]
    finally:
        kit.stop(first, signal.SIGKILL)
        first.stderr.close()
    r = kit.station("image", "-q", "demo", img, mapfile, "-T", "0.5", timeout=120)  # resumes: no stale lock
    assert "being written" not in r.stderr and r.returncode in (0, 1), r.stderr

"""End to end: `station` in a real terminal (tmux), the demo drive imaged by keystrokes alone.

The test types what a technician would (the command palette to reach the demo drive, ctrl+s to
start, ctrl+q to quit) and reads the screen with `tmux capture-pane`.  Its tmux server has its
own socket, so nothing else running tmux on the machine is touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from station.rescue.mapfile import read_mapfile
from station.rescue.rescuemap import Status
from station.sim.demo import DEMO_SIZE, demo_faults
from station.sim.scripted import expected_bytes

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    def __init__(self, tmp: Path) -> None:
        self.socket = f"station-test-{os.getpid()}"
        self.tmp = tmp

    def __call__(self, *args: str) -> str:
        r = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "station")

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", "station", *keys)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                size = self("display", "-p", "-t", "station", "#{window_width}x#{window_height}").strip()
                raise AssertionError(f"{text!r} never appeared; the screen ({size}):\n{screen}")
            time.sleep(0.2)


@pytest.fixture
def tmux(tmp_path: Path):
    t = Tmux(tmp_path)
    yield t
    subprocess.run(["tmux", "-L", t.socket, "kill-server"], capture_output=True, timeout=10)


def test_image_the_demo_drive_by_keystrokes(tmux: Tmux, tmp_path: Path, xdg_data_home: Path) -> None:
    status = tmp_path / "exit-status"
    repo = Path(__file__).resolve().parents[2]
    command = (
        # COLUMNS and LINES (pytest's environment has them) would override the terminal's real size
        f"cd {repo} && unset COLUMNS LINES && XDG_DATA_HOME={xdg_data_home} TERM=xterm-256color"
        f" {sys.executable} -m station.cli;"
        f" echo $? > {status}; sleep 30"
    )
    tmux("new-session", "-d", "-s", "station", "-x", "150", "-y", "45", command)
    screen = tmux.wait_for("Drives", 30)
    assert "demo" in screen and "Station demo drive (simulated)" in screen and "virtual" in screen

    tmux.keys("C-p")  # the command palette: reach the demo drive whatever else this machine has
    tmux.wait_for("Search for commands", 10)
    tmux.keys("Demo session")
    time.sleep(0.5)
    tmux.keys("Enter")
    screen = tmux.wait_for("Start (ctrl+s)", 10)
    image = xdg_data_home / "station" / "images" / "DEMO-0001.img"
    assert str(image) in screen
    tmux.keys("C-s")
    screen = tmux.wait_for("RUNNING", 10)
    assert "copying" in screen and "rescued" in screen
    tmux.wait_for("FINISHED: rescue finished", 90)  # the demo drive reads in real time: ~15 s
    # the side pane and the counters are drawn on their own refreshes: the counters' last words may
    # come a frame after the side pane's
    screen = tmux.wait_for("all phases done", 10)
    bad = sum(f.end - f.start for f in demo_faults() if f.kind == "bad")
    assert "(99.95%)" in screen and "read errors" in screen  # rescued: all but the bad sectors
    tmux.keys("C-q")
    deadline = time.monotonic() + 15
    while not status.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status.read_text().strip() == "0"

    m = read_mapfile(str(image) + ".map")
    assert m.size == DEMO_SIZE and m.summary().finished and m.bytes_in(Status.BAD_SECTOR) == bad
    with open(image, "rb") as f:
        for b in m:
            if b.status == Status.FINISHED:
                for pos in range(b.pos, b.end, 8 << 20):  # a sample per 8 MiB of every finished block
                    n = min(4096, b.end - pos)
                    assert os.pread(f.fileno(), n, pos) == expected_bytes(pos, n), f"wrong bytes at {pos:#x}"

"""Helpers the hardware tests share (imported by conftest.py and the test modules)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from station.rescue.rescuemap import RescueMap, Status
from station.sim.content import expected_bytes
from station.sim.drive import SimDrive

S = 512


def model_text(
    size: str = "4Mi", bad: int = 12, cluster: int = 8, hang: int | None = None, seed: int = 3
) -> str:
    lines = [
        'name = "tiny"',
        f'size = "{size}"',
        f"seed = {seed}",
        "[geometry]",
        "heads = 2",
        "zones = 1",
        "outer_spt = 256",
        "inner_spt = 256",
    ]
    if hang is not None:
        lines += ["[failure]", f"hang_after_errors = {hang}"]
    if bad:
        lines += ["[[defects]]", 'kind = "bad_sectors"', f"count = {bad}", f"cluster = {cluster}"]
    return "\n".join(lines) + "\n"


def eventually(cond: Callable[[], bool], limit: float = 5.0) -> None:
    """Wait for a condition another thread makes true (an emulator handling what we sent)."""
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def bounded(fn: Callable[[], Any], limit: float = 30.0) -> Any:
    """fn() in a thread; the test fails if it has not returned within `limit` seconds."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as e:
            box["error"] = e

    t0 = time.monotonic()
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(limit)
    assert not t.is_alive(), f"still running after {limit} s: something hangs"
    box["seconds"] = time.monotonic() - t0
    if "error" in box:
        raise box["error"]
    return box["result"]


def assert_map_true_to_drive(m: RescueMap, drive: SimDrive) -> None:
    """Bad sectors are really bad; nothing finished is unreadable."""
    for b in m:
        lbas = range(b.pos // S, b.end // S)
        if b.status == Status.BAD_SECTOR:
            assert all(drive.is_bad(x) for x in lbas), f"readable sector marked bad in {b}"
        if b.status == Status.FINISHED:
            assert not any(drive.is_bad(x) for x in lbas), f"bad sector marked finished in {b}"


def assert_image_right(image: str, m: RescueMap) -> None:
    """Every finished block of the map holds the drive's content in the image."""
    with open(image, "rb") as f:
        for b in m:
            if b.status == Status.FINISHED:
                f.seek(b.pos)
                assert f.read(b.size) == expected_bytes(b.pos, b.size, S), f"wrong data in finished {b}"


def blocks(m: RescueMap) -> list[tuple[int, int, str]]:
    return [(b.pos, b.size, b.status.value) for b in m]

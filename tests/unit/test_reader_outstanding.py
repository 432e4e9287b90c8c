"""Engine.read_outstanding(): how long the oldest read still in the drive has been there.

The SMART monitor waits while this is large, so it must grow during a hung read, stay large
after the engine abandoned that read (it is still stuck in the "kernel"), and fall back to
zero once the read returns.
"""

from __future__ import annotations

import threading
import time

from station.rescue.engine import Engine
from station.rescue.options import RescueOptions
from station.rescue.rescuemap import RescueMap
from station.sim.scripted import Fault, ScriptedSource

MiB = 1024 * 1024


class MemSink:
    path = "memory"

    def __init__(self, size: int) -> None:
        self.buf = bytearray(size)

    def write_at(self, pos: int, data: memoryview) -> None:
        self.buf[pos : pos + len(data)] = data

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_outstanding_through_a_hung_read():
    size = 2 * MiB
    src = ScriptedSource(size, faults=[Fault(256 * 1024, 256 * 1024 + 512, "hang")], rate=4e6, real_sleep=1.0)
    engine = Engine(src, MemSink(size), RescueMap(size), RescueOptions(read_timeout=0.5, max_hung_reads=100))
    assert engine.read_outstanding() == 0.0  # no reader before the run
    t = threading.Thread(target=engine.run)
    t.start()
    try:
        end = time.monotonic() + 10
        while not any(not ok for _, _, ok in src.reads) and time.monotonic() < end:
            time.sleep(0.01)
        time.sleep(0.3)
        assert 0.25 < engine.read_outstanding() < 2.0  # the hung read, still within the timeout
        time.sleep(0.6)  # the engine has abandoned it and read on
        assert engine.reader is not None and engine.reader.abandoned >= 1
        assert engine.read_outstanding() > 0.85  # abandoned, but still stuck in the drive
    finally:
        src.release.set()
        t.join(20)
    assert not t.is_alive()
    end = time.monotonic() + 5
    while engine.read_outstanding() > 0 and time.monotonic() < end:
        time.sleep(0.01)
    assert engine.read_outstanding() == 0.0  # the stuck read returned: nothing outstanding

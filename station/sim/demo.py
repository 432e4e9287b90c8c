"""The built-in demo drive: a small failing disk for training and for the README's run command.

128 MiB with scattered bad sectors, a bad cluster, a slow zone and a few weak sectors, paced
in real time so that the rescue's phases can be watched (about half a minute end to end).
The simulator issue replaces this with full fault models; this one only needs to be honest.
"""

from __future__ import annotations

import time

from station.sim.scripted import Fault, ScriptedSource

MiB = 1 << 20
DEMO_SIZE = 128 * MiB


def demo_faults() -> list[Fault]:
    """Fixed damage: the same demo every time."""
    faults = [
        Fault(17 * MiB, 17 * MiB + 64 * 1024, "bad"),  # a bad cluster
        Fault(40 * MiB, 44 * MiB, "slow", delay=0.05),  # a slow zone
        Fault(90 * MiB + 4096, 90 * MiB + 4096 + 1536, "weak", tries=1),
    ]
    for i in range(6):  # scattered bad sectors
        pos = (23 + 15 * i) * MiB + 512 * (7 * i + 3)
        faults.append(Fault(pos, pos + 512 * (1 + i % 3), "bad"))
    return faults


def demo_drive() -> ScriptedSource:
    """A fresh demo drive (reads charged at ~20 MB/s, 20 ms per failed read, really slept)."""
    return ScriptedSource(
        DEMO_SIZE,
        demo_faults(),
        clock=time.monotonic,
        rate=20e6,
        error_cost=0.02,
        real_sleep=1.0,
        path="demo",
        model="Station demo drive (simulated)",
        serial="DEMO-0001",
    )

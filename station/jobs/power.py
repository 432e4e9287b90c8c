"""Power-cycle recovery for the software engine: a hung drive gets its power cut and restored.

`PowerRecovery` is the engine's `recover` hook (station.rescue.engine).  When the source stops
answering (a read outlives its timeout) or vanishes, it cycles the drive's relay through a
PowerDriver (cut, hold, restore), waits for the drive to come back, finds it again by its
serial number (a block device may return under another name: /dev/sdb comes back as /dev/sdc),
reopens it in place and lets the run go on.  It counts the cycles and gives up after N, so a
drive that dies for good ends the run ("source not responding") instead of cycling for ever.

Where to find the drive again:
  block devices   every whole disk in /sys/class/block whose serial (sysfs, else udev's
                  ID_SERIAL_SHORT, as station.media.blockdev reads it) matches;
  virtual drives  the SimDrive itself, once it has power again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

from station.hw.api import DriverError, PowerDriver
from station.media.base import Refused
from station.rescue.engine import RecoveryFailed


@dataclass(eq=False)
class PowerRecovery:
    """recover(reason) -> how the source came back; RecoveryFailed when it does not."""

    relay: PowerDriver
    channel: int
    _: KW_ONLY
    serial: str
    locate: Callable[[], str | None]  # where the drive is now, or None while it is not back
    reattach: Callable[[str], None]  # reopen the source there
    polarity: str = "nc"
    hold: float = 5.0  # seconds without power
    wait: float = 60.0  # seconds for the drive to come back
    max_cycles: int = 10
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    cycles: int = field(default=0, init=False)

    def __call__(self, reason: str) -> str:
        if self.cycles >= self.max_cycles:
            raise RecoveryFailed(f"gave up after {self.max_cycles} power cycles")
        self.cycles += 1
        try:
            self.relay.cycle(self.channel, self.hold, self.polarity)  # type: ignore[arg-type]
        except DriverError as e:
            raise RecoveryFailed(f"power cycle {self.cycles} failed: {e}") from None
        started = self.clock()
        last = "not found"
        while True:
            where = self.locate()
            if where is not None:
                try:
                    self.reattach(where)
                    took = self.clock() - started
                    return f"drive {self.serial} back as {where} {took:.1f} s after power cycle {self.cycles}"
                except (OSError, Refused) as e:
                    last = str(getattr(e, "strerror", None) or e)
            if self.clock() - started >= self.wait:
                raise RecoveryFailed(
                    f"drive {self.serial} did not come back within {self.wait:g} s of power cycle "
                    f"{self.cycles} ({last})"
                )
            self.sleep(0.25)

    def close(self) -> None:
        self.relay.close()


def find_block_device(serial: str, sys_root: Path = Path("/sys")) -> str | None:
    """/dev/NAME of the whole disk with this serial number, if one is attached now."""
    from station.media import blockdev

    base = sys_root / "class" / "block"
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return None
    for name in names:
        d = base / name
        if (d / "partition").exists():
            continue
        try:
            major, minor = (d / "dev").read_text().strip().split(":")
        except (OSError, ValueError):
            continue
        rdev = os.makedev(int(major), int(minor))
        if blockdev.read_identity(rdev, sys_root=sys_root).get("serial") == serial:
            return f"/dev/{name}"
    return None


def recovery_for(source, relay: PowerDriver, channel: int, **kw) -> PowerRecovery:
    """The recovery of this source: how to find it again depends on what it is."""
    from station.sim.source import SimSource

    relay.check_channel(channel)
    if isinstance(source, SimSource):
        drive = source.drive
        return PowerRecovery(
            relay, channel, serial=drive.model.serial,
            locate=lambda: source.identity.path if drive.powered else None,
            reattach=lambda path: source.reopen(), **kw,
        )  # fmt: skip
    ident = source.identity
    if ident.kind != "block" or not hasattr(source, "reattach"):
        raise Refused(f"--relay: {ident.path} is not a drive: power-cycling it would not help")
    if not ident.serial:
        raise Refused(f"--relay: {ident.path} reports no serial number, so it could not be found again")
    return PowerRecovery(
        relay, channel, serial=ident.serial,
        locate=lambda: find_block_device(ident.serial), reattach=source.reattach, **kw,
    )  # fmt: skip


@dataclass(frozen=True)
class RelaySettings:
    """How a relay power-cycles the drive (`station image --relay-polarity/--power-hold/...`)."""

    polarity: str = "nc"
    hold: float = 5.0  # seconds the power stays cut
    wait: float = 60.0  # seconds to wait for the drive to come back
    max_cycles: int = 10


def recovery_from_spec(spec: str, source, settings: RelaySettings | None = None) -> PowerRecovery:
    """DRIVER:PORT:CHANNEL -> the engine's recover hook (the relay opened); Refused (one line) if
    it cannot be.  Opens a serial or USB device: blocking, with the driver's timeouts."""
    from station.hw.api import parse_spec
    from station.hw.registry import Registry

    s = settings or RelaySettings()
    try:
        name, port, channel = parse_spec(spec, channel=True)
    except ValueError as e:
        raise Refused(f"--relay: {e}") from None
    if s.max_cycles < 1:
        raise Refused("--max-power-cycles must be at least 1")
    if not (s.hold >= 0 and s.wait >= 0):
        raise Refused("--power-hold and --power-wait must be zero or more seconds")
    try:
        relay = Registry().power(name)(port)
    except DriverError as e:
        raise Refused(f"--relay: {e}") from None
    try:
        return recovery_for(
            source,
            relay,
            channel or 1,
            polarity=s.polarity,
            hold=s.hold,
            wait=s.wait,
            max_cycles=s.max_cycles,
        )
    except (Refused, DriverError) as e:
        relay.close()
        raise Refused(str(e) if isinstance(e, Refused) else f"--relay: {e}") from None


def recovery_from_args(a, source) -> PowerRecovery:
    """--relay DRIVER:PORT:CHANNEL and friends -> the hook; Refused (one line) if it cannot be."""
    settings = RelaySettings(
        polarity=a.relay_polarity, hold=a.power_hold, wait=a.power_wait, max_cycles=a.max_power_cycles
    )
    return recovery_from_spec(a.relay, source, settings)

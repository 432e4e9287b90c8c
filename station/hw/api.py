"""The driver API: what Station asks of a hardware imager and of a power relay.

An imager driver turns one attached device into: a description (ports, drives on them,
capabilities), a job (source port to target port), a stream of status and map changes while
it runs, and a result (outcome, hashes, the device's log).  The handoff (station.jobs.handoff) turns
that into the same events, session record and GNU ddrescue mapfile a software session has, so
nothing above it asks which method ran.

A power driver switches relay channels.  Polarity says how the drive's power is wired through
the relay, so that "cycle" always means: cut the drive's power (activate), hold, restore it
(deactivate).

Every driver is a class registered under the entry-point group ``station.drivers`` (see
station.hw.registry); opening one is constructing it with a port.  Every read from a device has a
timeout, and every failure is a DriverError whose message is one line a technician can act on.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal, Self

from station.rescue.rescuemap import RescueMap, Status

# -- errors --------------------------------------------------------------------------------------


class DriverError(Exception):
    """A device problem, as one line a technician can act on."""


class DeviceNotFound(DriverError):
    """No such port, or nothing there that this driver can talk to."""


class DeviceTimeout(DriverError):
    """The device stopped answering within its timeout (after retries)."""


class DeviceGone(DriverError):
    """The device went away mid-conversation (unplugged, port closed)."""


class ProtocolError(DriverError):
    """Bytes we cannot understand: garbage, an unknown reply, unsupported firmware."""


class DeviceRefused(DriverError):
    """The device understood and said no (busy, no drive on that port, ...)."""


# -- what a device is --------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceInfo:
    """A device found by discovery (or named by the user), before or after probing."""

    driver: str
    kind: str  # "imager" or "power"
    port: str  # what to pass to the driver's constructor: /dev/ttyUSB0, a USB serial number...
    description: str = ""
    vid: int | None = None
    pid: int | None = None
    serial: str | None = None
    model: str | None = None
    probed: bool = False  # True once the device answered as this driver's kind of device

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("vid", "pid"):
            if d[k] is not None:
                d[k] = f"{d[k]:04X}"
        return d


@dataclass(frozen=True)
class DrivePort:
    """One port of an imager and the drive on it, if any."""

    name: str  # the imager's own name: S1, T1
    role: str  # "source" (read only, by the imager's design) or "target"
    drive: bool
    size: int | None = None
    sector_size: int | None = None
    model: str | None = None
    serial: str | None = None


# Capabilities an imager may announce.
CAP_PAUSE = "pause"
CAP_ABORT = "abort"
CAP_AREA = "area"  # the job can be limited to areas (resuming from a local map)
CAP_SOURCE_POWER = "source-power"  # the imager power-cycles a hung source by itself
CAP_MD5 = "md5"
CAP_SHA256 = "sha256"


@dataclass(frozen=True)
class ImagerDescription:
    vendor: str
    model: str
    firmware: str
    serial: str
    protocol: int
    ports: tuple[DrivePort, ...]
    capabilities: frozenset[str]

    def port(self, name: str) -> DrivePort | None:
        return next((p for p in self.ports if p.name.upper() == name.upper()), None)


# -- jobs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSpec:
    source: str  # a source port name
    target: str  # a target port name
    areas: tuple[tuple[int, int], ...] | None = None  # (pos, size) in bytes; None: the whole drive


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of the device's job."""

    state: str  # idle, running, paused, done
    phase: str  # a station.rescue.rescuemap.Phase label: copying, trimming, scraping, finished...
    pass_: int
    pos: int
    rate: float  # bytes/s, as the device measures it
    read_errors: int
    rescued: int
    elapsed: float  # seconds on the device's clock
    power_cycles: int = 0  # source power cycles the imager did by itself


@dataclass(frozen=True)
class MapChange:
    """[pos, pos+size) now has `status` on the device's map (bad ranges arrive this way too)."""

    pos: int
    size: int
    status: Status


@dataclass(frozen=True)
class JobUpdate:
    status: JobStatus
    changes: list[MapChange]  # in order; apply them all to mirror the device's map


@dataclass
class JobResult:
    outcome: str  # finished, aborted, failed
    reason: str
    rescued: int
    hashes: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    map: RescueMap | None = None


# -- the driver classes -------------------------------------------------------------------------------


class Driver(ABC):
    """What every driver class has: a name, a kind, discovery, and close()."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    # (VID, PID) pairs the device may show up with.  IDs are never trusted alone: many boards share
    # a USB-serial chip's IDs (CH340: 1A86:7523), so discovery probes every candidate.
    usb_ids: ClassVar[tuple[tuple[int, int], ...]] = ()

    @classmethod
    def discover(cls, ports: Iterable[Any] | None = None) -> list[DeviceInfo]:
        """Devices of this driver attached now (probed).  `ports`: serial ports to consider
        (pyserial ListPortInfo-like objects), None for serial.tools.list_ports.comports()."""
        return []

    @classmethod
    def probe(cls, port: str) -> DeviceInfo | None:
        """Is one of this driver's devices on this serial port?  None if not (or not a serial driver)."""
        return None

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImagerDriver(Driver):
    """One open hardware imager.  Construct with the port; raises DriverError."""

    kind: ClassVar[str] = "imager"

    @abstractmethod
    def describe(self) -> ImagerDescription:
        """Identity, ports (with the drives on them) and capabilities."""

    @abstractmethod
    def start(self, job: JobSpec) -> None:
        """Start imaging; DeviceRefused if the device will not."""

    @abstractmethod
    def poll(self) -> JobUpdate:
        """Status now and the map changes since the last poll (all of them, in order)."""

    @abstractmethod
    def pause(self) -> None: ...

    @abstractmethod
    def resume(self) -> None: ...

    @abstractmethod
    def abort(self) -> None:
        """Stop the job; the device keeps what it imaged and its map."""

    @abstractmethod
    def result(self) -> JobResult:
        """Once the job is done: outcome, hashes of the target, the device's log."""


Polarity = Literal["nc", "no"]
POLARITIES: tuple[str, ...] = ("nc", "no")


class PowerDriver(Driver):
    """Relay channels (numbered from 1).  on/off are the relay's own states (coil energized or not)."""

    kind: ClassVar[str] = "power"

    @property
    @abstractmethod
    def channels(self) -> int: ...

    @abstractmethod
    def set(self, channel: int, on: bool) -> None:
        """Energize (on) or release (off) one relay; DriverError if the board does not take it."""

    def states(self) -> dict[int, bool] | None:
        """Each channel's state as the board reports it, None if it cannot tell."""
        return None

    def on(self, channel: int) -> None:
        self.set(channel, True)

    def off(self, channel: int) -> None:
        self.set(channel, False)

    def check_channel(self, channel: int) -> None:
        if not 1 <= channel <= self.channels:
            raise DeviceRefused(f"{self.name} has channels 1..{self.channels}, not {channel}")

    def cycle(self, channel: int, hold: float = 5.0, polarity: Polarity = "nc") -> None:
        """Power-cycle what the channel feeds: activate (cut the power), hold, deactivate.

        `polarity` is how the drive's power is wired: "nc" through the normally-closed contact
        (powered while the relay is off: activating is switching it on), "no" through the
        normally-open one (powered while the relay is on: activating is switching it off).
        The power is restored even if the hold is interrupted.
        """
        if polarity not in POLARITIES:
            raise ValueError(f"polarity must be nc or no, not {polarity!r}")
        cut = polarity == "nc"
        self.set(channel, cut)
        try:
            time.sleep(hold)
        finally:
            self.set(channel, not cut)


def parse_spec(spec: str, *, channel: bool = False) -> tuple[str, str, int | None]:
    """'DRIVER:PORT' (or 'DRIVER:PORT:CHANNEL') -> (driver, port, channel); ValueError if malformed.

    The port may itself hold colons (a USB path); the channel is the last field when asked for.
    """
    name, sep, rest = spec.partition(":")
    if not sep or not name or not rest:
        want = "DRIVER:PORT:CHANNEL" if channel else "DRIVER:PORT"
        raise ValueError(f"{spec!r} is not {want}")
    if not channel:
        return name, rest, None
    port, sep, ch = rest.rpartition(":")
    if not sep or not port:
        raise ValueError(f"{spec!r} is not DRIVER:PORT:CHANNEL")
    try:
        n = int(ch)
    except ValueError:
        raise ValueError(f"{spec!r}: channel {ch!r} is not a number") from None
    if n < 1:
        raise ValueError(f"{spec!r}: channels are numbered from 1")
    return name, port, n

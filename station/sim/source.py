"""A virtual drive as an engine Source, in process: the fast way to test and benchmark.

Reads become drive commands of whole sectors.  A failed command fails the whole read with EIO
(as block devices do for O_DIRECT reads), unless `partial_reads` asks for the sectors before
the bad one to be delivered first.  A drive that stopped answering blocks the read until it is
power-cycled, as a hung device keeps its reader in the kernel; the engine's reader abandons it
after its timeout.  Without power the device is gone: ENODEV.
"""

from __future__ import annotations

import errno

from station.media.base import SourceIdentity
from station.sim.content import DriveContent
from station.sim.drive import DriveHung, DrivePoweredOff, SimDrive


class SimSource:
    """Source protocol over a SimDrive (never writable: the drive has no write command)."""

    def __init__(
        self,
        drive: SimDrive,
        *,
        path: str | None = None,
        partial_reads: bool = False,
        hang_wait: float | None = 3600.0,
    ) -> None:
        self.drive = drive
        self.partial_reads = partial_reads
        self.hang_wait = hang_wait
        self.reopens = 0
        m = drive.model
        self.content = DriveContent(m.sector_size, m.content)
        self.identity = SourceIdentity(
            path=path or f"sim:{m.name}",
            kind="virtual",
            size=m.size,
            sector_size=m.sector_size,
            physical_sector_size=m.sector_size,
            model=f"Station virtual drive ({m.name})",
            serial=m.serial,
        )

    @property
    def size(self) -> int:
        return self.drive.model.size

    @property
    def sector_size(self) -> int:
        return self.drive.sector_size

    @property
    def alignment(self) -> int:
        return 1

    def read_into(self, pos: int, buf: memoryview) -> int:
        ss = self.drive.sector_size
        n = min(len(buf), max(self.size - pos, 0))
        if n <= 0:
            return 0
        first, last = pos // ss, (pos + n - 1) // ss
        try:
            r = self.drive.read(first, last - first + 1, block=True, hang_wait=self.hang_wait)
        except DriveHung:
            raise OSError(errno.ETIMEDOUT, "drive not responding") from None
        except DrivePoweredOff:
            raise OSError(errno.ENODEV, "No such device") from None
        if r.ok:
            buf[:n] = self.content.read(pos, n)
            return n
        good = max(0, (first + r.good) * ss - pos) if self.partial_reads else 0
        good = min(good, n)
        if good:
            buf[:good] = self.content.read(pos, good)
        err = OSError(errno.EIO, "Input/output error")
        err.partial = good  # type: ignore[attr-defined]
        raise err

    def reopen(self) -> None:
        self.reopens += 1
        if not self.drive.powered:
            raise OSError(errno.ENODEV, "No such device")

    def close(self) -> None:
        self.content.close()


def open_sim(spec: str, *, time_scale: float = 0.0, **kw) -> SimSource:
    """A SimSource for a preset name, a model file or a ddrescue test mapfile."""
    from station.sim.model import load_model

    return SimSource(SimDrive(load_model(spec), time_scale=time_scale), **kw)

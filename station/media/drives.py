"""The drives a technician can pick from: block devices from the kernel, virtual drives, attached hardware.

No Textual here: the workstation's devices screen, and any other view, call `scan_drives()`.

Block devices come from sysfs (model, serial, size, removable, rotational) and are marked
*protected* when they must never be a target: the disk that holds the running system, and any
drive that is mounted, used as swap or held by device-mapper/md.  A protected drive can still
be a source (it is only ever read).

Three seams, each a plain callable so that the features being built next to this one plug in
without touching the views:

* `HealthProvider`: `(Drive) -> HealthBadge | None`, the SMART badge of a drive.  It may be
  slow (smartctl on a dying drive), so views call it off their UI thread, one drive at a time.
  `default_health_provider()` uses `station.health.drive_badge` once that module exists.
* `AttachedProvider`: `() -> list[Attached]`, hardware imagers and power relays found by the
  drivers package; `default_attached_providers()` is empty until then.
* `VirtualProvider`: `() -> list[Drive]`, virtual failing drives; the built-in demo drive is one,
  the simulator's presets add another (`register_virtual_provider`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from station.media import blockdev
from station.media.base import Source

# Devices that are never drives a technician images (compressed RAM swap, RAM disks).
_SKIP_PREFIXES = ("ram", "zram")


@dataclass(frozen=True)
class HealthBadge:
    """A drive's health in one word (GOOD, WARNING, FAILING, UNKNOWN) and why."""

    verdict: str
    reasons: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        return self.verdict.upper()


@dataclass(frozen=True)
class Drive:
    """A drive that can be a source (every one) or a target (when not protected and not virtual)."""

    path: str  # what `prepare` is given: /dev/sdb, or a virtual drive's name ("demo")
    kind: str  # "block" or "virtual"
    size: int
    model: str | None = None
    serial: str | None = None
    name: str = ""  # kernel name (sdb) or a label
    removable: bool = False
    rotational: bool | None = None
    system: bool = False  # holds the running system
    protected: tuple[str, ...] = ()  # why it must not be written; () when free
    description: str = ""
    opener: Callable[[], Source] | None = field(default=None, compare=False, repr=False)

    @property
    def can_be_target(self) -> bool:
        return self.kind == "block" and not self.protected

    @property
    def label(self) -> str:
        return self.model or self.description or self.name or self.path


@dataclass(frozen=True)
class Attached:
    """A hardware imager or power relay found by a driver (the drivers issue supplies them)."""

    kind: str  # "imager" or "relay"
    driver: str
    port: str
    description: str = ""


HealthProvider = Callable[[Drive], HealthBadge | None]
AttachedProvider = Callable[[], list[Attached]]
VirtualProvider = Callable[[], list[Drive]]


# -- virtual drives -------------------------------------------------------------------------


def demo_drives() -> list[Drive]:
    """The built-in demo failing drive, always listed (training, and machines with no drive)."""
    from station.sim.demo import DEMO_SIZE, demo_drive

    return [
        Drive(
            path="demo",
            kind="virtual",
            size=DEMO_SIZE,
            model="Station demo drive (simulated)",
            serial="DEMO-0001",
            name="demo",
            description="a small failing drive for training: bad sectors, a slow zone, weak sectors",
            opener=demo_drive,
        )
    ]


_VIRTUAL_PROVIDERS: list[VirtualProvider] = [demo_drives]


def register_virtual_provider(provider: VirtualProvider) -> None:
    """Add a source of virtual drives (the simulator's presets); listed after the demo drive."""
    if provider not in _VIRTUAL_PROVIDERS:
        _VIRTUAL_PROVIDERS.append(provider)


def virtual_drives(providers: Iterable[VirtualProvider] | None = None) -> list[Drive]:
    """Every virtual drive; a provider that fails is skipped (it must not hide the others)."""
    out: list[Drive] = []
    for provider in _VIRTUAL_PROVIDERS if providers is None else providers:
        try:
            out.extend(provider())
        except Exception:
            continue
    return out


# -- attached hardware and health (seams for the drivers and SMART features) -------------------


def default_attached_providers() -> list[AttachedProvider]:
    """Imagers and relays: none until the drivers package offers discovery."""
    return []


def attached_devices(providers: Iterable[AttachedProvider] | None = None) -> list[Attached]:
    out: list[Attached] = []
    for provider in default_attached_providers() if providers is None else providers:
        try:
            out.extend(provider())
        except Exception:
            continue
    return out


def default_health_provider() -> HealthProvider | None:
    """`station.health.drive_badge(drive) -> HealthBadge | None` once the SMART feature exists."""
    try:
        import importlib

        health = importlib.import_module("station.health")
    except ImportError:
        return None
    return getattr(health, "drive_badge", None)


# -- block devices ----------------------------------------------------------------------------


def _flag(path: Path) -> bool | None:
    try:
        return path.read_text().strip() == "1"
    except OSError:
        return None


SYSTEM_MOUNTS = ("/", "/boot", "/boot/efi", "/usr", "/var")


def system_disks(*, mounts: list[blockdev.Mount] | None = None, sys_root: Path = blockdev.SYS) -> set[int]:
    """The whole disks under the root filesystem (and /boot, /usr, /var when separate)."""
    mounts = blockdev.read_mounts() if mounts is None else mounts
    disks: set[int] = set()
    for mount in mounts:
        if mount.mountpoint in SYSTEM_MOUNTS:
            for dev in blockdev.mount_devices(mount):
                if blockdev.sysfs_dir(dev, sys_root=sys_root) is not None:
                    disks |= blockdev.bottom_disks(dev, sys_root=sys_root)
    return disks


def block_drives(
    *,
    sys_root: Path = blockdev.SYS,
    udev_root: Path = blockdev.UDEV_DATA,
    mounts: list[blockdev.Mount] | None = None,
    swaps: set[int] | None = None,
) -> list[Drive]:
    """Whole-disk block devices the kernel knows, with identity and protection, in name order."""
    mounts = blockdev.read_mounts() if mounts is None else mounts
    swaps = blockdev.swap_devices() if swaps is None else swaps
    system = system_disks(mounts=mounts, sys_root=sys_root)
    out: list[Drive] = []
    block_dir = sys_root / "block"
    if not block_dir.is_dir():
        return out
    for entry in sorted(block_dir.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name.startswith(_SKIP_PREFIXES):
            continue
        dev_text = blockdev.read_attr(entry / "dev")
        size_text = blockdev.read_attr(entry / "size")
        if not dev_text or not size_text or int(size_text) == 0:
            continue  # an unattached loop device, an empty card reader
        rdev = blockdev.parse_dev(dev_text)
        ident = blockdev.read_identity(rdev, sys_root=sys_root, udev_root=udev_root)
        reasons = []
        is_system = rdev in system
        if is_system:
            reasons.append("holds the running system")
        reasons += blockdev.in_use(rdev, sys_root=sys_root, mounts=mounts, swaps=swaps)
        backing = blockdev.read_attr(entry / "loop" / "backing_file")
        out.append(
            Drive(
                path="/dev/" + name.replace("!", "/"),
                kind="block",
                size=int(size_text) * 512,
                model=ident.get("model"),
                serial=ident.get("serial"),
                name=name,
                removable=bool(_flag(entry / "removable")),
                rotational=_flag(entry / "queue" / "rotational"),
                system=is_system,
                protected=tuple(reasons),
                description=f"loop device over {backing}" if backing else "",
            )
        )
    return out


def scan_drives(
    *,
    sys_root: Path = blockdev.SYS,
    virtual: Iterable[VirtualProvider] | None = None,
) -> list[Drive]:
    """Block devices first, then virtual drives.  Cheap: sysfs and procfs only, no device opened."""
    try:
        drives = block_drives(sys_root=sys_root)
    except OSError:
        drives = []
    return drives + virtual_drives(virtual)


def find_drive(path: str, drives: Iterable[Drive]) -> Drive | None:
    """The listed drive with this path (any name of the same block device), or None."""
    rdev = blockdev.block_rdev(path) if os.path.exists(path) else None
    for d in drives:
        if d.path == path:
            return d
        if rdev is not None and d.kind == "block" and blockdev.block_rdev(d.path) == rdev:
            return d
    return None

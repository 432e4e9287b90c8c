"""The drives a technician can pick from: block devices from the kernel, virtual drives, attached hardware.

No Textual here: the workstation's devices screen, and any other view, call `scan_drives()`.

Block devices come from sysfs (model, serial, size, removable, rotational) and are marked
*protected* when they must never be a target: the disk that holds the running system, and any
drive that is mounted, used as swap or held by device-mapper/md.  A protected drive can still
be a source (it is only ever read).

Three kinds of provider, each a plain callable that a view is given (never a global registry):

* `HealthProvider`: `(Drive) -> HealthBadge | None`, the SMART badge of a drive.  It may be
  slow (smartctl on a dying drive), so views call it off their UI thread, one drive at a time.
  `default_health_provider()` is `station.health.badge.drive_badge`.
* `AttachedProvider`: `() -> list[Attached]`, hardware imagers and power relays.  The default,
  `driver_devices`, is the drivers registry's discovery (serial ports and USB, every candidate
  probed); it blocks for up to the drivers' timeouts, so views call it from a worker.  Ports
  that cannot be listed (a pty, an unlisted adapter) are probed by name with `probe_port`.  The
  drives on an imager's source ports come with it (`Attached.drives`, kind "imager").
* `VirtualProvider`: `() -> list[Drive]`, virtual failing drives: the built-in demo drive and
  the simulator's presets (`default_virtual_providers()`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from station.health.badge import HealthBadge
from station.media import blockdev
from station.media.base import Source

# Devices that are never drives a technician images (compressed RAM swap, RAM disks).
_SKIP_PREFIXES = ("ram", "zram")
# Block devices the kernel makes of other things (a file, other devices): the kernel calls them
# rotational, which says nothing of a disk behind them.
_KERNEL_MADE = ("loop", "nbd", "dm-", "md")


@dataclass(frozen=True)
class Drive:
    """A drive that can be a source (every one) or a target (when not protected and not virtual)."""

    path: str  # what `prepare` is given: /dev/sdb, a virtual drive's name ("demo"); DRIVER:PORT:S1 (imager)
    kind: str  # "block", "virtual" or "imager" (on an imager's source port: only the imager reads it)
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
    imager: str | None = None  # kind "imager": DRIVER:PORT of the imager whose port holds it
    imager_targets: tuple[str, ...] = ()  # kind "imager": that imager's target ports with a drive

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
    drives: tuple[Drive, ...] = ()  # an imager's source ports with a drive on them (kind "imager")

    @property
    def spec(self) -> str:
        """DRIVER:PORT, as `station image --imager` and `--relay` take it."""
        return f"{self.driver}:{self.port}"


HealthProvider = Callable[[Drive], HealthBadge | None]
AttachedProvider = Callable[[], list[Attached]]
VirtualProvider = Callable[[], list[Drive]]
T = TypeVar("T")


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


PRESET_TIME_SCALE = 1.0  # real seconds slept per simulated second: a preset images at a real drive's pace


def preset_drives(time_scale: float = PRESET_TIME_SCALE) -> list[Drive]:
    """The simulator's preset failing drives (`station sim presets`), each opened fresh by `open_sim`.

    Paced at `time_scale` so that a training session looks like a real drive's: its rates, its
    slow failed reads (seconds each), its phases.
    """
    from station.sim.model import load_model, preset_names
    from station.sim.source import open_sim

    out = []
    for name in preset_names():
        m = load_model(name)
        path = f"sim:{name}"
        out.append(
            Drive(
                path=path,
                kind="virtual",
                size=m.size,
                model=f"Station virtual drive ({name})",
                serial=m.serial,
                name=name,
                description=m.description or f"simulator preset {name}",
                opener=lambda name=name, path=path: open_sim(name, time_scale=time_scale, path=path),
            )  # fmt: skip
        )
    return out


def default_virtual_providers() -> list[VirtualProvider]:
    """The demo drive first, then the simulator's presets."""
    return [demo_drives, preset_drives]


def open_virtual(name: str, providers: Iterable[VirtualProvider] | None = None) -> Source | None:
    """The virtual drive listed as `name` ("demo", "sim:dead-head"), opened; None if there is none.

    One naming for virtual drives in the CLI and the workstation: what the drive list shows as a
    drive's path is what `station image` accepts as a source.
    """
    if name != "demo" and not name.startswith("sim:"):
        return None
    for d in virtual_drives(providers):
        if d.path == name and d.opener is not None:
            return d.opener()
    return None


def _gathered(providers: Iterable[Callable[[], list[T]]]) -> list[T]:
    """What every provider lists; one that fails is skipped (it must not hide the others)."""
    out: list[T] = []
    for provider in providers:
        try:
            out.extend(provider())
        except Exception:
            continue
    return out


def virtual_drives(providers: Iterable[VirtualProvider] | None = None) -> list[Drive]:
    """Every virtual drive; a provider that fails is skipped (it must not hide the others)."""
    return _gathered(default_virtual_providers() if providers is None else providers)


# -- attached hardware and health (seams for the drivers and SMART features) -------------------


def default_attached_providers() -> list[AttachedProvider]:
    """Imagers and relays: what the drivers registry discovers on serial ports and USB."""
    return [driver_devices]


def attached_devices(providers: Iterable[AttachedProvider] | None = None) -> list[Attached]:
    """Every provider's devices (a provider that fails is skipped).  Blocking: call from a worker."""
    return _gathered(default_attached_providers() if providers is None else providers)


def driver_devices(*, registry: Any = None, ports: Iterable[Any] | None = None) -> list[Attached]:
    """AttachedProvider over `station.hw.registry.Registry.discover` (its probes have their timeouts).

    `ports`: serial ports to consider (pyserial ListPortInfo-like); None lists this machine's.
    """
    from station.hw.registry import Registry

    reg = registry or Registry()
    found, _problems = reg.discover(None if ports is None else list(ports))
    return [_attached(reg, info) for info in found]


def probe_port(port: str, *, registry: Any = None) -> tuple[list[Attached], list[str]]:
    """Ask every driver whether its device is on this port (a pty, an adapter pyserial does not
    list): the devices found and the problems met, one line each.  Blocking: call from a worker."""
    from station.hw.registry import Registry

    reg = registry or Registry()
    found, problems = reg.probe(port)
    return [_attached(reg, info) for info in found], problems


def _attached(reg: Any, info: Any) -> Attached:
    """A discovered device as the views list it; an imager is opened once more to list its drives."""
    if info.kind != "imager":
        return Attached("relay", info.driver, info.port, info.description)
    spec = f"{info.driver}:{info.port}"
    try:
        with reg.imager(info.driver)(info.port) as dev:
            desc = dev.describe()
    except Exception as e:  # it answered its probe a moment ago; say why it is not usable now
        return Attached("imager", info.driver, info.port, f"{info.description} ({e})")
    targets = tuple(p.name for p in desc.ports if p.role == "target" and p.drive)
    drives = tuple(
        Drive(
            path=f"{spec}:{p.name}",
            kind="imager",
            size=p.size,
            model=p.model,
            serial=p.serial,
            name=p.name,
            description=f"on port {p.name} of the imager {desc.vendor} {desc.model} ({spec})",
            imager=spec,
            imager_targets=targets,
        )  # fmt: skip
        for p in desc.ports
        if p.role == "source" and p.drive and p.size
    )
    return Attached("imager", info.driver, info.port, info.description, drives)


def default_health_provider() -> HealthProvider | None:
    """`station.health.badge.drive_badge(drive) -> HealthBadge | None` (None if the module is broken)."""
    try:
        from station.health.badge import drive_badge
    except ImportError:
        return None
    return drive_badge


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
        reasons = ["read-only (write-protected)"] if blockdev.read_only(rdev, sys_root=sys_root) else []
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
                rotational=None if name.startswith(_KERNEL_MADE) else _flag(entry / "queue" / "rotational"),
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

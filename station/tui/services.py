"""What the workstation's screens use of the station, in one typed object (no Textual).

The app owns one `Services`; screens reach it as `StationScreen.services`.  Everything the
workstation lists or reads comes through it, so tests (and other stations) give their own
providers, and a screen never guesses what the app has.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict, Unpack

from station.core.session import SessionStore, images_home
from station.jobs.drives import (
    Attached,
    AttachedProvider,
    Drive,
    HealthProvider,
    VirtualProvider,
    default_attached_providers,
    default_health_provider,
    default_virtual_providers,
    probe_port,
    scan_drives,
    virtual_drives,
)

if TYPE_CHECKING:
    from station.catalog import Catalog, ImageEntry
    from station.health.watch import HealthOptions
    from station.jobs.power import RelaySettings

PortProbe = Callable[[str], tuple[list[Attached], list[str]]]  # a port named by hand -> (found, problems)
ImageAction = Callable[["ImageEntry"], str]  # runs in a thread worker; returns what to tell the technician


@dataclass(frozen=True)
class ImageActions:
    """What the images screen can do with an image besides its report.  None: not installed yet
    (the screen says so); the image browser and restore put their entry points here
    (`Services.create(image_actions=...)` or in `default_image_actions`)."""

    verify: ImageAction | None = None
    browse: ImageAction | None = None
    restore: ImageAction | None = None


def verification_job(store: SessionStore) -> ImageAction:
    """Verify an image against its recorded hashes as a job (station.jobs.verify): a session of
    kind verification in `store`, which the catalog reads back as the image's verification."""

    def verify(image: ImageEntry) -> str:
        from station.images.verify import HASHES_SUFFIX
        from station.jobs.verify import prepare_verify
        from station.media.base import Refused

        raw = image.format in ("raw", "device")  # a drive cloned to keeps its hashes beside its map
        hashes = image.mapfile + HASHES_SUFFIX if image.format == "device" and image.mapfile else None
        try:
            job = prepare_verify(
                image.path, image.mapfile if raw else None, hashes_path=hashes, store=store,
                command=["station", "verify", image.path],
            )  # fmt: skip
        except Refused as e:
            return f"cannot verify {image.path}: {e}"
        job.run()
        v = job.verification
        if v is None:
            return f"{image.path}: verification stopped"
        said = f"{len(v.differing)} range(s) differ" if v.differing else "; ".join(v.problems[:1])
        return f"{image.path}: {v.outcome}" + (f" ({said})" if v.outcome != "match" and said else "")

    return verify


def default_image_actions(store: SessionStore) -> ImageActions:
    return ImageActions(verify=verification_job(store))


DEFAULT: Literal["default"] = "default"  # "the station's own provider", for arguments where None means off


def _catalog_of(store: SessionStore) -> Callable[[], Catalog]:
    def open_catalog() -> Catalog:
        from station.catalog import Catalog

        return Catalog.open(store)

    return open_catalog


class LocalDrives:
    """Block devices from sysfs (cheap: read at every scan) and the virtual drives (listed once:
    they do not change while the app runs)."""

    def __init__(self, virtual: Iterable[VirtualProvider]) -> None:
        self.virtual = list(virtual)
        self._virtual_drives: list[Drive] | None = None

    def __call__(self) -> list[Drive]:
        if self._virtual_drives is None:
            self._virtual_drives = virtual_drives(self.virtual)
        cached = self._virtual_drives
        return scan_drives(virtual=[lambda: list(cached)])


class ServiceChoices(TypedDict, total=False):
    """Providers given by name (`Services.create`, `StationApp(...)`); the rest are the station's own.
    `health` and `smart` take None for "off", and "default" for the station's own."""

    store: SessionStore | None
    scan: Callable[[], list[Drive]] | None
    virtual: Iterable[VirtualProvider] | None
    health: HealthProvider | None | Literal["default"]
    attached: Iterable[AttachedProvider] | None
    probe: PortProbe
    smart: HealthOptions | None | Literal["default"]
    relay_settings: RelaySettings | None
    image_dir: Path | None
    follow_interval: float
    clock: Callable[[], float]
    catalog: Callable[[], Catalog] | None
    image_actions: ImageActions


@dataclass
class Services:
    """The station as the screens see it.

    `scan` lists drives; `health` gives a drive's SMART badge (None: no SMART here); `attached`
    discovers imagers and relays and `probe` asks a port named by hand; `smart` says how a session
    on a drive watches SMART (None: off); `relay_settings` how a relay picked for a session
    power-cycles its drive; `clock` is the engine's clock (tests give a simulated one); `catalog`
    opens the catalog of the session store (one per thread: workers open their own) and
    `image_actions` are what the images screen offers besides the report.
    `ports` (named by hand, probed again at each rescan) and `devices` (the last discovery's
    imagers and relays) are what the devices screen found, kept for the other screens.
    """

    store: SessionStore
    scan: Callable[[], list[Drive]]
    health: HealthProvider | None
    attached: list[AttachedProvider]
    probe: PortProbe
    smart: HealthOptions | None
    relay_settings: RelaySettings
    image_dir: Path
    follow_interval: float = 0.25
    clock: Callable[[], float] = time.monotonic
    catalog: Callable[[], Catalog] | None = None
    image_actions: ImageActions = field(default_factory=ImageActions)
    ports: list[str] = field(default_factory=list)
    devices: list[Attached] = field(default_factory=list)

    @classmethod
    def create(cls, **given: Unpack[ServiceChoices]) -> Services:
        """The services with what is given, and the station's own providers for the rest."""
        smart = given.get("smart", DEFAULT)
        if isinstance(smart, str):
            from station.health.watch import HealthOptions

            smart = HealthOptions()
        relay_settings = given.get("relay_settings")
        if relay_settings is None:
            from station.jobs.power import RelaySettings

            relay_settings = RelaySettings()
        health = given.get("health", DEFAULT)
        virtual = given.get("virtual")
        attached = given.get("attached")
        scan = given.get("scan") or LocalDrives(default_virtual_providers() if virtual is None else virtual)
        store = given.get("store") or SessionStore()
        return cls(
            store=store,
            scan=scan,
            health=default_health_provider() if isinstance(health, str) else health,
            attached=list(default_attached_providers() if attached is None else attached),
            probe=given.get("probe", probe_port),
            smart=smart,
            relay_settings=relay_settings,
            image_dir=given.get("image_dir") or images_home(),
            follow_interval=given.get("follow_interval", 0.25),
            clock=given.get("clock", time.monotonic),
            catalog=given.get("catalog") or _catalog_of(store),
            image_actions=given.get("image_actions") or default_image_actions(store),
        )

    def discovered(self, found: list[Attached], busy: set[str]) -> None:
        """A discovery's answer replaces the last one's, except imagers busy with this app's own
        hand-off: they cannot answer a probe, so they stay as last seen."""
        kept = [a for a in self.devices if a.spec in busy and all(f.spec != a.spec for f in found)]
        self.devices = found + kept

    def attached_at(self, port: str, found: list[Attached]) -> None:
        """Devices that answered at a port named by hand; the port is probed again at each rescan."""
        if port not in self.ports:
            self.ports.append(port)
        self.devices = [a for a in self.devices if a.port != port] + found

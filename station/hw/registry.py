"""Drivers found through Python entry points (group ``station.drivers``), loaded lazily.

Modelled on python-can's interface plugins: a driver is a class named by an entry point, so a
third party ships a driver as its own package with, in its pyproject.toml::

    [project.entry-points."station.drivers"]
    acme-imager = "acme_station.driver:AcmeImager"

The built-in drivers are registered the same way in Station's own pyproject.toml.  Listing the
entry points imports nothing; a driver's module is imported when it is first used, and one
that fails to import (or is not a driver class) is reported and skipped, never fatal to the
others.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from station.hw.api import DeviceInfo, DeviceNotFound, Driver, DriverError, ImagerDriver, PowerDriver

GROUP = "station.drivers"


@dataclass
class DriverEntry:
    """One registered driver: where it comes from, and (once loaded) its class or what broke."""

    name: str
    target: str  # module:attribute
    origin: str  # "station 0.1.0 (built-in)" or the distribution that ships it
    entry_point: EntryPoint
    cls: type[Driver] | None = None
    error: str | None = None

    @property
    def kind(self) -> str | None:
        return self.cls.kind if self.cls is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "origin": self.origin,
            "target": self.target,
            "error": self.error,
        }


def _origin(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown distribution"
    name = dist.metadata["Name"] or "?"
    builtin = " (built-in)" if name == "station" else ""
    return f"{name} {dist.version}{builtin}"


class Registry:
    """The drivers installed in this environment (or given entry points, for tests)."""

    def __init__(self, eps: Iterable[EntryPoint] | None = None) -> None:
        if eps is None:
            eps = entry_points(group=GROUP)
        self._entries: dict[str, DriverEntry] = {}
        for ep in eps:
            if ep.name in self._entries:  # two packages claim one name: the first wins, say so
                self._entries[
                    ep.name
                ].error = f"also claimed by {_origin(ep)} ({ep.value}); using {self._entries[ep.name].target}"
                continue
            self._entries[ep.name] = DriverEntry(ep.name, ep.value, _origin(ep), ep)

    def names(self) -> list[str]:
        """Registered names, without importing anything."""
        return sorted(self._entries)

    def entries(self, load: bool = True) -> list[DriverEntry]:
        """Every entry, loaded if asked (failures are recorded on the entry, never raised)."""
        out = []
        for name in self.names():
            e = self._entries[name]
            if load:
                self._load(e)
            out.append(e)
        return out

    def _load(self, e: DriverEntry) -> None:
        if e.cls is not None or (e.error and not e.error.startswith("also claimed")):
            return
        try:
            obj = e.entry_point.load()
        except Exception as exc:  # a broken plugin: reported, skipped
            e.error = f"cannot load {e.target}: {type(exc).__name__}: {exc}"
            return
        if not (isinstance(obj, type) and issubclass(obj, ImagerDriver | PowerDriver)):
            e.error = f"{e.target} is not an ImagerDriver or PowerDriver class"
            return
        e.cls = obj

    def get(self, name: str, kind: str | None = None) -> type[Driver]:
        """The driver class called `name` (DriverError with the installed names if none)."""
        e = self._entries.get(name)
        if e is None:
            known = ", ".join(n for n in self.names()) or "none"
            raise DeviceNotFound(f"no driver named {name!r} (installed: {known})")
        self._load(e)
        if e.cls is None:
            raise DriverError(f"driver {name!r} is broken: {e.error}")
        if kind is not None and e.cls.kind != kind:
            raise DriverError(f"driver {name!r} is a {e.cls.kind} driver, not a {kind} driver")
        return e.cls

    def imager(self, name: str) -> type[ImagerDriver]:
        return self.get(name, "imager")  # type: ignore[return-value]

    def power(self, name: str) -> type[PowerDriver]:
        return self.get(name, "power")  # type: ignore[return-value]

    def probe(self, port: str) -> tuple[list[DeviceInfo], list[str]]:
        """Ask every driver whether its device is on this serial port (the first that answers wins)."""
        import os

        if not os.path.exists(port):
            return [], [f"{port}: no such port"]
        problems = []
        for e in self.entries():
            if e.cls is None:
                continue
            try:
                info = e.cls.probe(port)
            except Exception as exc:  # a plugin's bug must not end probing
                problems.append(f"{e.name}: probing {port} failed: {type(exc).__name__}: {exc}")
                continue
            if info is not None:
                return [info], problems
        return [], [*problems, f"{port}: no driver recognises the device there"]

    def discover(self, ports: Iterable[Any] | None = None) -> tuple[list[DeviceInfo], list[str]]:
        """Devices every loadable driver finds, and the problems met on the way (one line each).

        `ports`: serial ports to consider (ListPortInfo-like); None lists this machine's.
        """
        if ports is None:
            try:
                from serial.tools.list_ports import comports

                ports = list(comports())
            except Exception as exc:
                return [], [f"serial ports: cannot list them ({exc})"]
        else:
            ports = list(ports)
        found: list[DeviceInfo] = []
        problems: list[str] = []
        claimed: set[str] = set()
        for e in self.entries():
            if e.cls is None:
                problems.append(f"{e.name}: {e.error}")
                continue
            try:
                devices = e.cls.discover([p for p in ports if p.device not in claimed])
            except DriverError as exc:
                problems.append(f"{e.name}: {exc}")
                continue
            except Exception as exc:  # a plugin's bug must not end discovery
                problems.append(f"{e.name}: discovery failed: {type(exc).__name__}: {exc}")
                continue
            for d in devices:
                if d.probed:
                    claimed.add(d.port)  # one device answers to one driver
                found.append(d)
        return found, problems


# -- the other plugin groups: emulators (commands of `station emulate`) and bench methods ----------

EMULATORS = "station.emulators"
BENCH_METHODS = "station.bench_methods"


def plugins(group: str) -> list[tuple[str, Any, str | None]]:
    """(name, loaded object or None, error or None) for every entry point of `group`, by name.

    A plugin that fails to load is reported by its error, never raised: one broken package must
    not take `station` down with it.
    """
    out = []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            out.append((ep.name, ep.load(), None))
        except Exception as exc:
            out.append((ep.name, None, f"cannot load {ep.value}: {type(exc).__name__}: {exc}"))
    return out


def bench_method(name: str) -> Any | None:
    """The `station bench` runner registered as `name` (None if no package provides it)."""
    for ep in entry_points(group=BENCH_METHODS):
        if ep.name == name:
            return ep.load()
    return None

"""What the catalog answers with: images, sessions, verifications and restores as typed records.

`ImageEntry.to_json()` is the object `station images --json` prints for each image; the field
names are a promise to the lab's own scripts (docs/formats/catalog.md).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any


def iso(t: float | None) -> str | None:
    """A time as ISO 8601 in local time with its offset (2025-03-01T14:05:09+01:00), for JSON."""
    if t is None:
        return None
    local = time.localtime(t)
    z = time.strftime("%z", local)
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + f"{z[:3]}:{z[3:]}"


def local_time(t: float | None) -> str:
    """A time as lists show it: 2025-03-01 14:05 (local time), "-" when unknown."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "-"


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


@dataclass(frozen=True)
class Source:
    """The drive an image came from, as its sessions recorded it."""

    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    capacity: int | None = None
    path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "serial": self.serial,
            "firmware": self.firmware,
            "capacity": self.capacity,
            "path": self.path,
        }

    def describe(self) -> str:
        parts = [self.model or "unknown model"]
        if self.serial:
            parts.append(f"s/n {self.serial}")
        return ", ".join(parts)


IMAGE_COLUMNS = (
    "i.id, i.host, i.path, i.format, i.size, i.file_size, i.created, i.updated, i.last_session, i.sessions, "
    "i.state, i.replaced, i.source_path, i.source_model, i.source_serial, i.source_firmware, "
    "i.source_capacity, i.mapfile, i.rescued, i.bad, i.pending, i.read_errors, i.bad_areas, i.hashes, "
    "l.case_no, l.customer, l.label, l.note"
)


@dataclass(frozen=True)
class ImageEntry:
    """One image: where it is, what it holds, where it came from, and what the technician said."""

    id: str  # the id of the session that created it
    host: str
    path: str
    format: str | None  # raw, zst, device, missing (or None: on another station)
    size: int | None  # bytes of the image's content (the source's size)
    file_size: int | None  # bytes the file takes
    created: float | None
    updated: float | None
    last_session: str | None
    sessions: int
    state: str | None  # the last session's state
    replaced: bool  # a later image was started at the same path
    source: Source
    mapfile: str | None
    rescued: int | None
    bad: int | None
    pending: int | None
    read_errors: int | None
    bad_areas: int | None
    hashes_json: str | None  # parsed when asked for: a list of thousands of images rarely needs them
    case: str = ""
    customer: str = ""
    label: str = ""
    note: str = ""
    tags: tuple[str, ...] = ()
    last_verified: bool | None = field(default=None, compare=False)

    @property
    def hashes(self) -> dict[str, str]:
        """{"sha256": hex, "md5": hex, ...} of the whole image, as its newest run computed them."""
        found = _json(self.hashes_json, {})
        return found if isinstance(found, dict) else {}

    @classmethod
    def from_row(
        cls, row: tuple, tags: tuple[str, ...] = (), last_verified: bool | None = None
    ) -> ImageEntry:
        (iid, host, path, fmt, size, file_size, created, updated, last, sessions, state, replaced,
         src_path, model, serial, firmware, capacity, mapfile, rescued, bad, pending, read_errors,
         bad_areas, hashes, case, customer, label, note) = row  # fmt: skip
        return cls(
            id=iid, host=host, path=path, format=fmt, size=size, file_size=file_size, created=created,
            updated=updated, last_session=last, sessions=sessions or 0, state=state,
            replaced=bool(replaced), source=Source(model, serial, firmware, capacity, src_path),
            mapfile=mapfile, rescued=rescued, bad=bad, pending=pending, read_errors=read_errors,
            bad_areas=bad_areas, hashes_json=hashes, case=case or "", customer=customer or "",
            label=label or "", note=note or "", tags=tags, last_verified=last_verified,
        )  # fmt: skip

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")

    @property
    def compression(self) -> float | None:
        """Content bytes per stored byte of a compressed image (None for raw images and drives)."""
        if self.format != "zst" or not self.size or not self.file_size:
            return None
        return self.size / self.file_size

    def to_json(self) -> dict[str, Any]:
        ratio = self.compression
        return {
            "id": self.id,
            "path": self.path,
            "host": self.host,
            "format": self.format,
            "size": self.size,
            "file_size": self.file_size,
            "compression": round(ratio, 3) if ratio else None,
            "sha256": self.sha256,
            "hashes": self.hashes,
            "case": self.case,
            "customer": self.customer,
            "label": self.label,
            "tags": list(self.tags),
            "note": self.note,
            "created": iso(self.created),
            "updated": iso(self.updated),
            "state": self.state,
            "replaced": self.replaced,
            "sessions": self.sessions,
            "last_session": self.last_session,
            "source": self.source.to_json(),
            "mapfile": self.mapfile,
            "rescued": self.rescued,
            "bad": self.bad,
            "pending": self.pending,
            "read_errors": self.read_errors,
            "bad_areas": self.bad_areas,
            "verified": self.last_verified,
        }


SESSION_COLUMNS = (
    "s.id, s.kind, s.state, s.method, s.host, s.started, s.ended, s.source_path, s.source_model, "
    "s.source_serial, s.source_firmware, s.source_capacity, s.destinations, s.mapfile, s.options, "
    "s.resumed, s.reason, s.size, s.rescued, s.bad, s.pending, s.read_errors, s.bad_areas, s.elapsed, "
    "s.average_rate, s.peak_rate, s.hashes, s.smart_before, s.smart_after"
)


@dataclass(frozen=True)
class SessionEntry:
    """One session as the catalog lists it (the store's record has the rest)."""

    id: str
    kind: str
    state: str
    method: str | None
    host: str | None
    started: float | None
    ended: float | None
    source: Source
    destinations: list[str]
    mapfile: str | None
    options: dict[str, Any]
    resumed: bool
    reason: str | None
    size: int | None
    rescued: int | None
    bad: int | None
    pending: int | None
    read_errors: int | None
    bad_areas: int | None
    elapsed: float | None
    average_rate: float | None
    peak_rate: float | None
    hashes: dict[str, str]
    smart_before: str | None
    smart_after: str | None
    image_id: str | None = None
    case: str = ""

    @classmethod
    def from_row(cls, row: tuple, image_id: str | None = None, case: str = "") -> SessionEntry:
        (sid, kind, state, method, host, started, ended, src_path, model, serial, firmware, capacity,
         dests, mapfile, options, resumed, reason, size, rescued, bad, pending, read_errors, bad_areas,
         elapsed, average, peak, hashes, smart_before, smart_after) = row  # fmt: skip
        return cls(
            id=sid, kind=kind, state=state, method=method, host=host, started=started, ended=ended,
            source=Source(model, serial, firmware, capacity, src_path), destinations=_json(dests, []),
            mapfile=mapfile, options=_json(options, {}), resumed=bool(resumed), reason=reason,
            size=size, rescued=rescued, bad=bad, pending=pending, read_errors=read_errors,
            bad_areas=bad_areas, elapsed=elapsed, average_rate=average, peak_rate=peak,
            hashes=_json(hashes, {}), smart_before=smart_before, smart_after=smart_after,
            image_id=image_id, case=case,
        )  # fmt: skip

    def line(self, image_path: str | None = None) -> str:
        """One line of a drive's history: when, which session, what it did, to where, the case."""
        from station.core.units import fmt_bytes

        figures = ""
        if self.rescued is not None and self.size:
            figures = (
                f"rescued {fmt_bytes(self.rescued)} of {fmt_bytes(self.size)}, bad {fmt_bytes(self.bad or 0)}"
            )
        dest = image_path or (self.destinations[0] if self.destinations else "")
        where = f" -> {dest}" if dest else ""
        case = f"  case {self.case}" if self.case else ""
        return (
            f"{local_time(self.started)}  {self.id}  {self.kind:<8} {self.state:<11} {figures}{where}{case}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "method": self.method,
            "host": self.host,
            "started": iso(self.started),
            "ended": iso(self.ended),
            "source": self.source.to_json(),
            "destinations": self.destinations,
            "mapfile": self.mapfile,
            "resumed": self.resumed,
            "reason": self.reason,
            "size": self.size,
            "rescued": self.rescued,
            "bad": self.bad,
            "pending": self.pending,
            "read_errors": self.read_errors,
            "average_rate": self.average_rate,
            "peak_rate": self.peak_rate,
            "hashes": self.hashes,
            "smart_before": self.smart_before,
            "smart_after": self.smart_after,
            "image": self.image_id,
            "case": self.case,
        }


@dataclass(frozen=True)
class Verification:
    """One check of an image: when, how, and whether it matched (None: the record does not say)."""

    id: str
    session_id: str
    at: float | None
    ok: bool | None
    method: str | None
    detail: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session": self.session_id,
            "at": iso(self.at),
            "ok": self.ok,
            "method": self.method,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Restore:
    """One target written from an image (a restore or one drive of a deployment)."""

    id: str
    session_id: str
    target: str
    model: str | None
    serial: str | None
    bytes: int | None
    started: float | None
    ended: float | None
    state: str | None
    verified: bool | None
    detail: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session": self.session_id,
            "target": self.target,
            "model": self.model,
            "serial": self.serial,
            "bytes": self.bytes,
            "started": iso(self.started),
            "ended": iso(self.ended),
            "state": self.state,
            "verified": self.verified,
            "detail": self.detail,
        }

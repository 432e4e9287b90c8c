"""The host side of the Station imager protocol, whatever carries it (serial lines, USB bulk).

`LinkImager` implements the ImagerDriver API in terms of one primitive, `_transact` (send a
command, collect its reply before a deadline), which each transport provides.  Here live the
rules every transport shares: retries with the same tag (the device replays a reply it already
sent instead of executing twice), a firmware check on open, unknown replies refused as
protocol errors, the map mirrored through the device's change log (with a full re-read when
the device has forgotten changes we have not seen).
"""

from __future__ import annotations

import random
import time
from abc import abstractmethod
from typing import ClassVar

from drivers.imager_proto import (
    DATA_VERBS,
    E_NOJOB,
    E_RESYNC,
    ERROR_NAMES,
    LETTER_STATUS,
    PROTOCOL,
    Item,
    Reply,
)
from station.hw.api import (
    CAP_AREA,
    DeviceRefused,
    DeviceTimeout,
    DrivePort,
    ImagerDescription,
    ImagerDriver,
    JobResult,
    JobSpec,
    JobStatus,
    JobUpdate,
    MapChange,
    ProtocolError,
)

PAGE = 512  # map changes per CHANGES command
MAX_PAGES_PER_POLL = 16  # the rest comes with the next poll: a poll stays short
MAX_LOG_PAGES = 256  # LOG pages read at the end of a job (a device's log is a few thousand lines)
MAX_TEXT = 256  # characters kept of any text a device sends


def _text(value: str | None) -> str | None:
    """Text from a device, made harmless: control characters (NUL, escapes) become '?', cut to
    MAX_TEXT.  A device is untrusted input; its strings end up in terminals, files and names."""
    if value is None:
        return None
    return "".join(c if c.isprintable() else "?" for c in value[:MAX_TEXT])


class LinkImager(ImagerDriver):
    """An imager speaking the Station imager protocol; subclasses carry the bytes."""

    protocols: ClassVar[tuple[int, ...]] = (PROTOCOL,)

    def __init__(self, port: str, *, timeout: float = 1.0, retries: int = 2) -> None:
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self._tag = random.randrange(1, 60000)  # a fresh host never repeats a stale tag
        self._cursor = 0
        self._noise = 0  # bytes of garbage seen during the current call
        self._desc: ImagerDescription | None = None

    # -- the transport -------------------------------------------------------------------------------

    @abstractmethod
    def _transact(
        self, tag: int, verb: str, args: list[str], fields: dict[str, str], deadline: float
    ) -> Reply | None:
        """Send one command and return its reply, or None if none came before the deadline.

        Raises DeviceGone if the link broke, ProtocolError for a well-formed but unknown reply.
        Adds to self._noise the bytes it had to throw away.
        """

    def _where(self) -> str:
        return f"{self.name} on {self.port}"

    def _call(
        self,
        verb: str,
        args: list[str] | tuple = (),
        fields: dict[str, object] | None = None,
        *,
        ok: bool = True,
    ) -> Reply:
        self._tag = self._tag % 65535 + 1
        tag = self._tag
        str_fields = {k: str(v) for k, v in (fields or {}).items()}
        self._noise = 0
        reply = None
        for _ in range(self.retries + 1):
            reply = self._transact(tag, verb, list(args), str_fields, time.monotonic() + self.timeout)
            if reply is not None:
                break
        if reply is None:
            if self._noise:
                raise ProtocolError(
                    f"{self._where()} answers {verb} with garbage ({self._noise} bytes that are not "
                    "frames of the Station imager protocol): wrong device or wrong baud rate?"
                )
            raise DeviceTimeout(f"{self._where()} is not answering ({verb}, {self.retries + 1} tries)")
        want = DATA_VERBS.get(verb)
        for it in reply.items:
            if it.verb != want:
                raise ProtocolError(f"{self._where()} sent an unknown reply {it.verb!r} to {verb}")
        if ok and not reply.ok:
            code = reply.code
            msg = reply.fields.get("msg") or ERROR_NAMES.get(code, f"error {code}")
            raise DeviceRefused(f"{self._where()} refused {verb}: {msg}")
        return reply

    # -- the driver API ------------------------------------------------------------------------------

    def describe(self) -> ImagerDescription:
        if self._desc is not None:
            return self._desc
        r = self._call("HELLO")
        f = r.fields
        try:
            proto = int(f.get("proto", ""))
        except ValueError:
            proto = -1
        fw = f.get("firmware", "?")
        if proto not in self.protocols:
            raise ProtocolError(
                f"{self._where()}: unsupported firmware {fw} (protocol {f.get('proto', '?')}; "
                f"this driver speaks protocol {', '.join(map(str, self.protocols))})"
            )
        ports = []
        for it in self._call("PORTS").items:
            p = it.fields
            try:
                port = DrivePort(
                    name=_text(p["name"]),
                    role=_text(p.get("role", "?")),
                    drive=p.get("drive") == "1",
                    size=int(p["size"]) if "size" in p else None,
                    sector_size=int(p["sector"]) if "sector" in p else None,
                    model=_text(p.get("model")),
                    serial=_text(p.get("serial")),
                )
            except (KeyError, ValueError) as e:
                raise ProtocolError(f"{self._where()} described a port badly ({e})") from None
            if (port.size is not None and port.size < 0) or (
                port.sector_size is not None and port.sector_size <= 0
            ):
                raise ProtocolError(
                    f"{self._where()} described port {port.name} with an impossible size ({port.size} bytes,"
                    f" sectors of {port.sector_size})"
                )
            ports.append(port)
        caps = frozenset(c for c in f.get("caps", "").split(",") if c)
        self._desc = ImagerDescription(
            vendor=_text(f.get("vendor")) or "?",
            model=_text(f.get("model")) or "?",
            firmware=_text(fw) or "?",
            serial=_text(f.get("serial")) or "?",
            protocol=proto,
            ports=tuple(ports),
            capabilities=caps,
        )
        return self._desc

    def start(self, job: JobSpec) -> None:
        desc = self.describe()
        if job.areas is not None:
            if CAP_AREA not in desc.capabilities:
                raise DeviceRefused(f"{self._where()} cannot image parts of a drive (no 'area' capability)")
            self._call("AREA", ["clear"])
            for pos, size in job.areas:
                self._call("AREA", (), {"pos": f"{pos:X}", "size": f"{size:X}"})
        self._call("START", (), {"src": job.source, "dst": job.target})
        self._cursor = 0

    def poll(self) -> JobUpdate:
        status = self._status()
        changes: list[MapChange] = []
        for _ in range(MAX_PAGES_PER_POLL):
            r = self._call("CHANGES", (), {"from": self._cursor, "max": PAGE}, ok=False)
            if not r.ok:
                if r.code == E_RESYNC:
                    changes.extend(self._dump())
                    continue
                raise ProtocolError(f"{self._where()} refused CHANGES: {r.fields.get('msg', r.code)}")
            changes.extend(self._map_items(r.items))
            try:
                self._cursor = int(r.fields["next"])
                more = r.fields.get("more") == "1"
            except (KeyError, ValueError):
                raise ProtocolError(f"{self._where()} answered CHANGES without a valid 'next'") from None
            if not more:
                break
        return JobUpdate(status, changes)

    def _dump(self) -> list[MapChange]:
        """The device's whole job map (it forgot changes we had not read): every block, in order."""
        out: list[MapChange] = []
        pos = 0
        first_changes: int | None = None
        while True:
            r = self._call("DUMP", (), {"pos": f"{pos:X}", "max": PAGE})
            out.extend(self._map_items(r.items))
            try:
                if first_changes is None:
                    first_changes = int(r.fields["changes"])
                nxt = int(r.fields["next"], 16)
            except (KeyError, ValueError):
                raise ProtocolError(f"{self._where()} answered DUMP badly") from None
            if r.fields.get("done") == "1":
                break
            if nxt <= pos:
                raise ProtocolError(f"{self._where()}: DUMP does not advance")
            pos = nxt
        # Changes made while we paged are read again from where the dump began: applied in order
        # over the dump they leave every block with its latest status.
        self._cursor = first_changes or 0
        return out

    def _map_items(self, items: list[Item]) -> list[MapChange]:
        out = []
        for it in items:
            try:
                pos, size, letter = it.args
                change = MapChange(int(pos, 16), int(size, 16), LETTER_STATUS[letter])
            except (ValueError, KeyError):
                raise ProtocolError(f"{self._where()} sent a bad map line {it.args!r}") from None
            if change.pos < 0 or change.size <= 0:
                raise ProtocolError(f"{self._where()} sent a bad map line {it.args!r}")
            out.append(change)
        return out

    def _status(self) -> JobStatus:
        f = self._call("STATUS").fields
        try:
            return JobStatus(
                state=f["state"],
                phase=f["phase"],
                pass_=int(f["pass"]),
                pos=int(f["pos"], 16),
                rate=float(f["rate"]),
                read_errors=int(f["errors"]),
                rescued=int(f["rescued"], 16),
                elapsed=float(f["elapsed"]),
                power_cycles=int(f.get("cycles", "0")),
            )
        except (KeyError, ValueError) as e:
            raise ProtocolError(f"{self._where()} sent a status we cannot read ({e})") from None

    def pause(self) -> None:
        self._call("PAUSE")

    def resume(self) -> None:
        self._call("RESUME")

    def abort(self) -> None:
        r = self._call("ABORT", ok=False)
        if not r.ok and r.code != E_NOJOB:
            raise DeviceRefused(f"{self._where()} refused ABORT: {r.fields.get('msg', r.code)}")

    def result(self) -> JobResult:
        f = self._call("RESULT").fields
        log: list[str] = []
        k = 0
        for _ in range(MAX_LOG_PAGES):
            r = self._call("LOG", (), {"from": k, "max": 256})
            log.extend(_text(it.fields.get("text", "")) or "" for it in r.items)
            try:
                nxt = int(r.fields["next"])
            except (KeyError, ValueError):
                raise ProtocolError(f"{self._where()} answered LOG badly") from None
            if r.fields.get("more") != "1" or not r.items or nxt <= k:
                break
            k = nxt
        else:  # a log without end (a buggy or hostile firmware): keep what came, say so
            log.append(f"(log cut after {MAX_LOG_PAGES} pages: the imager kept sending more)")
        hashes = {a: f[a] for a in ("md5", "sha256") if a in f}
        try:
            rescued = int(f.get("rescued", "0"), 16)
        except ValueError:
            rescued = 0
        return JobResult(f.get("outcome", "?"), f.get("reason", ""), rescued, hashes, log)

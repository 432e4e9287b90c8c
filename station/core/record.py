"""The session record: what one job was, how it ran and how it ended, as typed fields.

Written by the jobs (station.jobs) to `session.json`, read by every view and, later, indexed
by the catalog; nobody reads it through `.get()` chains.  Every record any version of
Station wrote still loads: missing keys take their defaults, keys this version does not know
are kept and written back (station.core.dictform), and two older forms are read as they
were meant (see `SessionRecord.from_dict`).

The JSON form is flat and keeps the names the first versions used ("dest", "started",
"hardware", ...), so scripts over `session.json` and `station sessions --json` keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Self

from station.core.dictform import DictForm, keep_unknown, nested, optional, optional_list
from station.core.events import Progress
from station.core.identity import SourceIdentity


class JobKind(StrEnum):
    """What a session did; the method (engine, an imager's driver) says how."""

    IMAGING = "imaging"  # a drive read into an image or onto a target drive
    VERIFICATION = "verification"  # an image checked against its recorded hashes or its source
    CONVERSION = "conversion"  # an image written again in another format (raw + map, zst)
    RESTORE = "restore"  # an image written onto one or more targets (station restore)
    CLONE = "clone"  # a drive rescued straight onto several targets at once (station clone)


@dataclass
class ImageRecord(DictForm):
    """The image a job left: where, in which format, and where its per-segment hashes are."""

    path: str = ""
    format: str = "raw"  # raw (with its mapfile) or zst (station/images, docs/formats/zst.md)
    sealed: bool | None = optional()  # zst: sealed (standard seekable zstd) or still a working file
    file_size: int | None = optional()  # bytes on disk (zst: compressed)
    segment_size: int | None = optional()  # bytes per segment hash
    segments: str | None = optional()  # where the per-segment hashes are: a file, or "IMAGE (STSG frame)"
    unknown: dict[str, Any] = keep_unknown()


@dataclass
class Verification(DictForm):
    """One check of an image, against its recorded hashes or the source: when, and what it found."""

    image: str = ""
    against: str = "hashes"  # hashes, or source
    outcome: str = ""  # match, mismatch, or incomplete (the source could not be read everywhere)
    checked: int = 0  # bytes compared
    at: float | None = None  # time.time() when it ended
    source: str | None = optional()  # against a source: its path
    expected: dict[str, str] = field(default_factory=dict)  # hashes recorded (hex)
    actual: dict[str, str] = field(default_factory=dict)  # hashes found now
    differing: list[list[int]] = field(default_factory=list)  # [start, end) byte ranges, the first 100
    unreadable: list[list[int]] = field(default_factory=list)  # source ranges that failed to read
    problems: list[str] = field(default_factory=list)  # damaged frames, failed reads, in words
    unknown: dict[str, Any] = keep_unknown()


@dataclass
class SessionResult(DictForm):
    """What a job achieved, in bytes and counts; a field is None when the job did not say."""

    rescued: int | None = optional()  # bytes
    size: int | None = optional()  # bytes of the source
    bad: int | None = optional()  # bytes in bad sectors
    pending: int | None = optional()  # bytes still to try
    read_errors: int | None = optional()
    exit_status: int | None = optional()  # the command's exit status (station.core.exits)
    power_cycles: int | None = optional()  # since power-cycle recovery exists
    hashes: dict[str, str] | None = optional()  # whole image, hex, unrescued bytes as zeros: {"sha256": "…"}
    device_log: str | None = optional()  # path of an imager's own log of the job
    image: ImageRecord | None = optional(ImageRecord)  # the image written (format, segment hashes)
    verification: Verification | None = optional(Verification)  # a verification job's finding
    unknown: dict[str, Any] = keep_unknown()


@dataclass
class SmartSnapshot(DictForm):
    """One SMART reading as a session keeps it: the assessment and the compared attributes."""

    taken: float | None = None  # when (time.time())
    smart_status: str | None = None  # "PASSED" or "FAILED" as the drive says; None if it says nothing
    verdict: str = "UNKNOWN"  # GOOD, WARNING, FAILING or UNKNOWN (station.health.assess)
    reasons: list[str] = field(default_factory=list)
    advice: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    source: str | None = optional()  # after the job only: "fresh reading" or which poll stood in
    unknown: dict[str, Any] = keep_unknown()


@dataclass
class SmartRecord(DictForm):
    """SMART around one job: on or off (and why), the baseline, and once it ended, the after."""

    state: str = "off"  # "on" when the baseline was read
    why_off: str | None = None
    device: str | None = None  # the whole disk read, e.g. /dev/sdb
    limits: dict[str, float] | None = None  # the monitor's interval, timeout and thresholds
    before: SmartSnapshot | None = field(default=None, metadata=nested(SmartSnapshot))
    after: SmartSnapshot | None = optional(SmartSnapshot)
    changes: list[str] | None = optional()  # before → after, in words
    polling: dict[str, int] | None = optional()  # polls, deferred, failures
    unknown: dict[str, Any] = keep_unknown()


@dataclass
class TargetCheck(DictForm):
    """A target read back after the write and compared with the image (station.jobs.verify_target)."""

    state: str = "skipped"  # ok, mismatch, failed (could not be read back) or skipped (why in detail)
    algorithm: str | None = None  # e.g. "sha256"
    expected: str | None = None  # the image's digest over what the target must hold (hex)
    actual: str | None = None  # the target's, read back
    expected_from: str | None = None  # "recorded in the image" or "computed while reading the image"
    bad_ranges: list[list[int]] | None = optional()  # [start, end) byte ranges that differ
    checked_bytes: int = 0
    seconds: float | None = None
    detail: str | None = optional()  # why skipped or failed, in words
    unknown: dict[str, Any] = keep_unknown()


@dataclass
class TargetResult(DictForm):
    """One target of a restore or a clone: who it is, what was written, how it ended, whether it checks."""

    path: str = ""
    kind: str = ""  # "block" or "file"
    size: int = 0  # bytes the target holds (a file: what the job made it)
    model: str | None = None
    serial: str | None = None
    state: str = "pending"  # written, failed, stalled (stopped answering), stopped, or dropped (clone)
    bytes_written: int | None = None  # bytes that reached it (zeroed ranges included)
    seconds: float | None = None  # from the first write to the end of its final sync
    error: str | None = optional()  # why it failed, in words
    layout: list[str] | None = optional()  # what was adjusted for it (a GPT moved to its end, ...)
    check: TargetCheck | None = optional(TargetCheck)
    unknown: dict[str, Any] = keep_unknown()


@dataclass
class RestoreRecord(DictForm):
    """Where a restore's data came from and how it was written: the image, the fill, the domain."""

    image: str = ""  # the image's absolute path
    image_format: str = "raw"  # raw or zst
    image_map: str | None = None  # the rescue map read with it (None: none, or the one a sealed zst carries)
    image_size: int = 0
    unrescued: int = 0  # bytes of the image the rescue never read
    fill: str = "zero"  # what unread areas became: zero, skip or marker
    used_only: bool = False
    written_domain: int | None = None  # bytes of the image written (the used blocks with --used-only)
    image_hashes: dict[str, str] | None = optional()  # as the image recorded them (a sealed zst)
    unknown: dict[str, Any] = keep_unknown()


def _unknown_source() -> SourceIdentity:
    return SourceIdentity(path="", kind="", size=0)


@dataclass
class SessionRecord(DictForm):
    """One session: the job, its source and destinations, its state and, once ended, its result."""

    id: str = ""
    kind: str = JobKind.IMAGING  # every record before kinds existed was an imaging job
    state: str = "running"  # running, finished, stopped or failed (see Session.state for interrupted)
    pid: int | None = None  # the process running it, on `host`
    host: str | None = None  # the hostname: the pid means something only there
    started: float | None = None  # time.time()
    ended: float | None = None
    method: str = "engine"  # "engine" (the software engine) or an imager driver's name
    source: SourceIdentity = field(default_factory=_unknown_source, metadata=nested(SourceIdentity))
    destinations: list[str] = field(default_factory=list)  # image files, target drives or ports
    mapfile: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # the method's options (RescueOptions, an imager's)
    command: list[str] = field(default_factory=list)  # the command line that runs it again
    resumed: bool = False  # the mapfile existed: this run went on from it
    reason: str | None = optional()  # why it ended, in words
    result: SessionResult | None = optional(SessionResult)
    drive: dict[str, Any] | None = optional()  # the source drive's identity (station.health.identity)
    smart: SmartRecord | None = optional(SmartRecord)
    hardware: dict[str, Any] | None = optional()  # the station's inventory (station.health.inventory)
    targets: list[TargetResult] | None = optional_list(TargetResult)  # restore and clone: per target
    restore: RestoreRecord | None = optional(RestoreRecord)  # a restore: the image and how it was written
    unknown: dict[str, Any] = keep_unknown()

    @property
    def dest(self) -> str | None:
        """The (first) destination, as one line of a list shows it."""
        return self.destinations[0] if self.destinations else None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Self:
        """Also reads the older forms: one "dest" for the destinations, and the records of
        1dbfc1f..49e849d, whose "host" held the inventory (now "hardware") and lost the hostname."""
        d = dict(d or {})
        if "destinations" not in d:
            dest = d.pop("dest", None)
            d["destinations"] = [dest] if dest else []
        else:
            d.pop("dest", None)  # written with "destinations" for older readers: the first of them
        if isinstance(d.get("host"), dict) and "hardware" not in d:
            d["hardware"], d["host"] = d["host"], None
        return super().from_dict(d)

    def to_dict(self) -> dict[str, Any]:
        """With "dest" (the first destination, or None) always, "destinations" only when several."""
        out = super().to_dict()
        dests = out.pop("destinations")
        out["dest"] = dests[0] if dests else None
        if len(dests) > 1:
            out["destinations"] = dests
        return out

    def result_so_far(self, progress: Progress | None = None) -> SessionResult:
        """Size, rescued, bad and read errors as known now: the result once the job ended, else
        the latest progress (a running session, or one whose process died) where there is one."""
        res = self.result or SessionResult()
        p = progress

        def pick(recorded: int | None, live: int | None) -> int | None:
            return recorded if recorded is not None else live

        return SessionResult(
            size=res.size or (p.size if p else None) or self.source.size or 0,
            rescued=pick(res.rescued, p.rescued if p else None),
            bad=pick(res.bad, p.bad if p else None),
            read_errors=pick(res.read_errors, p.read_errors if p else None),
        )

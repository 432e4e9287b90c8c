"""Events a rescue emits, whatever runs it (the software engine or a hardware imager).

Views (CLI, TUI, reports) and the session log consume these and never ask which method ran.
Each event is a small frozen dataclass with a `kind` and a JSON form; `event_from_dict` reads
the JSON form back, so another process can follow a session through its events.jsonl.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"
    t: float  # seconds since the session started (engine clock)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: `pass_` (a Python name) is written `pass`, as a reader expects it."""
        d = {"kind": self.kind, **asdict(self)}
        if "pass_" in d:
            d["pass"] = d.pop("pass_")
        return d


@dataclass(frozen=True)
class Progress(Event):
    """A snapshot of the counters; later ones replace earlier ones."""

    kind: ClassVar[str] = "progress"
    phase: str
    pass_: int
    pos: int
    size: int
    rescued: int
    non_tried: int
    non_trimmed: int
    non_scraped: int
    bad: int
    bad_areas: int
    read_errors: int
    current_rate: float  # bytes/s over the last second or so
    average_rate: float  # bytes/s since the start of this run
    elapsed: float
    since_last_good: float | None  # seconds since the last successful read (None: none yet)
    remaining: float | None  # estimated seconds, None when unknown

    @property
    def rescued_fraction(self) -> float:
        return self.rescued / self.size if self.size else 1.0


@dataclass(frozen=True)
class PhaseStarted(Event):
    kind: ClassVar[str] = "phase"
    phase: str
    pass_: int
    direction: str  # "forward" or "reverse"


@dataclass(frozen=True)
class StageStarted(Event):
    """An imaging job's next stage: the engine over one domain (files first, ranges asked for first)."""

    kind: ClassVar[str] = "stage"
    stage: str  # priority, metadata, files, used or rest (station.jobs.stages)
    round: int  # metadata and files stages go in rounds: each reads what the last made readable
    ranges: int  # the domain's ranges
    size: int  # the domain's bytes
    pending: int  # of which not yet rescued (bad sectors not counted)


@dataclass(frozen=True)
class ReadFailed(Event):
    kind: ClassVar[str] = "read_error"
    pos: int
    size: int
    error: str
    phase: str


@dataclass(frozen=True)
class ReadHung(Event):
    kind: ClassVar[str] = "read_hung"
    pos: int
    size: int
    timeout: float


@dataclass(frozen=True)
class SourceReopened(Event):
    kind: ClassVar[str] = "reopened"
    reason: str


@dataclass(frozen=True)
class PowerCycled(Event):
    """The source stopped answering and was power-cycled (a relay) and found again; the run goes on."""

    kind: ClassVar[str] = "power_cycled"
    reason: str  # why: the hung read, the vanished device
    cycles: int  # power cycles so far in this run
    detail: str  # how it came back (its name may have changed)


@dataclass(frozen=True)
class MapSaved(Event):
    kind: ClassVar[str] = "map_saved"
    path: str
    fragments: int


@dataclass(frozen=True)
class Paused(Event):
    """The run is held (by the technician, a SMART threshold...) after saving its map."""

    kind: ClassVar[str] = "paused"
    reasons: list[str]


@dataclass(frozen=True)
class Resumed(Event):
    kind: ClassVar[str] = "resumed"


@dataclass(frozen=True)
class SmartPolled(Event):
    """A SMART reading taken while the job runs (station.health.monitor): verdict and counters."""

    kind: ClassVar[str] = "smart"
    verdict: str
    attributes: dict[str, int | None]


@dataclass(frozen=True)
class Notice(Event):
    """Something a technician should read (a warning or a decision the engine took)."""

    kind: ClassVar[str] = "notice"
    message: str


@dataclass(frozen=True)
class ImageStats(Event):
    """How the image is being written: its format, what this run's bytes take in it, the hashing."""

    kind: ClassVar[str] = "image"
    format: str  # raw or zst
    written: int  # bytes the job wrote into the image in this run
    stored: int  # what they take in the file (zst: compressed, with their headers; raw: the same)
    hashed: int  # bytes of the image hashed so far, in order from its start
    size: int  # the image's size
    algorithms: list[str]  # the whole-image hashes being taken (none: empty)

    @property
    def ratio(self) -> float:
        """Stored over written: 0.3 means the image takes 30% of the raw bytes."""
        return self.stored / self.written if self.written else 0.0


@dataclass(frozen=True)
class TaskProgress(Event):
    """A step that is not a rescue (hashing, sealing, verifying, converting): done of total bytes."""

    kind: ClassVar[str] = "task"
    task: str  # in words: "hashing", "sealing", "verifying", "converting"...
    done: int
    total: int


@dataclass(frozen=True)
class TargetState(Event):
    """A target of a restore or clone changed state (writing, failed, verifying, verified...)."""

    kind: ClassVar[str] = "target"
    target: str
    state: str
    detail: str = ""


@dataclass(frozen=True)
class TargetsProgress(Event):
    """Every target's counters, about once a second: dicts of target, state, done, total, rate."""

    kind: ClassVar[str] = "targets"
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class Finished(Event):
    """The run ended; `outcome` is finished, stopped or failed, with the reason (or interrupted: a
    hardware session whose device failed mid-job; its map is saved and a rerun resumes)."""

    kind: ClassVar[str] = "finished"
    outcome: str
    reason: str


_KINDS: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        Progress,
        PhaseStarted,
        StageStarted,
        ReadFailed,
        ReadHung,
        SourceReopened,
        PowerCycled,
        MapSaved,
        Paused,
        Resumed,
        SmartPolled,
        Notice,
        ImageStats,
        TaskProgress,
        TargetState,
        TargetsProgress,
        Finished,
    )  # fmt: skip
}


def event_from_dict(d: dict[str, Any]) -> Event:
    """Rebuild an event from its JSON form (unknown fields are ignored, for newer writers; the
    `pass_` of logs written before it was `pass` is read too)."""
    cls = _KINDS.get(d.get("kind", ""))
    if cls is None:
        raise ValueError(f"unknown event kind {d.get('kind')!r}")
    if "pass" in d:
        d = {**d, "pass_": d["pass"]}
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})

"""What a staged imaging job keeps beside its map, and how others ask it for ranges first.

`MAPFILE.stages.json` (`StageRecord`) says which stage the job is in, the stage's domain (the
map's phase and position are relative to it), the ranges asked for first and not yet read,
and where the stage a priority stage interrupted was.  It is replaced atomically (temp file,
fsync, rename) before the stage it names starts, so a job killed at any instant resumes in the
right stage, in the right place of it.  Only a plain job that nobody asked anything of has no
record: it resumes from its map alone, as before.

"Rescue these first" from another view (the workstation's browse screen, another process) goes
through `request_priority`: with nobody writing the map, the ranges go into the record (the next
run reads them first); while a job holds the map, into a request file `MAPFILE.priority-ID.json`
that the job takes within a second (`take_requests`) and reads at its next safe point.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from station.core.ranges import Range
from station.core.session import write_json_atomic
from station.fs.ranges import merge as merged
from station.media.base import Refused
from station.media.locks import Locked, lock_for_writing

RECORD_SUFFIX = ".stages.json"
REQUEST_INFIX = ".priority-"
VERSION = 1


def record_path(map_path: str) -> str:
    return map_path + RECORD_SUFFIX


def _ranges(v: object) -> list[Range]:
    """Ranges from JSON ([[lo, hi], ...]); ValueError when they are not that."""
    if not isinstance(v, list):
        raise ValueError("ranges must be a list")
    out = []
    for r in v:
        if not (isinstance(r, list) and len(r) == 2 and all(isinstance(x, int) for x in r) and r[0] >= 0):
            raise ValueError(f"bad range {r!r}")
        out.append((r[0], r[1]))
    return merged(out)


@dataclass
class StageRecord:
    """A staged job's place: its stage, the stage's domain, the ranges asked for first."""

    globs: list[str] = field(default_factory=list)  # --files-first's globs ([]: a plain job)
    stage: str = "rest"
    round: int = 0
    domain: list[Range] = field(default_factory=list)  # [] until the stage has one
    covered: list[Range] = field(default_factory=list)  # what earlier rounds of this stage read
    priority: list[Range] = field(default_factory=list)  # asked for first, not yet read
    resume_at: tuple[str, int, int] | None = None  # the interrupted stage's (phase, pass, position)
    notes: list[str] = field(default_factory=list)  # what could not be resolved

    def to_dict(self) -> dict:
        return {
            "version": VERSION,
            "globs": self.globs,
            "stage": self.stage,
            "round": self.round,
            "domain": [list(r) for r in self.domain],
            "covered": [list(r) for r in self.covered],
            "priority": [list(r) for r in self.priority],
            "resume_at": list(self.resume_at) if self.resume_at else None,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, d: dict) -> StageRecord:
        """A record as saved; ValueError when it is not one."""
        at = d.get("resume_at")
        if at is not None and not (isinstance(at, list) and len(at) == 3):
            raise ValueError("bad resume_at")
        return cls(
            globs=[str(g) for g in d.get("globs") or []],
            stage=str(d.get("stage") or "rest"),
            round=int(d.get("round") or 0),
            domain=_ranges(d.get("domain") or []),
            covered=_ranges(d.get("covered") or []),
            priority=_ranges(d.get("priority") or []),
            resume_at=(str(at[0]), int(at[1]), int(at[2])) if at else None,
            notes=[str(n) for n in d.get("notes") or []],
        )

    def save(self, map_path: str) -> None:
        """Replace the record beside the map atomically."""
        write_json_atomic(Path(record_path(map_path)), self.to_dict())


def load_record(map_path: str) -> StageRecord | None:
    """The record beside the map; None if there is none or it cannot be read (a torn or foreign
    file is never trusted: the job then starts its stages over, which only costs time)."""
    try:
        with open(record_path(map_path), encoding="utf-8") as f:
            d = json.load(f)
        return StageRecord.from_dict(d) if isinstance(d, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def _request_paths(map_path: str) -> list[Path]:
    p = Path(map_path)
    prefix = p.name + REQUEST_INFIX
    try:
        names = [e.name for e in os.scandir(p.parent or ".") if e.name.startswith(prefix)]
    except OSError:
        return []
    return [p.with_name(n) for n in sorted(names) if n.endswith(".json")]


def take_requests(map_path: str) -> tuple[list[Range], list[Path]]:
    """The ranges of every request file beside the map, and the files (to remove once the ranges
    are kept in the record).  A file that cannot be read is skipped and removed."""
    ranges: list[Range] = []
    done: list[Path] = []
    for path in _request_paths(map_path):
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            ranges += _ranges(d.get("ranges"))
        except (OSError, ValueError, TypeError, AttributeError):
            pass
        done.append(path)
    return merged(ranges), done


def request_priority(map_path: str, ranges: list[Range]) -> str:
    """Ask the session writing (or to resume) `map_path` to read these ranges first.  Returns what
    happens, in words; Refused when the map is not there or nothing can be written beside it."""
    ranges = merged([(int(lo), int(hi)) for lo, hi in ranges])
    if not ranges:
        raise Refused("nothing to rescue first: the selection has no bytes on the disk")
    if not os.path.exists(map_path):
        raise Refused(f"{map_path}: no such mapfile (no session to add ranges to)")
    try:
        lock = lock_for_writing([map_path], f"a priority request (pid {os.getpid()})")
    except Locked:  # a job holds the map: a request file, taken within a second
        name = f"{map_path}{REQUEST_INFIX}{uuid.uuid4().hex}.json"
        try:
            write_json_atomic(Path(name), {"ranges": [list(r) for r in ranges]})
        except OSError as e:
            raise Refused(f"cannot write beside {map_path}: {e.strerror}") from None
        return "the running session reads them next"
    try:
        rec = load_record(map_path) or StageRecord()
        rec.priority = merged(rec.priority + ranges)
        rec.save(map_path)
    except OSError as e:
        raise Refused(f"cannot write beside {map_path}: {e.strerror}") from None
    finally:
        lock.release()
    return "the session reads them first when it is resumed"

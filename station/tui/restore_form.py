"""The restore/deploy form as values: the images of past sessions, the targets ticked, the typed word.

No Textual here: the screen (screens/restore.py) reads its widgets into a `RestoreForm` and asks
these functions, so the form's rules are tested on their own.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from station.core.record import JobKind
from station.core.session import SessionStore
from station.jobs.drives import Drive
from station.jobs.restore import RestoreSettings


@dataclass(frozen=True)
class ImageChoice:
    """An image a finished session wrote, as the form lists it."""

    path: str
    source: str  # the drive it came from: model and serial, or its path
    size: int
    rescued: int | None
    started: float
    session: str


def history_images(store: SessionStore) -> list[ImageChoice]:
    """Images of finished imaging sessions that are still there (files, not drives), newest first."""
    out: dict[str, ImageChoice] = {}
    for s in sorted(store.list(), key=lambda s: s.record.started or 0, reverse=True):
        r = s.record
        if r.kind != JobKind.IMAGING or s.state != "finished" or not r.dest:
            continue
        try:
            if not stat.S_ISREG(os.stat(r.dest).st_mode):
                continue
        except OSError:
            continue
        who = " ".join(x for x in (r.source.model, r.source.serial) if x) or r.source.path
        rescued = r.result.rescued if r.result else None
        out.setdefault(r.dest, ImageChoice(r.dest, who, r.source.size, rescued, r.started or 0, s.id))
    return list(out.values())


@dataclass(frozen=True)
class RestoreForm:
    """What the technician picked."""

    image: str | None = None
    targets: tuple[str, ...] = ()  # paths of the ticked drives
    fill: str = "zero"
    used_only: bool = False
    verify: bool = True


@dataclass(frozen=True)
class RestorePlan:
    """What `prepare_restore` is asked for, and the word typed to confirm it."""

    image: str
    targets: list[Drive]
    settings: RestoreSettings
    word: str
    command: list[str] = field(default_factory=list)

    def warning(self) -> str:
        """The key words first: what will be overwritten, with what (a dialog wraps the rest)."""
        names = ", ".join(f"{d.path} ({d.label})" for d in self.targets)
        return f"{names} will be overwritten with {os.path.basename(self.image)}: everything on them is lost"


def tickable(d: Drive) -> str | None:
    """Why a drive cannot be a target (None: it can)."""
    if d.kind != "block":
        return "only drives of this machine can be written"
    if d.protected:
        return d.protected[0]
    return None


def restore_plan(form: RestoreForm, drives: list[Drive]) -> RestorePlan:
    """The restore the form stands for; ValueError names what is missing, in the form's order."""
    if not form.image:
        raise ValueError("pick an image")
    picked = [d for d in drives if d.path in form.targets]
    if not picked:
        raise ValueError("tick at least one target drive")
    for d in picked:
        why = tickable(d)
        if why:
            raise ValueError(f"{d.path} cannot be a target: {why}")
    settings = RestoreSettings(fill=form.fill, used_only=form.used_only, verify=form.verify, force=True)
    word = " ".join(d.name or os.path.basename(d.path) for d in picked)
    flags = [f"--fill={form.fill}"] + ["--used-only"] * form.used_only + ["--no-verify"] * (not form.verify)
    command = ["station", "restore", form.image, *(d.path for d in picked), *flags, "--force"]
    return RestorePlan(form.image, picked, settings, word, command)

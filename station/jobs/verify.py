"""Verification as a job: an image checked against its recorded hashes, or against its source.

Each check is a session of its own (kind "verification"), so the catalog and the reports find
when an image was checked, how, and what was found (`Verification` in the session's result).
The image is only read, but the job claims the image's writer lock all the same: an image
being written cannot be verified, and nothing can write it while it is.

`prepare_verify` refuses bad input (one line, nothing created): no such image, a working zst
image (not sealed: nothing recorded), a raw image without its hashes file, a malformed map, a
source that cannot be opened or whose size is not the image's.  Damage found in the image (a
frame that fails its checksum, a truncated file) is a finding, never a refusal: the session
records it as a mismatch naming the chunk and byte range.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field

from station.core.events import Notice
from station.core.exits import EXIT_OK, EXIT_STOPPED
from station.core.record import JobKind, SessionRecord, Verification
from station.core.session import SessionStore
from station.images.errors import ImageCorrupt
from station.images.formats import image_format, open_image
from station.images.layout import INDEX_SUFFIX
from station.images.reader import ImageReader
from station.images.verify import HASHES_SUFFIX, VerifyResult, verify_against_source, verify_image
from station.images.zstreader import ZstImageReader
from station.jobs.lifecycle import Ending, JobRun, Lifecycle, StopRequested, read_map, starting_holder
from station.media.base import Refused, Source, SourceIdentity
from station.media.locks import lock_for_writing
from station.rescue.rescuemap import RescueMap, Status

RANGES_KEPT = 100  # differing ranges a record keeps (the count is always whole)


@dataclass(kw_only=True)
class VerifyJob(Lifecycle):
    """A check of one image: `source` None checks its recorded hashes, else re-reads the source."""

    kind = JobKind.VERIFICATION
    image: str
    source: Source | None = None
    hashes_path: str | None = None  # a raw image's hashes file, if not IMAGE.hashes.json
    identity: SourceIdentity | None = None  # the record's source: the image verified
    verification: Verification | None = field(default=None, init=False)

    def open(self) -> None:
        """Nothing to take: the image is read (and locked), never written."""

    def describe(self) -> SessionRecord:
        """The record's source is the image verified (as the catalog reads a verification); a
        source drive compared with is `options.against`."""
        assert self.identity is not None
        options = {"image": os.path.abspath(self.image)}
        if self.source is not None:
            options["against"] = os.path.abspath(self.source.identity.path)
        return SessionRecord(
            method=f"verify ({'hashes' if self.source is None else 'source'})",
            source=self.identity,
            destinations=[],
            options=options,
        )

    def work(self, run: JobRun) -> Ending:
        started = time.time()
        run.emit(Notice(run.t(), f"verifying {self.image} against its {self._against()}"))
        try:
            result = self._check(run.task("verifying"))
        except StopRequested:
            return Ending("stopped", "verification stopped before its end")
        v = self.verification = _record(self.image, result, self._against(), self.source, started)
        run.emit(Notice(run.t(), f"{v.outcome}: {result.summary()}"))
        status = EXIT_OK if v.outcome == "match" else EXIT_STOPPED  # as `station verify` exits
        return Ending("finished", f"verification: {v.outcome}", verification=v, exit_status=status)

    def _against(self) -> str:
        return "recorded hashes" if self.source is None else "source"

    def _check(self, progress) -> VerifyResult:
        try:
            if self.source is None:
                return verify_image(self.image, self._map(), progress, hashes_path=self.hashes_path)
            with open_image(self.image, self.map_path or None) as reader:
                return verify_against_source(reader, self.source, self._map_of(reader), progress)
        except ImageCorrupt as e:  # damage found where the image could not even be opened
            return VerifyResult(False, bad_ranges=[(e.start, e.end)], problems=[str(e)])

    def _map(self) -> RescueMap | None:
        return self.rmap if self.map_path else None

    def _map_of(self, reader: ImageReader) -> RescueMap | None:
        return self.rmap if self.map_path else reader.rescue_map

    def close(self) -> None:
        if self.source is not None:
            self.source.close()

    def writes(self) -> list[str]:
        return _locked(self.image, self.map_path)

    @property
    def outcome(self) -> str | None:
        return self.verification.outcome if self.verification is not None else None


def _record(image: str, r: VerifyResult, against: str, source: Source | None, started: float) -> Verification:
    outcome = "match" if r.ok else ("incomplete" if r.unreadable_ranges and not r.bad_ranges else "mismatch")
    return Verification(
        image=os.path.abspath(image),
        against="hashes" if source is None else "source",
        outcome=outcome,
        checked=r.checked_bytes,
        at=time.time(),
        source=os.path.abspath(source.identity.path) if source is not None else None,
        expected=dict(r.expected),
        actual=dict(r.actual),
        differing=[[a, b] for a, b in r.bad_ranges[:RANGES_KEPT]],
        unreadable=[[a, b] for a, b in r.unreadable_ranges[:RANGES_KEPT]],
        problems=list(r.problems[:RANGES_KEPT]),
        unknown={"started": started, "differing_count": len(r.bad_ranges)},
    )


def _locked(image: str, map_path: str) -> list[str]:
    """What a verification holds so that nothing writes it meanwhile: the image, its index, its map."""
    side = [image + INDEX_SUFFIX] if image_format(image) == "zst" else []
    return [image, *side, *([map_path] if map_path else [])]


def _image_identity(image: str, size: int) -> SourceIdentity:
    """The image as the record's source: what a hash verification reads (a file, or a drive cloned to)."""
    kind = "block" if stat.S_ISBLK(os.stat(image).st_mode) else "file"
    return SourceIdentity(path=os.path.abspath(image), kind=kind, size=size)


def _load_map(map_path: str | None, image: str) -> tuple[str, RescueMap | None]:
    """(the mapfile to record, the map) as verify reads the image: given, a sealed zst's own, IMAGE.map."""
    if map_path is None and image_format(image) == "raw" and os.path.exists(image + ".map"):
        map_path = image + ".map"
    if map_path is None:
        return "", None
    return map_path, read_map(map_path)


def _check_image(image: str, against: str | None, hashes_path: str | None) -> None:
    """Refusals that need only the image: it exists, it is sealed, its hashes are recorded."""
    try:
        mode = os.stat(image).st_mode
    except OSError as e:
        raise Refused(f"image {image}: {(e.strerror or str(e)).lower()}") from None
    if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):  # a drive cloned to verifies as a raw image
        raise Refused(f"image {image}: is neither a file nor a drive")
    if image_format(image) == "zst":
        try:
            with ZstImageReader(image) as r:
                sealed = r.sealed
        except ImageCorrupt:
            return  # damage is a finding: the job reports it
        if not sealed and against is None:
            raise Refused(f"{image}: a working image, not sealed: nothing recorded to verify against "
                          "(station seal seals it)")  # fmt: skip
    elif against is None:
        where = hashes_path or image + HASHES_SUFFIX
        if not os.path.exists(where):
            raise Refused(f"{image}: no recorded hashes ({where} is missing; try --against SOURCE)")


def prepare_verify(
    image: str,
    map_path: str | None = None,
    *,
    against: str | None = None,
    hashes_path: str | None = None,
    command: list[str] | None = None,
    store: SessionStore | None = None,
) -> VerifyJob:
    """A verification job, checked (Refused: one line, nothing created); `run` does the check."""
    from station.media.source import open_source

    _check_image(image, against, hashes_path)
    map_path, rmap = _load_map(map_path, image)
    command = command if command is not None else ["station", "verify", image]
    lock = lock_for_writing(_locked(image, map_path), starting_holder(command))
    source: Source | None = None
    try:
        with open_image(image, map_path or None) as reader:
            size = reader.size
            if rmap is None:
                rmap = reader.rescue_map
        if against is not None:
            source = open_source(against)
            if source.size != size:
                raise Refused(f"{against} holds {source.size} bytes, the image {size}: not its source")
    except ImageCorrupt:
        size = os.path.getsize(image)  # the job records the damage
    except ValueError as e:  # a map of another size, a mapfile the reader refuses
        _give_up(lock, source)
        raise Refused(str(e)) from None
    except OSError as e:
        _give_up(lock, source)
        raise Refused(f"{against or image}: {(e.strerror or str(e)).lower()}") from None
    except BaseException:
        _give_up(lock, source)
        raise
    job = VerifyJob(
        map_path=map_path, rmap=rmap or RescueMap(size, Status.FINISHED), new_map=False, command=command,
        store=store, image=image, source=source, hashes_path=hashes_path,
        identity=_image_identity(image, size),
    )  # fmt: skip
    job.hold(lock)
    return job


def _give_up(lock, source: Source | None) -> None:
    if source is not None:
        source.close()
    lock.release()

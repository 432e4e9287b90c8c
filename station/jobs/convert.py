"""Conversion as a job: raw + map to a sealed zst image and back, or an export to E01.

Each conversion is a session (kind "conversion") with progress events, so the catalog finds
where an image came from.  The input is only read (and locked, so that nothing writes it
meanwhile); the output must not exist yet, and is removed again if the job stops or fails
before its end, so that a conversion leaves a whole image or nothing.

A raw image converted to zst is hashed and sealed with its map (unrescued bytes as zeros), and
with the source the session store knows for it.  A sealed zst converted to raw writes its map
beside it and its recorded hashes as OUT.hashes.json, so `station verify OUT` works at once.
An E01 export goes through libewf's ewfacquirestream with the case fields.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

from station.core.events import Notice
from station.core.record import ImageRecord, JobKind, SessionRecord
from station.core.session import SessionStore
from station.images.convert import CaseFields, export_e01, raw_to_zst, zst_to_raw
from station.images.errors import ImageCorrupt
from station.images.formats import image_format, open_image
from station.images.hashing import DEFAULT_ALGORITHMS, ImageHashes
from station.images.layout import INDEX_SUFFIX
from station.images.seal import sealing_path
from station.images.verify import HASHES_SUFFIX, record_raw_hashes
from station.images.zstreader import ZstImageReader
from station.images.zstsink import DEFAULT_CHUNK
from station.jobs.lifecycle import Ending, JobRun, Lifecycle, StopRequested, read_map, starting_holder
from station.jobs.seal import recorded_source
from station.media.base import Refused, SourceIdentity
from station.media.locks import lock_for_writing
from station.media.safety import check_not_source
from station.rescue.rescuemap import RescueMap, Status

TARGETS = ("zst", "raw", "e01")


def target_for(out: str, given: str | None = None) -> str:
    """What OUT is to be: given, else by its extension (.zst, .E01), else raw."""
    if given is not None:
        if given not in TARGETS:
            raise Refused(f"unknown format {given!r} (choose from {', '.join(TARGETS)})")
        return given
    low = out.lower()
    return "zst" if low.endswith(".zst") else "e01" if low.endswith(".e01") else "raw"


def outputs(out: str, to: str, out_map: str | None) -> list[str]:
    """Every file the conversion creates (each refused if it exists, locked, removed on failure)."""
    if to == "zst":
        return [out, out + INDEX_SUFFIX, sealing_path(out)]
    if to == "raw":
        return [out, out_map or out + ".map", out + HASHES_SUFFIX]
    base = out[:-4] if out.upper().endswith(".E01") else out
    return [base + ".E01"]


@dataclass(kw_only=True)
class ConvertJob(Lifecycle):
    """One image written again: `to` zst, raw (+ map) or e01."""

    kind = JobKind.CONVERSION
    image: str
    out: str
    to: str
    out_map: str | None = None
    identity: SourceIdentity | None = None  # the input image as the record's source
    drive: SourceIdentity | None = None  # the drive the image came from, if the store knows it
    case: CaseFields = field(default_factory=CaseFields)
    hashes: tuple[str, ...] = DEFAULT_ALGORITHMS

    def open(self) -> None:
        """Nothing to take here: the output is created by the conversion itself."""

    def describe(self) -> SessionRecord:
        assert self.identity is not None
        options = {"image": os.path.abspath(self.image), "to": self.to}
        if self.to == "e01":
            options["case"] = vars(self.case)
        return SessionRecord(
            method=f"convert ({image_format(self.image)} → {self.to})",
            source=self.identity,
            destinations=[os.path.abspath(p) for p in outputs(self.out, self.to, self.out_map)[:1]],
            options=options,
        )

    def work(self, run: JobRun) -> Ending:
        try:
            record, hashes = self._convert(run.task("converting"))
        except StopRequested:
            self._remove_outputs()
            return Ending("stopped", "conversion stopped; its partial output removed")
        except (OSError, ImageCorrupt, Refused) as e:
            self._remove_outputs()
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            run.emit(Notice(run.t(), f"conversion failed: {why}"))
            return Ending("failed", f"conversion failed: {why}")
        except BaseException:
            self._remove_outputs()
            raise
        run.emit(Notice(run.t(), f"wrote {record.path}"))
        return Ending("finished", f"converted to {self.to}: {record.path}", hashes=hashes, image=record)

    def _convert(self, progress) -> tuple[ImageRecord, dict[str, str] | None]:
        mp = self.map_path or None
        if self.to == "zst":
            r = raw_to_zst(
                self.image, self.out, mp, identity=self.drive, algorithms=self.hashes, progress=progress
            )
            path = os.path.abspath(self.out)
            record = ImageRecord(
                path, "zst", sealed=True, file_size=r.file_size, segment_size=DEFAULT_CHUNK,
                segments=f"{path} (STSG frame)",
            )  # fmt: skip
            return record, r.hashes or None
        if self.to == "raw":
            zst_to_raw(self.image, self.out, self.out_map, mp, progress)
            return self._raw_record()
        path = export_e01(self.image, self.out, self.case, map_path=mp, progress=progress)
        return ImageRecord(os.path.abspath(path), "e01", file_size=os.path.getsize(path)), None

    def _raw_record(self) -> tuple[ImageRecord, dict[str, str] | None]:
        """The raw output's record.  A sealed input's recorded hashes go beside it: they are its
        hashes, unless another map than the image's own was given (it reads other bytes as zeros)."""
        path = os.path.abspath(self.out)
        with ZstImageReader(self.image) as r:
            meta = r.metadata or {}
            segments = r.segment_digests() if meta.get("hashes") else None
            if not segments or self.map_path:
                return ImageRecord(path, "raw"), None
            hashes = ImageHashes(dict(meta["hashes"]), r.chunk_size, segments)
        where = os.path.abspath(record_raw_hashes(self.out, hashes))
        return ImageRecord(path, "raw", segment_size=hashes.segment_size, segments=where), hashes.whole

    def _remove_outputs(self) -> None:
        """Only what this job created: every output was refused if it existed before."""
        for p in outputs(self.out, self.to, self.out_map):
            for q in glob.glob(glob.escape(p[:-2]) + "[0-9A-Z][0-9A-Z]") if self.to == "e01" else [p]:
                try:
                    os.unlink(q)
                except FileNotFoundError:
                    pass

    def close(self) -> None:
        """Nothing held but the locks (the lifecycle lets them go)."""

    def writes(self) -> list[str]:
        return [self.image, *outputs(self.out, self.to, self.out_map)]


def prepare_convert(
    image: str,
    out: str,
    *,
    to: str | None = None,
    map_path: str | None = None,
    out_map: str | None = None,
    case: CaseFields | None = None,
    hashes: tuple[str, ...] = DEFAULT_ALGORITHMS,
    command: list[str] | None = None,
    store: SessionStore | None = None,
) -> ConvertJob:
    """A conversion, checked (Refused: one line, nothing created); `run` converts."""
    to = target_for(out, to)
    if not os.path.isfile(image):
        raise Refused(f"image {image}: {'is not a file' if os.path.exists(image) else 'no such file'}")
    fmt = image_format(image)
    if fmt == to:
        raise Refused(f"{image} is a {fmt} image already (name OUT .zst, .E01 or give --to)")
    if to == "raw" and fmt != "zst":
        raise Refused(f"{image}: only a zst image converts to raw")
    if to == "e01" and not _has_ewf():
        raise Refused("export to E01 needs ewfacquirestream (Debian: apt-get install ewf-tools)")
    made = outputs(out, to, out_map)
    for p in made:
        if os.path.lexists(p):
            raise Refused(f"{p} exists: refusing to overwrite it")
        parent = os.path.dirname(os.path.abspath(p))
        if not os.path.isdir(parent):
            raise Refused(f"{p}: no such directory {parent}")
    identity = SourceIdentity(path=os.path.abspath(image), kind="file", size=os.path.getsize(image))
    for p in made:
        check_not_source(identity, p, role="output")
    rmap = read_map(map_path) if map_path is not None else None
    command = command if command is not None else ["station", "convert", image, out]
    lock = lock_for_writing([image, *made], starting_holder(command))
    try:
        with open_image(image, map_path) as r:
            size, seen = r.size, r.rescue_map
    except (ImageCorrupt, ValueError, OSError) as e:
        lock.release()
        raise Refused(str(e)) from None
    drive, _ = recorded_source(image, store) if fmt == "raw" else (None, None)
    job = ConvertJob(
        map_path=map_path or "", rmap=rmap or seen or RescueMap(size, Status.FINISHED), new_map=False,
        command=command, store=store, image=image, out=out, to=to, out_map=out_map, identity=identity,
        drive=drive, case=case or CaseFields(), hashes=hashes,
    )  # fmt: skip
    job.hold(lock)
    return job


def _has_ewf() -> bool:
    import shutil

    return shutil.which("ewfacquirestream") is not None

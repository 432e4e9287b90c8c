"""Where an imaging job's bytes go, raw or zst, and what becomes of the image when the rescue ends.

`ImageSpec` is what the technician chose (the format, the hashes).  `check_output` refuses,
before anything is created, what cannot work: a zst image on a drive, a file of another kind or
size under the zst image's name, a side file (the zst index, the raw hashes) that is the source
under another name.  `open_output` opens the sink and what follows it:

* raw: station.media.sink's LocalSink (the engine may copy into it in the kernel), and a
  `RawImageHasher` that hashes, from the image, the prefix the map calls finished while the
  rescue goes on; when the rescue finishes the rest is read back and the hashes are written to
  IMAGE.hashes.json (a drive's beside its mapfile);
* zst: station.images' ZstImageSink, which hashes as it writes; a finished rescue is sealed.

Neither reads the source again: only the image.  `OutputWatch` is the engine's emit callback
for the job: it feeds the raw hasher at each progress (on the engine's thread, where the map
cannot change), adds an `ImageStats` event a second, and holds the engine's `Finished` back
until the image is sealed or hashed, so that `Finished` stays the last event of the session.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from station.core.events import Event, Finished, ImageStats, Notice, Progress
from station.core.record import ImageRecord
from station.core.safeopen import open_to_write
from station.images.errors import ImageCorrupt
from station.images.frames import FILE_HEADER_SIZE, FileHeader, FormatError
from station.images.hashing import DEFAULT_ALGORITHMS, RawImageHasher
from station.images.layout import INDEX_SUFFIX
from station.images.seal import sealing_path
from station.images.verify import HASHES_SUFFIX, record_raw_hashes
from station.images.zstreader import ZstImageReader
from station.images.zstsink import ZstImageSink, open_image_sink
from station.media.base import Refused, Sink, SourceIdentity
from station.media.safety import check_not_source, check_opened
from station.rescue.rescuemap import RescueMap, Status

if TYPE_CHECKING:
    from station.jobs.lifecycle import Ending, JobRun

IMAGE_FORMATS = ("raw", "zst")
STATS_EVERY = 1.0  # seconds (engine clock) between ImageStats events


@dataclass(frozen=True)
class ImageSpec:
    """The image as chosen: its format, its whole-image hashes, and whether to start it afresh."""

    format: str = "raw"
    hashes: tuple[str, ...] = DEFAULT_ALGORITHMS
    fresh: bool = False  # --force over a file that is not a Station zst image: start the file over


def format_for(dest: str, given: str | None = None) -> str:
    """The format asked for, else the destination's extension's (.zst), else raw."""
    if given is None:
        return "zst" if dest.lower().endswith(".zst") else "raw"
    if given not in IMAGE_FORMATS:
        raise Refused(f"unknown image format {given!r} (choose from {', '.join(IMAGE_FORMATS)})")
    return given


def _is_drive(path: str) -> bool:
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


def _has_bytes(path: str) -> bool:
    """A regular file with something in it; one stat, so a path that changes under us (a file
    removed, a symlink flipped) is an answer, not an exception."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size > 0


def hashes_file(dest: str, map_path: str) -> str:
    """Where a raw image's hashes go: beside the image, or beside the mapfile for a drive."""
    return (map_path if _is_drive(dest) else dest) + HASHES_SUFFIX


def side_files(dest: str, map_path: str, spec: ImageSpec) -> list[str]:
    """Every file besides the image and its map that the job writes (each locked and checked)."""
    if spec.format == "zst":
        return [dest + INDEX_SUFFIX, sealing_path(dest)]
    return [hashes_file(dest, map_path)] if spec.hashes else []


def _zst_header(path: str) -> FileHeader | None:
    """A Station zst image's header, or None for anything else (a missing file too)."""
    try:
        with open(path, "rb") as f:
            return FileHeader.unpack(f.read(FILE_HEADER_SIZE))
    except (OSError, FormatError):
        return None


def carried_map(dest: str, spec: ImageSpec, map_path: str, force: bool) -> RescueMap | None:
    """A sealed zst image's own map, to resume from when its mapfile is gone (an image moved
    without it); None otherwise, and with --force, which starts the image over."""
    if spec.format != "zst" or force or os.path.exists(map_path) or _zst_header(dest) is None:
        return None
    try:
        with ZstImageReader(dest) as r:
            return r.rescue_map if r.sealed else None
    except (OSError, ValueError):  # damaged: refused as any image without its map
        return None


def check_output(
    dest: str,
    map_path: str,
    spec: ImageSpec,
    size: int,
    *,
    force: bool,
    source: SourceIdentity,
    resuming: bool | None = None,
) -> ImageSpec:
    """Refuse (one line, nothing changed) an image that cannot be written as `spec` says; the
    spec to open it with (`fresh` when --force is to start an existing file over).  `resuming`:
    there is a map to go on from (default: the mapfile exists)."""
    drive = _is_drive(dest)
    exists = drive or _has_bytes(dest)
    header = _zst_header(dest) if exists and not drive else None
    resuming = os.path.exists(map_path) if resuming is None else resuming
    if spec.format == "zst":
        if drive:
            raise Refused(f"refusing: {dest} is a drive; a zst image is a file (clone onto a drive raw)")
        if exists and header is None and (resuming or not force):
            raise Refused(
                f"refusing: {dest} exists and is not a Station zst image"
                + (" (--format raw images into it)" if resuming else " (--force overwrites it)")
            )
        if header is not None and resuming and header.image_size != size:
            raise Refused(
                f"refusing: {dest} holds an image of {header.image_size} bytes, not the source's {size}"
            )
    elif header is not None and not force:
        raise Refused(f"refusing: {dest} is a Station zst image (--format zst images into it)")
    for path in side_files(dest, map_path, spec):
        check_not_source(source, path, role="side file")
    fresh = spec.format == "zst" and exists and not resuming
    return ImageSpec(spec.format, spec.hashes, fresh)


class ImageOutput:
    """A job's sink and what follows it; see RawOutput and ZstOutput."""

    format = "raw"
    sink: Sink

    def __init__(self, dest: str) -> None:
        self.dest = dest

    def follow(self, rmap: RescueMap) -> None:
        """Called at each progress, on the engine's thread (the map cannot change meanwhile)."""

    def stats(self, t: float, rescued_now: int) -> ImageStats:
        raise NotImplementedError

    def finish(self, rmap: RescueMap, extra: dict, run: JobRun) -> tuple[ImageRecord, dict[str, str] | None]:
        """The image of a finished rescue made final (hashed, sealed), with `run`'s TaskProgress
        events; its record and hashes.  Not stopped halfway: a stop asked now waits for it."""
        raise NotImplementedError

    def left(self) -> ImageRecord:
        """What a rescue that did not finish leaves: an image to resume."""
        return ImageRecord(os.path.abspath(self.dest), self.format)

    def close(self) -> None:
        self.sink.close()


class RawOutput(ImageOutput):
    """A raw image file or a drive, hashed from the image itself."""

    def __init__(self, dest: str, sink: Sink, size: int, hashes: tuple[str, ...], hashes_at: str) -> None:
        super().__init__(dest)
        self.sink = sink
        self.size = size
        self.hashes_at = hashes_at
        self.algorithms = hashes
        self.rescued_at_start: int | None = None
        self.hasher = RawImageHasher(dest, size, hashes) if hashes else None

    def follow(self, rmap: RescueMap) -> None:
        if self.hasher is not None:
            self.hasher.reached(finished_prefix(rmap, self.hasher.target))

    def stats(self, t: float, rescued_now: int) -> ImageStats:
        if self.rescued_at_start is None:
            self.rescued_at_start = rescued_now
        written = rescued_now - self.rescued_at_start
        hashed = self.hasher.done if self.hasher is not None else 0
        return ImageStats(t, "raw", written, written, hashed, self.size, list(self.algorithms))

    def finish(self, rmap: RescueMap, extra: dict, run: JobRun) -> tuple[ImageRecord, dict[str, str] | None]:
        if self.hasher is None:
            return self.left(), None
        hashes = self.hasher.finish(rmap, run.task("hashing", stoppable=False))
        where = record_raw_hashes(self.dest, hashes, self.hashes_at)
        path, segments = os.path.abspath(self.dest), os.path.abspath(where)
        return ImageRecord(path, "raw", segment_size=hashes.segment_size, segments=segments), hashes.whole

    def close(self) -> None:
        if self.hasher is not None:
            self.hasher.close()
        super().close()


class ZstOutput(ImageOutput):
    """A zst image: hashed as it is written, sealed when the rescue finishes."""

    format = "zst"

    def __init__(self, dest: str, sink: ZstImageSink) -> None:
        super().__init__(dest)
        self.sink = self.zst = sink

    def stats(self, t: float, rescued_now: int) -> ImageStats:
        z = self.zst
        s = z.stats
        return ImageStats(t, "zst", s.raw_written, s.compressed, z.hashed_bytes, z.size, list(z.algorithms))

    def finish(self, rmap: RescueMap, extra: dict, run: JobRun) -> tuple[ImageRecord, dict[str, str] | None]:
        r = self.zst.seal(rmap, extra=extra, progress=run.task("sealing", stoppable=False))
        record = ImageRecord(
            os.path.abspath(self.dest), "zst", sealed=True, file_size=r.file_size,
            segment_size=self.zst.chunk_size, segments=f"{os.path.abspath(self.dest)} (STSG frame)",
        )  # fmt: skip
        return record, r.hashes or None

    def left(self) -> ImageRecord:
        try:
            size = os.path.getsize(self.dest)
        except OSError:
            size = None
        return ImageRecord(os.path.abspath(self.dest), "zst", sealed=False, file_size=size)


def finished_prefix(rmap: RescueMap, pos: int) -> int:
    """The end of the run of finished blocks that starts at or before `pos` (pos itself if none)."""
    while pos < rmap.size:
        b = rmap.block_at(pos)
        if b.status != Status.FINISHED:
            break
        pos = b.end
    return pos


def open_output(dest: str, size: int, source: SourceIdentity, spec: ImageSpec, map_path: str) -> ImageOutput:
    """The sink for `spec`, after check_output; Refused (one line) if it cannot be opened."""
    if spec.format == "raw":
        from station.media.sink import open_sink

        try:
            sink = open_sink(dest, size=size, create=True, source=source)
        except OSError as e:
            raise Refused(f"cannot open destination {dest}: {e.strerror}") from None
        try:
            return RawOutput(dest, sink, size, spec.hashes, hashes_file(dest, map_path))
        except OSError as e:
            sink.close()
            raise Refused(f"cannot read back {dest} to hash it: {e.strerror}") from None
    check_not_source(source, dest)
    if spec.fresh:  # checked: --force over a file that is not ours, or ours with no map to resume
        _truncate(dest, source)
        for stale in (dest + INDEX_SUFFIX,):
            if os.path.exists(stale):
                os.unlink(stale)
    try:
        return ZstOutput(dest, open_image_sink(dest, size, source, algorithms=spec.hashes))
    except ImageCorrupt as e:
        raise Refused(f"{e} (a damaged image: convert or move it away to start over)") from None
    except OSError as e:
        raise Refused(f"cannot open destination {dest}: {e.strerror or e}") from None


def _truncate(dest: str, source: SourceIdentity) -> None:
    """Empty the file at dest: the file opened, checked not to be the source (fstat), then
    truncated; never the name checked a moment ago, which a symlink may have replaced."""
    try:
        fd, _ = open_to_write(dest, os.O_WRONLY)
    except OSError as e:
        raise Refused(f"cannot open destination {dest}: {e.strerror or e}") from None
    try:
        check_opened(source, fd, dest)
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)


class OutputWatch:
    """The engine's emit for an imaging job: the output follows the map, and Finished waits."""

    def __init__(self, run: JobRun, output: ImageOutput) -> None:
        self.run, self.output = run, output
        self.held: Finished | None = None
        self._next_stats = 0.0
        self._last: Progress | None = None

    def __call__(self, e: Event) -> None:
        if isinstance(e, Finished):
            self.held = e
            return
        self.run.emit(e)
        if isinstance(e, Progress):
            self._last = e
            if e.t >= self._next_stats:
                self._next_stats = e.t + STATS_EVERY
                self.run.emit(self.output.stats(e.t, e.rescued))

    def follow(self, rmap: RescueMap) -> Callable[[Event], None]:
        """This emit, feeding the output the map at each progress first."""

        def emit(e: Event) -> None:
            if isinstance(e, Progress):
                self.output.follow(rmap)
            self(e)

        return emit

    def end(self, ending: Ending, rmap: RescueMap, extra: dict) -> Ending:
        """Seal or hash a finished rescue's image, then the held Finished (or the new outcome)."""
        out = self.output
        record = out.left()
        if ending.outcome == "finished":
            try:
                record, hashes = out.finish(rmap, extra, self.run)
            except (OSError, ImageCorrupt) as e:
                what = "sealing" if out.format == "zst" else "hashing"
                why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
                self.run.emit(Notice(self.run.t(), f"{what} failed: {why}"))
                ending = replace(
                    ending, outcome="stopped",
                    reason=f"rescue finished, but {what} the image failed ({why}); rerun to try again",
                )  # fmt: skip
            else:
                ending = replace(ending, hashes=hashes, reason=ending.reason + _done_words(out, record))
                if hashes:
                    said = ", ".join(f"{a} {h}" for a, h in hashes.items())
                    self.run.emit(Notice(self.run.t(), f"image hashes: {said}"))
        if self._last is not None:
            self.run.emit(out.stats(self.run.t(), self._last.rescued))
        self.run.emit(Finished(self.run.t(), ending.outcome, ending.reason))
        return replace(ending, image=record)


def _done_words(out: ImageOutput, record: ImageRecord) -> str:
    if out.format == "zst":
        return f"; image sealed ({record.file_size} bytes)"
    return "; image hashed" if record.segments else ""

"""Converting images: raw + map to zst and back, and export to E01 for forensic tools.

Both directions go through the readers and the zst sink, so a converted image hashes as the
map reads it (unrescued bytes as zeros) and carries the same mapfile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from station.images.formats import open_image
from station.images.hashing import DEFAULT_ALGORITHMS
from station.images.seal import SealResult
from station.images.zstsink import DEFAULT_CHUNK, DEFAULT_LEVEL, open_image_sink
from station.media.base import Refused, SourceIdentity
from station.rescue.mapfile import format_mapfile, write_mapfile

Progress = Callable[[int, int], None]


def _refuse_existing(path: str) -> None:
    if os.path.exists(path):
        raise Refused(f"{path} exists: refusing to overwrite it")


def raw_to_zst(
    raw_path: str,
    out: str,
    map_path: str | None = None,
    *,
    identity: SourceIdentity | None = None,
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS,
    chunk_size: int = DEFAULT_CHUNK,
    level: int = DEFAULT_LEVEL,
    progress: Progress | None = None,
) -> SealResult:
    """A raw image (and its map: given, or RAW.map) as a sealed zst image at `out`."""
    _refuse_existing(out)
    with open_image(raw_path, map_path) as r:
        m = r.rescue_map
        sink = open_image_sink(
            out, r.size, identity, chunk_size=chunk_size, algorithms=algorithms, level=level
        )
        try:
            step = max(chunk_size, (8 << 20) // chunk_size * chunk_size)
            for pos in range(0, r.size, step):
                sink.write_at(pos, memoryview(r.read(pos, step)))
                if progress is not None:
                    progress(min(pos + step, r.size), r.size)
            return sink.seal(m, extra={"converted_from": os.path.abspath(raw_path)})
        except BaseException:
            sink.close()
            raise


def zst_to_raw(
    zst_path: str,
    out: str,
    out_map: str | None = None,
    map_path: str | None = None,
    progress: Progress | None = None,
) -> str | None:
    """A zst image as a sparse raw file at `out`, its map written to `out_map` (default OUT.map).

    Returns the mapfile written, or None when the image has no map.
    """
    _refuse_existing(out)
    with open_image(zst_path, map_path) as r:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            os.ftruncate(fd, r.size)
            step = 8 << 20
            for pos in range(0, r.size, step):
                data = r.read(pos, step)
                if data.count(0) != len(data):  # all-zero pieces stay holes
                    view = memoryview(data)
                    while view:
                        view = view[os.pwrite(fd, view, pos + len(data) - len(view)) :]
                if progress is not None:
                    progress(min(pos + step, r.size), r.size)
            os.fsync(fd)
        finally:
            os.close(fd)
        if r.rescue_map is None:
            return None
        target = out_map or out + ".map"
        write_mapfile(target, r.rescue_map)
        return target


@dataclass(frozen=True)
class CaseFields:
    """What an E01 header records about the case (ewfacquirestream's -C -D -E -e -N)."""

    case_number: str = ""
    evidence_number: str = ""
    examiner: str = ""
    description: str = ""
    notes: str = ""


def export_e01(
    image: str,
    out: str,
    case: CaseFields | None = None,
    *,
    map_path: str | None = None,
    tool: str = "ewfacquirestream",
    progress: Progress | None = None,
) -> str:
    """Export an image (raw or zst, unrescued bytes as zeros) to OUT.E01 through libewf.

    Refused (one line) when ewfacquirestream is not installed or OUT.E01 exists; the map
    goes into the E01's notes as a count of unrescued bytes (E01 has no place for a map).
    """
    exe = shutil.which(tool)
    if exe is None:
        raise Refused(f"export to E01 needs {tool} (Debian: apt-get install ewf-tools)")
    base = out[:-4] if out.upper().endswith(".E01") else out
    _refuse_existing(base + ".E01")
    case = case or CaseFields()
    with open_image(image, map_path) as r:
        notes = case.notes
        if r.rescue_map is not None:
            s = r.rescue_map.summary()
            notes = (
                notes + " " if notes else ""
            ) + f"[Station: {s.size - s.rescued} bytes unrescued, as zeros]"
        cmd = [
            exe,
            "-q",
            "-t",
            base,
            "-C",
            case.case_number or "-",
            "-E",
            case.evidence_number or "-",
            "-e",
            case.examiner or "-",
            "-D",
            case.description or "-",
            "-N",
            notes or "-",
            "-c",
            "deflate:fast",
            "-d",
            "sha256",
        ]
        errlog = tempfile.TemporaryFile()  # noqa: SIM115 (closed below, after the child is gone)
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errlog)
        assert proc.stdin is not None
        try:
            step = 8 << 20
            for pos in range(0, r.size, step):
                proc.stdin.write(r.read(pos, step))
                if progress is not None:
                    progress(min(pos + step, r.size), r.size)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        proc.wait()
    errlog.seek(0)
    err = errlog.read()
    errlog.close()
    if proc.returncode != 0:
        last = (err.decode("utf-8", "replace").strip().splitlines() or ["failed"])[-1]
        raise OSError(f"{tool}: {last}")
    return base + ".E01"


def mapfile_text(image: str, map_path: str | None = None) -> str | None:
    """The mapfile an image reads with, as text (None without a map)."""
    with open_image(image, map_path) as r:
        return format_mapfile(r.rescue_map) if r.rescue_map is not None else None

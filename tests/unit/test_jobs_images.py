"""The imaging job's output (station/jobs/image_output.py): raw hashing while writing, the refusals
of check_output, and the order of a session's last events (Finished stays last)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from station.core.events import Finished, ImageStats, Notice, TaskProgress
from station.core.identity import SourceIdentity
from station.core.record import JobKind
from station.core.session import SessionStore
from station.images.formats import open_image
from station.images.hashing import RawImageHasher, hash_raw_image
from station.images.zstreader import ZstImageReader
from station.images.zstsink import open_image_sink
from station.jobs.image_output import ImageSpec, check_output, finished_prefix, format_for
from station.jobs.imaging import prepare
from station.media.base import Refused
from station.rescue.rescuemap import RescueMap, Status
from station.sim.scripted import Fault, ScriptedSource

MiB = 1 << 20


def test_raw_hasher_takes_the_finished_prefix_while_written_and_the_rest_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "r.img"
    data = bytearray(os.urandom(10 * MiB))
    path.write_bytes(bytes(4 * MiB))
    h = RawImageHasher(str(path), len(data), ("sha256", "md5"))
    with open(path, "r+b") as f:  # the rescue writes in order for a while...
        f.write(data[: 4 * MiB + 100])
    h.reached(4 * MiB + 100)  # ...a prefix the map calls finished: whole segments of it are hashed
    m = RescueMap(len(data), Status.FINISHED)
    m.set_status(7 * MiB, 4096, Status.BAD_SECTOR)  # never written: zeros in the hashes
    with open(path, "r+b") as f:
        f.seek(4 * MiB + 100)
        f.write(data[4 * MiB + 100 :])
    got = h.finish(m)
    want = hash_raw_image(str(path), m, ("sha256", "md5"))
    assert got.whole == want.whole and got.segments == want.segments
    data[7 * MiB : 7 * MiB + 4096] = bytes(4096)
    assert got.whole["sha256"] == hashlib.sha256(data).hexdigest()


def test_finished_prefix() -> None:
    m = RescueMap(100)
    assert finished_prefix(m, 0) == 0
    m.set_status(0, 40, Status.FINISHED)
    m.set_status(50, 10, Status.FINISHED)
    assert finished_prefix(m, 0) == 40 and finished_prefix(m, 40) == 40 and finished_prefix(m, 50) == 60


def test_format_for() -> None:
    assert (format_for("a.zst"), format_for("a.ZST"), format_for("a.img")) == ("zst", "zst", "raw")
    assert format_for("a.img", "zst") == "zst"
    with pytest.raises(Refused, match="unknown image format 'zip'"):
        format_for("a.zst", "zip")


def test_check_output_refusals(tmp_path: Path) -> None:
    src = SourceIdentity(path=str(tmp_path / "source"), kind="file", size=8 * MiB)
    other = tmp_path / "other.zst"
    other.write_bytes(b"not ours" * 100)
    mp = str(tmp_path / "other.map")
    zst = ImageSpec("zst")
    with pytest.raises(Refused, match="is not a Station zst image .--force overwrites it"):
        check_output(str(other), mp, zst, 8 * MiB, force=False, source=src)
    assert check_output(str(other), mp, zst, 8 * MiB, force=True, source=src).fresh
    Path(mp).write_text("")  # with a map to resume from, --force does not make it ours
    with pytest.raises(Refused, match="--format raw images into it"):
        check_output(str(other), mp, zst, 8 * MiB, force=True, source=src)
    ours = tmp_path / "ours.zst"
    open_image_sink(str(ours), 4 * MiB).close()
    Path(str(ours) + ".map").write_text("")
    with pytest.raises(Refused, match="holds an image of 4194304 bytes, not the source's 8388608"):
        check_output(str(ours), str(ours) + ".map", zst, 8 * MiB, force=False, source=src)
    with pytest.raises(Refused, match="is a Station zst image .--format zst"):
        check_output(str(ours), str(ours) + ".map", ImageSpec("raw"), 4 * MiB, force=False, source=src)
    spec = check_output(str(ours), str(ours) + ".map", zst, 4 * MiB, force=False, source=src)
    assert not spec.fresh  # resumed


@pytest.mark.parametrize("dest", ["d.zst", "d.img"])
def test_finished_is_the_last_event_after_sealing_or_hashing(tmp_path: Path, dest: str) -> None:
    source = ScriptedSource(4 * MiB, [Fault(MiB, MiB + 4096, "bad")], path="scripted")
    store = SessionStore(tmp_path / "sessions")
    job = prepare("scripted", str(tmp_path / dest), source=source, command=["t"], store=store)
    events = []
    r = job.run(emit=events.append)
    assert r.outcome == "finished"
    assert isinstance(events[-1], Finished) and events[-1].outcome == "finished"
    assert sum(isinstance(e, Finished) for e in events) == 1
    tasks = [e for e in events if isinstance(e, TaskProgress)]
    assert tasks and tasks[-1].done == tasks[-1].total
    assert any(isinstance(e, Notice) and e.message.startswith("image hashes: sha256 ") for e in events)
    stats = [e for e in events if isinstance(e, ImageStats)]
    assert stats and stats[-1].hashed == 4 * MiB
    (rec,) = [s.record for s in store.list()]
    assert rec.kind == JobKind.IMAGING and rec.options["image_format"] == format_for(dest)
    with open_image(str(tmp_path / dest)) as img:  # its map: embedded (zst) or DEST.map (raw)
        assert rec.result.hashes["sha256"] == hashlib.sha256(img.read(0, img.size)).hexdigest()
    if dest.endswith(".zst"):
        with ZstImageReader(str(tmp_path / dest)) as z:
            assert z.sealed and z.metadata["hashes"] == rec.result.hashes


def test_a_zst_sink_offers_the_engine_no_descriptor_to_copy_into(tmp_path: Path) -> None:
    """The engine copies with copy_file_range into `sink.fd` when a sink has one: raw bytes in a
    zst file would be garbage, so the zst sink's descriptor has another name."""
    sink = open_image_sink(str(tmp_path / "x.zst"), MiB)
    try:
        assert getattr(sink, "fd", None) is None and sink.file_fd >= 0
    finally:
        sink.close()

"""Station and GNU ddrescue 1.27 finish each other's work over the same simulated damage.

Both run in test mode (-H TESTMAP: reads fail wherever TESTMAP is not '+') on the same
deterministic 4 MiB file, so both must end with exactly the test map's bad sectors marked '-'
and the source's bytes in every block they call finished.

ddrescuelog checks every mapfile Station writes, including the ones it replaces while running
and the .bak copies.

The test map's last sector is good on purpose: with a bad last sector, ddrescue 1.27 ends its
rescue domain where the test map's last '+' block ends (its mapfile is one sector short and the
last sector is never marked bad), while Station images and maps the whole file.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from station.rescue.rescuemap import Phase

SIZE = 4 * 1024 * 1024
# (pos, size, status) of the damage: every non-'+' status counts as unreadable in test mode.
DAMAGE = [
    (0x200, 0x200, "-"),  # sector 1, next to good sector 0
    (0x10000, 0x200, "-"),  # a single sector
    (0x30200, 0x200, "*"),  # another single sector
    (0x31400, 0x2000, "/"),  # a cluster of 16 sectors
    (0x133400, 0x20000, "?"),  # a larger area (256 KiB) in two statuses
    (0x153400, 0x20000, "-"),
    (0x200000, 0x200, "-"),  # two bad sectors with one good sector between them
    (0x200400, 0x200, "-"),
    (SIZE - 0x400, 0x200, "-"),  # the sector before the last one
]
BAD = [
    (0x200, 0x400),
    (0x10000, 0x10200),
    (0x30200, 0x30400),
    (0x31400, 0x33400),
    (0x133400, 0x173400),
    (0x200000, 0x200200),
    (0x200400, 0x200600),
    (SIZE - 0x400, SIZE - 0x200),
]

pytestmark = pytest.mark.usefixtures("have_ddrescue")


@pytest.fixture
def lab(tmp_path: Path, kit):
    src = kit.make_source(tmp_path / "source.bin", SIZE, seed=7)
    testmap = kit.write_test_map(tmp_path / "test.map", SIZE, DAMAGE)
    return tmp_path, src, testmap


def check_final(kit, mapfile: Path, src: Path, img: Path) -> None:
    """A finished rescue: exactly the damaged sectors are bad, everything else rescued and correct."""
    m = kit.read_map(mapfile)
    assert m.size == SIZE
    assert m.phase == Phase.FINISHED
    assert kit.ranges(m, "-") == BAD
    assert kit.ranges(m, "?*/") == []
    kit.assert_finished_blocks_match(m, src, img)
    kit.ddrescuelog_ok(mapfile)


def check_partial(kit, mapfile: Path, src: Path, img: Path) -> None:
    """A stopped rescue: work left, and nothing the map records contradicts the damage or the source."""
    m = kit.read_map(mapfile)
    assert m.size == SIZE
    assert m.summary().pending > 0, "the first run should have left work for the second"
    assert kit.covered(kit.ranges(m, "-"), BAD), "a readable sector was marked bad"
    assert kit.covered(kit.ranges(m, "+"), kit.complement(BAD, SIZE)), (
        "an unreadable sector was marked rescued"
    )
    kit.assert_finished_blocks_match(m, src, img)


MARKER = b"rescued-before!\n" * 32  # one sector


def plant_marker(kit, mapfile: Path, img: Path) -> int | None:
    """Overwrite the first sector of the largest '+' block in the image with MARKER; return its offset.

    A tool that really resumes from the map never reads a '+' block again, so the marker must
    survive its run; a tool that started over would overwrite it with the source's bytes.
    """
    done = kit.ranges(kit.read_map(mapfile), "+")
    if not done:
        return None
    pos = max(done, key=lambda r: r[1] - r[0])[0]
    with open(img, "r+b") as f:
        f.seek(pos)
        f.write(MARKER)
    return pos


def check_marker(src: Path, img: Path, pos: int | None) -> None:
    """The marker is still there (the block was not read again); then put the real bytes back."""
    if pos is None:
        return
    with open(img, "r+b") as f, open(src, "rb") as s:
        f.seek(pos)
        assert f.read(len(MARKER)) == MARKER, f"the finished block at {pos:#x} was rescued again"
        s.seek(pos)
        f.seek(pos)
        f.write(s.read(len(MARKER)))


STATION_STOPS = {
    "max-errors-0": ["-X", "0"],  # stops in copying pass 1
    "max-errors-2": ["-X", "2"],
    "max-errors-5": ["-X", "5"],  # around copying pass 2 / trimming
    "max-errors-9": ["-X", "9"],
    "max-errors-40": ["-X", "40"],  # in scraping
    "reverse-max-errors-3": ["-R", "-X", "3"],
    "domain-head": ["-s", "1Mi"],  # finished inside the domain, non-tried beyond it
    "domain-middle": ["-i", "1Mi", "-s", "1Mi"],
    "no-scrape": ["-n"],
}


@pytest.mark.parametrize("stop", STATION_STOPS.values(), ids=STATION_STOPS.keys())
def test_ddrescue_finishes_what_station_started(kit, lab, stop):
    d, src, testmap = lab
    img, mapfile = d / "image.bin", d / "image.map"
    r = kit.station("image", "-q", "--save-interval", "0.01", "-H", testmap, *stop, src, img, mapfile)
    assert r.returncode in (0, 1), r.stderr
    assert "Traceback" not in r.stderr
    check_partial(kit, mapfile, src, img)
    kit.ddrescuelog_ok(mapfile)
    bak = mapfile.with_name(mapfile.name + ".bak")
    assert bak.exists(), "a map saved more than once keeps the previous version as .bak"
    kit.ddrescuelog_ok(bak)

    marker = plant_marker(kit, mapfile, img)
    r = kit.ddrescue("-H", testmap, src, img, mapfile)
    assert r.returncode == 0, f"ddrescue could not resume from our map: {r.stderr}"
    check_marker(src, img, marker)
    check_final(kit, mapfile, src, img)


DDRESCUE_STOPS = {
    "max-errors-0": ["--max-read-errors=0"],
    "max-errors-1": ["--max-read-errors=1"],
    "max-errors-3": ["--max-read-errors=3"],
    "max-errors-6": ["--max-read-errors=6"],  # copying pass 2
    "max-errors-10": ["--max-read-errors=10"],  # trimming
    "max-errors-40": ["--max-read-errors=40"],  # scraping
    "reverse-max-errors-2": ["-R", "--max-read-errors=2"],
    "size": ["-s", "1MiB"],
    "middle": ["-i", "1MiB", "-s", "1MiB"],
    "no-trim-no-scrape": ["-N", "-n"],
}


@pytest.mark.parametrize("stop", DDRESCUE_STOPS.values(), ids=DDRESCUE_STOPS.keys())
def test_station_finishes_what_ddrescue_started(kit, lab, stop):
    d, src, testmap = lab
    img, mapfile = d / "image.bin", d / "image.map"
    r = kit.ddrescue("-H", testmap, *stop, src, img, mapfile)
    assert r.returncode in (0, 1), r.stderr
    check_partial(kit, mapfile, src, img)
    before = kit.read_map(mapfile).summary()
    marker = plant_marker(kit, mapfile, img)

    r = kit.station("image", "--json", "-H", testmap, src, img, mapfile)
    assert r.returncode == 0, r.stderr
    check_marker(src, img, marker)
    first = next(e for e in kit.json_lines(r.stdout) if e["kind"] == "progress")
    # The run starts from ddrescue's map, not from scratch.
    assert (first["rescued"], first["bad"], first["non_tried"]) == (
        before.rescued,
        before.bytes["-"],
        before.bytes["?"],
    )
    assert (first["non_trimmed"], first["non_scraped"]) == (before.bytes["*"], before.bytes["/"])
    check_final(kit, mapfile, src, img)
    kit.ddrescuelog_ok(mapfile.with_name(mapfile.name + ".bak"))


class MapWatcher:
    """Copies a mapfile (and its .bak) each time its content changes while a run replaces it."""

    def __init__(self, path: Path) -> None:
        self.paths = [path, path.with_name(path.name + ".bak")]
        self.seen: dict[str, None] = {}  # ordered set of distinct texts
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(0.0005)

    def poll(self) -> None:
        for p in self.paths:
            try:
                text = p.read_text()  # the map is replaced by rename: each read is one whole version
            except FileNotFoundError:
                continue
            self.seen.setdefault(text)

    def __enter__(self) -> MapWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.poll()


def test_every_mapfile_station_writes_passes_ddrescuelog(kit, lab):
    """Intermediate maps (saved every few ms), stopped maps and .bak copies all pass ddrescuelog."""
    d, src, testmap = lab
    img, mapfile = d / "image.bin", d / "image.map"
    watcher = MapWatcher(mapfile)
    with watcher:
        for stop in (["-X", "0"], ["-X", "2"], ["-X", "4"], ["-X", "20"], ["-X", "100"], []):
            r = kit.station(
                "image", "-q", "--save-interval", "0.002", "-H", testmap, *stop, src, img, mapfile
            )
            assert r.returncode == (0 if not stop else 1), r.stderr
            watcher.poll()
    check_final(kit, mapfile, src, img)

    texts = list(watcher.seen)
    assert len(texts) >= 6
    if len(texts) > 60:  # keep the run short: an even sample, always with the first and last
        step = len(texts) / 60
        texts = [texts[int(i * step)] for i in range(60)] + [texts[-1]]
    statuses: set[str] = set()
    for i, text in enumerate(texts):
        snap = d / f"snapshot-{i:03d}.map"
        snap.write_text(text)
        kit.ddrescuelog_ok(snap)
        statuses |= kit.statuses(kit.read_map(snap))
    assert statuses == set("?*/-+"), "the snapshots should cover every block status"


@pytest.mark.parametrize("opts", [[], ["-R"]], ids=["forward", "reverse"])
def test_full_runs_agree_with_ddrescue(kit, lab, opts):
    d, src, testmap = lab
    ours_img, ours_map = d / "ours.bin", d / "ours.map"
    ddr_img, ddr_map = d / "ddrescue.bin", d / "ddrescue.map"
    r = kit.station("image", "-q", "-H", testmap, *opts, src, ours_img, ours_map)
    assert r.returncode == 0, r.stderr
    r = kit.ddrescue("-H", testmap, *opts, src, ddr_img, ddr_map)
    assert r.returncode == 0, r.stderr

    ours, theirs = kit.read_map(ours_map), kit.read_map(ddr_map)
    assert kit.blocks(ours) == kit.blocks(theirs)
    assert ours.phase == theirs.phase == Phase.FINISHED
    check_final(kit, ours_map, src, ours_img)
    check_final(kit, ddr_map, src, ddr_img)
    kit.assert_zero(ours_img, BAD)  # bad areas are never written (the image was new)
    assert ours_img.stat().st_size == SIZE

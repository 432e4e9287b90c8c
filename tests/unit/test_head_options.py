"""Imaging by head: a head first, a head last, a head not read at all, where the layout is known."""

from __future__ import annotations

from pathlib import Path

from headdrives import dead_head_model

from station.core.events import Notice
from station.core.ranges import intersect
from station.core.session import SessionStore
from station.jobs.imaging import prepare
from station.rescue.heads import head_layout
from station.rescue.knowledge import Knowledge
from station.rescue.learnedfile import load_learned, save_learned
from station.rescue.mapfile import write_mapfile
from station.rescue.options import KiB, RescueOptions
from station.rescue.rescuemap import RescueMap, Status
from station.sim.drive import SimDrive
from station.sim.model import parse_model
from station.sim.source import SimSource

MODEL = dead_head_model()


class Recording(SimSource):
    def __init__(self, drive: SimDrive) -> None:
        super().__init__(drive, path="sim")
        self.log: list[tuple[int, int]] = []

    def read_into(self, pos: int, buf: memoryview) -> int:
        self.log.append((pos, pos + len(buf)))
        return super().read_into(pos, buf)


def image(tmp_path: Path, **opts) -> tuple[Recording, object, list[tuple[str, int]]]:
    """Image the drive; the notices with how many reads had been made when each was said."""
    drive = SimDrive(parse_model(MODEL))
    src = Recording(drive)
    options = RescueOptions(cluster_size=16 * KiB, skip_size=16 * KiB, **opts)
    job = prepare(
        "sim", str(tmp_path / "x.img"), source=src, options=options, command=["t"],
        store=SessionStore(tmp_path / "sessions"),
    )  # fmt: skip
    said: list[tuple[str, int]] = []

    def emit(e) -> None:
        if isinstance(e, Notice):
            said.append((e.message, len(src.log)))

    result = job.run(emit=emit, clock=drive.clock)
    return src, result, said


def learned_first(tmp_path: Path) -> None:
    """A new map for x.img that comes with what a whole earlier rescue of the drive learned (its
    heads over every zone), as a rerun of the same drive would find it."""
    (tmp_path / "earlier").mkdir()
    image(tmp_path / "earlier", no_scrape=True)
    knowledge = load_learned(tmp_path / "earlier" / "x.img.map")[0]
    assert knowledge is not None
    write_mapfile(tmp_path / "x.img.map", RescueMap(parse_model(MODEL).size))
    save_learned(tmp_path / "x.img.map", knowledge)


def head_ranges(tmp_path: Path, head: int) -> list[tuple[int, int]]:
    k = Knowledge.from_kept(load_learned(tmp_path / "x.img.map")[0])
    assert k is not None
    layout = head_layout(k.areas.patterns, k.slow_areas.patterns)
    assert layout is not None and layout.heads == 4
    return layout.ranges({head})


def on(reads: list[tuple[int, int]], ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [r for r in reads if intersect([r], ranges)]


def at(said: list[tuple[str, int]], start: str) -> int:
    return next(n for message, n in said if message.startswith(start))


def test_a_head_left_for_last_is_read_after_every_other_head(tmp_path: Path) -> None:
    learned_first(tmp_path)
    head0 = head_ranges(tmp_path, 0)
    src, result, said = image(tmp_path, head_last=[0], no_scrape=True)
    others, last = at(said, "imaging the other heads"), at(said, "imaging head 0 last")
    assert not on(src.log[others:last], head0), "head 0 read before its turn"
    assert on(src.log[last:], head0) and not [r for r in src.log[last:] if not on([r], head0)]


def test_on_a_fresh_drive_copying_pass_1_learns_the_heads_first(tmp_path: Path) -> None:
    src, result, said = image(tmp_path, head_last=[0], no_scrape=True)
    assert at(said, "imaging the other heads") > 0  # after a copying pass over everything
    assert any(m.startswith("imaging head 0 last") for m, _ in said)


def test_a_skipped_head_is_not_read_once_its_layout_is_kept(tmp_path: Path) -> None:
    learned_first(tmp_path)
    skip = head_ranges(tmp_path, 1)
    src, result, said = image(tmp_path, head_skip=[1])
    assert result.outcome == "finished"  # everything but the skipped head, and it says so:
    assert "but for head 1, not read (--skip-head):" in result.reason and "left non-tried" in result.reason
    assert not on(src.log, skip), "a read on the skipped head"


def test_a_head_first_is_read_before_the_others_when_the_layout_is_known(tmp_path: Path) -> None:
    learned_first(tmp_path)
    head3 = head_ranges(tmp_path, 3)
    src, result, said = image(tmp_path, head_first=[3])
    assert result.outcome == "finished"
    first, others = at(said, "imaging head 3 first"), at(said, "imaging the other heads")
    assert first == 0  # the layout was kept: no copying pass over everything first
    assert on(src.log[first:others], head3) and not [r for r in src.log[first:others] if not on([r], head3)]


def test_a_head_left_for_last_while_the_job_runs_is_staged_from_the_next_pass(tmp_path: Path) -> None:
    """The workstation's options dialog: the dead head 2 left for last once copying pass 1 has begun
    (its edges are then trimmed and swept after every other head's)."""
    from station.core.control import RunControl
    from station.core.events import PhaseStarted

    drive = SimDrive(parse_model(MODEL))
    src = Recording(drive)
    control = RunControl()
    job = prepare(
        "sim", str(tmp_path / "x.img"), source=src, command=["t"], store=SessionStore(tmp_path / "s"),
        options=RescueOptions(cluster_size=16 * KiB, skip_size=16 * KiB, no_scrape=True),
    )  # fmt: skip
    said: list[tuple[str, int]] = []

    def emit(e) -> None:
        if isinstance(e, PhaseStarted) and not said:
            control.set_options(head_last=[2])  # during copying pass 1: applies from pass 2
            said.append(("asked", len(src.log)))
        if isinstance(e, Notice):
            said.append((e.message, len(src.log)))

    result = job.run(emit=emit, clock=drive.clock, control=control)
    assert result.summary.bytes[Status.NON_TRIMMED] == result.summary.bytes[Status.NON_TRIED] == 0
    restaged, others = at(said, "the head options changed"), at(said, "imaging the other heads")
    last = at(said, "imaging head 2 last")
    assert 0 < restaged <= others < last
    head2 = head_ranges(tmp_path, 2)
    assert on(src.log[:restaged], head2)  # copying pass 1 met every head
    assert not on(src.log[others:last], head2), "head 2 read before its turn"
    assert on(src.log[last:], head2) and not [r for r in src.log[last:] if not on([r], head2)]

"""station.views.live and mapview.cell_statuses: what the workstation draws, without Textual."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from station.core.events import Finished, Progress, ReadFailed
from station.core.identity import SourceIdentity
from station.core.record import SessionRecord, SessionResult
from station.core.session import SessionStore
from station.rescue.rescuemap import RescueMap, Status
from station.views.live import EventTail, MapProbe, MapSnapshot, SpeedSeries, Zoom, session_figures
from station.views.mapview import cell_bounds, cell_statuses, worst_status


def progress(t: float, rate: float, rescued: int = 0, size: int = 1000, errors: int = 0) -> Progress:
    return Progress(t, "copying", 1, 0, size, rescued, size - rescued, 0, 0, 0, 0, errors, rate, rate / 2, t,
                    0.0, None)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(1, 5000),
    marks=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 0.3), st.sampled_from(list(Status))), max_size=25),
    cells=st.integers(1, 300),
    window=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_cell_statuses_is_the_worst_status_of_each_cell(size, marks, cells, window) -> None:
    m = RescueMap(size)
    for frac, width, status in marks:
        pos = int(frac * (size - 1))
        m.set_status(pos, max(1, min(int(width * size), size - pos)), status)
    lo, hi = sorted(int(w * size) for w in window)
    edges = [lo + e for e in cell_bounds(hi - lo, cells)]
    naive = [worst_status(m, edges[i], edges[i + 1]) for i in range(cells)]
    assert cell_statuses(m, cells, lo, hi) == naive


def test_one_bad_sector_shows_in_a_huge_cell_and_lookups_stay_few() -> None:
    m = RescueMap(1 << 40, Status.FINISHED)
    m.set_status(123 << 30, 512, Status.BAD_SECTOR)
    calls = 0
    real = m.next_block

    def counting(status, pos):
        nonlocal calls
        calls += 1
        return real(status, pos)

    m.next_block = counting  # type: ignore[method-assign]
    cells = cell_statuses(m, 2000)
    assert cells.count(Status.BAD_SECTOR) == 1 and cells.count(Status.FINISHED) == 1999
    assert calls < 20, "a status held by one block must cost about one lookup, not one per cell"


def test_snapshot_current_cell_and_cell_ranges() -> None:
    m = RescueMap(1000)
    m.set_status(0, 500, Status.FINISHED)
    m.current_pos = 500
    snap = MapSnapshot.of(m, 10)
    assert snap.cells[:5] == (Status.FINISHED,) * 5 and snap.cells[5:] == (Status.NON_TRIED,) * 5
    assert snap.current == 5 and snap.bytes_per_cell == 100 and snap.cell_range(5) == (500, 600)
    zoomed = MapSnapshot.of(m, 10, 400, 600)
    assert zoomed.cell_range(0) == (400, 420) and zoomed.current == 5
    assert MapSnapshot.of(m, 10, 0, 100).current is None  # position outside the region
    tiny = MapSnapshot.of(RescueMap(4), 10)  # fewer bytes than cells: blank cells after them
    assert tiny.cells[4:] == (None,) * 6 and tiny.cell_range(7) == (4, 4)


def test_zoom_in_out_pan_and_clamp() -> None:
    z = Zoom(1 << 30)
    z.zoom_in(around=0)
    assert (z.lo, z.hi) == (0, 1 << 28)  # clamped at the start
    z.zoom_in(around=1 << 27)
    assert z.span == 1 << 26 and z.lo <= 1 << 27 < z.hi
    z.pan(100.0)
    assert z.hi == 1 << 30 and z.span == 1 << 26  # clamped at the end, span kept
    for _ in range(20):
        z.zoom_in(around=5000)
    assert z.span == 4096  # never below min_span
    z.zoom_out()
    z.reset()
    assert z.whole


def test_map_probe_takes_what_was_wanted() -> None:
    m = RescueMap(1 << 20)
    probe = MapProbe(m)
    assert probe.take() is None  # nothing wanted yet (no widget laid out)
    probe.want(64, 0, 1 << 19)
    snap = probe.take()
    assert snap is not None and len(snap.cells) == 64 and (snap.lo, snap.hi) == (0, 1 << 19)
    assert probe.latest is snap


def test_speed_series_buckets_errors_and_thinning() -> None:
    s = SpeedSeries(limit=64)
    for i in range(1, 201):
        s.add(progress(i * 0.25, 1000.0 * (i % 10)))
    s.add(ReadFailed(10.0, 0, 512, "EIO", "copying"))
    assert len(s.times) <= 64 and s.times == sorted(s.times)
    assert s.last_t == 50.0 and s.errors == [10.0]
    assert s.peak <= 9000.0 and s.current == 0.0
    b = s.buckets(10)
    assert len(b) == 10 and all(v is not None for v in b)
    assert s.error_buckets(10) == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]  # t=10 of 50
    gaps = SpeedSeries().extend([progress(5.0, 100.0), progress(10.0, 300.0)])
    assert gaps.buckets(4, 10.0) == [None, None, 100.0, 300.0]  # a step between samples, nothing before


def test_event_tail_reads_only_complete_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    tail = EventTail(path)
    assert tail.poll() == []  # not created yet
    line = json.dumps(progress(1.0, 5.0).to_dict())
    path.write_text(line + "\n" + line[:20])
    assert [e.t for e in tail.poll()] == [1.0]
    with open(path, "a") as f:
        f.write(line[20:] + "\n" + "not json\n")
    assert [e.kind for e in tail.poll()] == ["progress"]  # the torn line, completed; garbage skipped
    assert tail.poll() == []


def test_session_figures_from_record_and_log(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    source = SourceIdentity("demo", "virtual", 1000, model="Demo")
    s = store.create(SessionRecord(method="engine", source=source, destinations=["/x/d.img"]))
    for i in range(1, 5):
        s.log(progress(float(i * 2), 100.0 * i, rescued=200 * i, errors=i))
    s.log(Finished(8.0, "finished", "rescue finished"))
    running = session_figures(store.get(s.id))
    assert (running.rescued, running.read_errors, running.elapsed, running.size) == (800, 4, 8.0, 1000)
    assert running.label == "Demo → d.img" and len(running.series.times) == 4
    s.finish("finished", "rescue finished", SessionResult(rescued=900, size=1000, bad=100, read_errors=7))
    done = session_figures(store.get(s.id))
    assert (done.rescued, done.bad, done.read_errors, done.state) == (900, 100, 7, "finished")

"""Degraded drives in the simulator: slow areas on the cost clock, heads formatted to different
widths, a head that degrades as it reads, bad clusters inside slow areas, and the floor."""

from __future__ import annotations

import pytest

from station.sim.drive import SimDrive
from station.sim.floor import bad_stretches, floors
from station.sim.geometry import Geometry, GeometrySpec
from station.sim.model import BAD, SLOW, WEAK, ModelError, parse_model

S = 512


def model(defects: str, size: str = "8Mi", **geo: object) -> str:
    g = {"heads": 2, "zones": 2, "outer_spt": 64, "inner_spt": 32, "band_cylinders": 2, **geo}
    lines = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in g.items())
    return f'name = "t"\nsize = "{size}"\nseed = 5\n[geometry]\n{lines}\n{defects}'


def test_slow_area_costs_its_delay_per_request_and_its_rate() -> None:
    text = model(
        '[[defects]]\nkind = "slow_zone"\nstart = "1Mi"\nlength = "1Mi"\ndelay = 0.5\nrate = "100k"\n'
    )
    drive = SimDrive(parse_model(text))
    fast = drive.read(0, 128)
    assert fast.ok and fast.seconds < 0.02
    r = drive.read(2048, 128)  # 64 KiB inside the slow zone, sequentially after a seek
    assert r.ok and r.seconds == pytest.approx(0.5 + 65536 / 100e3, abs=0.02)
    again = drive.read(2048 + 128, 256)  # the next request pays the delay again, and 128 KiB
    assert again.seconds == pytest.approx(0.5 + 131072 / 100e3, rel=0.01)
    assert drive.stats.read_errors == 0


def test_time_scale_sleeps_for_slow_areas(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("station.sim.drive.time.sleep", slept.append)
    text = model('[[defects]]\nkind = "slow_zone"\nstart = "1Mi"\nlength = "1Mi"\ndelay = 0.25\n')
    drive = SimDrive(parse_model(text), time_scale=2.0)
    drive.read(2048, 8)
    assert slept and slept[-1] == pytest.approx(2.0 * drive.stats.seconds)
    assert slept[-1] > 0.5


def test_slow_zone_by_zone_and_slow_head_follow_the_geometry() -> None:
    layout = parse_model(model('[[defects]]\nkind = "slow_zone"\nzone = 1\nslowdown = 20\n')).build()
    g = layout.geometry
    zone1 = [t for t in g.tracks if t.zone == 1]
    assert [(s.start, s.end, s.flags) for s in layout.segments] == [(zone1[0].start, zone1[-1].end, SLOW)]
    head = parse_model(model('[[defects]]\nkind = "slow_head"\nhead = 1\ndelay = 0.2\nfrom = 0.5\n')).build()
    tracks = {
        (t.start, t.end) for t in head.geometry.tracks if t.head == 1 and t.cylinder >= g.cylinders // 2
    }
    assert {(s.start, s.end) for s in head.segments} <= tracks | {(a, b) for a, b in _merged(tracks)}
    assert all(s.flags == SLOW and s.delay == 0.2 for s in head.segments)
    with pytest.raises(ModelError, match="zone 5 does not exist"):
        parse_model(model('[[defects]]\nkind = "slow_zone"\nzone = 5\n'))


def _merged(tracks: set[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(tracks):
        if out and out[-1][1] == a:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def test_bad_clusters_inside_slow_areas_land_inside_them() -> None:
    text = model(
        '[[defects]]\nkind = "slow_head"\nhead = 0\ndelay = 0.1\n'
        '[[defects]]\nkind = "bad_sectors"\ninside = "slow"\ncount = 30\ncluster = 4\n'
    )
    layout = parse_model(text).build()
    slow = [(t.start, t.end) for t in layout.geometry.tracks if t.head == 0]
    bad = bad_stretches(layout)
    assert bad and all(any(a <= lo and hi <= b for a, b in slow) for lo, hi in bad)
    with pytest.raises(ModelError, match="needs a slow defect before it"):
        parse_model(model('[[defects]]\nkind = "bad_sectors"\ninside = "slow"\n'))


def test_heads_formatted_to_different_widths() -> None:
    spec = GeometrySpec(
        heads=3, zones=1, outer_spt=100, inner_spt=100, band_cylinders=2, head_scale=(1.0, 0.5, 1.0)
    )
    g = Geometry(spec, 1000, S)
    per_head = [sum(t.count for t in g.tracks if t.head == h and t.cylinder < 2) for h in range(3)]
    assert per_head == [200, 100, 200]
    assert g.zone_rate(next(g.tracks_of_head(1))) == pytest.approx(g.zone_rate(g.tracks[0]) / 2)
    with pytest.raises(ValueError, match="head_scale"):
        GeometrySpec(heads=2, head_scale=(1.0,)).validate()


def test_a_degrading_head_fails_more_the_more_it_has_read() -> None:
    text = model(
        '[[defects]]\nkind = "degrading_head"\nhead = 1\nfail_probability = 0.0\n'
        "worsens = 0.5\nmax_probability = 0.9\n",
        size="32Mi",
        outer_spt=256,
        inner_spt=256,
        zones=1,
    )
    layout = parse_model(text).build()
    assert all(s.flags == WEAK and s.head == 1 for s in layout.segments)
    drive = SimDrive(layout)
    head1 = [t for t in layout.geometry.tracks if t.head == 1]
    first = drive.read(head1[0].start, head1[0].count)
    assert first.ok  # nothing read on it yet: it does not fail
    fails = 0
    for t in head1[1:40]:
        fails += not drive.read(t.start, t.count).ok
    assert fails > 20  # after a few MiB it fails most reads
    assert drive.readable_sectors == layout.model.sectors  # ... yet nothing on it is unreadable


def test_the_floor_is_transfer_plus_one_failed_read_per_bad_stretch() -> None:
    text = model(
        '[[defects]]\nkind = "bad_range"\nstart = "1Mi"\nlength = "64Ki"\n'
        '[[defects]]\nkind = "bad_range"\nstart = "3Mi"\nlength = "64Ki"\n'
        '[[defects]]\nkind = "slow_zone"\nstart = "5Mi"\nlength = "1Mi"\ndelay = 1.0\nrate = "1M"\n'
    )
    layout = parse_model(text).build()
    fl = floors(layout, (0.5, 1.0))
    assert fl[1.0].errors == 2
    assert fl[1.0].slow_seconds == pytest.approx(1.0 + (1 << 20) / 1e6, rel=0.01)
    assert fl[0.5].slow_seconds == 0.0  # half of the readable bytes are all fast
    assert fl[1.0].seconds == pytest.approx(fl[1.0].fast_seconds + fl[1.0].slow_seconds + 4.0)
    assert BAD not in {s.flags for s in layout.segments if s.flags & SLOW}

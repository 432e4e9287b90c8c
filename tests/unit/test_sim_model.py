"""Virtual failing drives: geometry layouts, defect maps, the cost clock, milestones, power."""

from __future__ import annotations

import errno
import threading

import pytest

from station.sim.content import expected_bytes, sector_content, sectors_content
from station.sim.drive import DriveHung, DrivePoweredOff, SimDrive
from station.sim.geometry import Geometry, GeometrySpec
from station.sim.model import BAD, ModelError, Timing, load_model, parse_model, preset_names
from station.sim.source import SimSource

S = 512


def small(text: str = "", size: str = "1Mi", **geo) -> str:
    g = {"heads": 2, "zones": 1, "outer_spt": 64, "inner_spt": 64, **geo}
    lines = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in g.items())
    return f'name = "t"\nsize = "{size}"\nseed = 3\n[geometry]\n{lines}\n{text}'


# -- content -----------------------------------------------------------------------------------------


def test_content_is_the_lba_in_every_8_bytes() -> None:
    assert sectors_content(5, 3, S) == sector_content(5, S) + sector_content(6, S) + sector_content(7, S)
    assert (
        expected_bytes(S + 100, 1000)
        == (sector_content(1, S) + sector_content(2, S) + sector_content(3, S))[100:1100]
    )
    assert sectors_content(0, 0, S) == b""


# -- geometry ----------------------------------------------------------------------------------------


def test_forward_order_interleaves_heads_track_by_track() -> None:
    g = Geometry(GeometrySpec(heads=3, zones=1, outer_spt=10, inner_spt=10, track_order="forward"), 95, S)
    assert [(t.start, t.cylinder, t.head) for t in g.tracks[:4]] == [
        (0, 0, 0),
        (10, 0, 1),
        (20, 0, 2),
        (30, 1, 0),
    ]
    assert g.tracks[-1].count == 5 and g.tracks[-1].end == 95  # a short last track
    assert [t.start for t in g.tracks_of_head(1)] == [10, 40, 70]


def test_serpentine_order_makes_one_band_per_head_and_reverses_odd_heads() -> None:
    spec = GeometrySpec(heads=2, zones=1, outer_spt=10, inner_spt=10, band_cylinders=3)
    g = Geometry(spec, 120, S)
    seq = [(t.cylinder, t.head) for t in g.tracks]
    assert seq[:6] == [(0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (0, 1)]
    assert seq[6:9] == [(3, 0), (4, 0), (5, 0)]
    # head 1's sectors form contiguous stretches of a band's worth (3 tracks) in LBA space
    starts = [t.start for t in g.tracks_of_head(1)]
    assert starts == [30, 40, 50, 90, 100, 110]


def test_zones_get_slower_inwards() -> None:
    g = Geometry(GeometrySpec(heads=1, zones=4, outer_spt=100, inner_spt=40), 4000, S)
    rates = [g.zone_rate(g.tracks[g.track_index(lba)]) for lba in (0, 1500, 2500, 3999)]
    assert rates == sorted(rates, reverse=True) and rates[0] > rates[-1]
    assert sum(t.count for t in g.tracks) == 4000


# -- models and defects ------------------------------------------------------------------------------


def test_every_preset_loads_and_is_deterministic() -> None:
    names = preset_names()
    assert {"healthy", "dead-head", "scratched", "weak", "dying"} <= set(names)
    for name in names:
        a, b = load_model(name).build(), load_model(name).build()
        assert a.segments == b.segments, name
        assert a.model.description
    assert load_model("healthy").build().bad_sectors == 0


def test_dead_head_makes_exactly_that_heads_tracks_bad() -> None:
    m = parse_model(small('[[defects]]\nkind = "dead_head"\nhead = 1\n', track_order="forward"))
    lay = m.build()
    head1 = [(t.start, t.end) for t in lay.geometry.tracks_of_head(1)]
    assert [(s.start, s.end) for s in lay.segments if s.flags & BAD] == head1
    assert lay.readable_bytes == m.size - sum(e - s for s, e in head1) * S


def test_scratch_hits_the_same_angle_on_consecutive_tracks() -> None:
    text = '[[defects]]\nkind = "scratch"\nheads = [0]\nangle = 0.5\nwidth = 0.05\ndrift = 0.0\n'
    lay = parse_model(small(text, track_order="forward")).build()
    g = lay.geometry
    hits = [(s.start, s.end) for s in lay.segments]
    assert hits
    for s, e in hits:
        t = g.track_of(s)
        assert t.head == 0 and e <= t.end
        assert abs((s - t.start) / t.spt - 0.5) < 0.05
    cylinders = {g.track_of(s).cylinder for s, _ in hits}
    assert len(cylinders) > 0.2 * g.cylinders  # it crosses many tracks


def test_same_seed_same_damage_other_seed_other_damage() -> None:
    text = '[[defects]]\nkind = "bad_sectors"\ncount = 20\ncluster = 4\n'
    a = parse_model(small(text)).build().segments
    b = parse_model(small(text)).build().segments
    c = parse_model(small(text).replace("seed = 3", "seed = 4")).build().segments
    assert a == b and a != c


@pytest.mark.parametrize(
    "text, needle",
    [
        ('size = "1Mi"\nbogus = 1', "unknown keys bogus"),
        ('name = "x"', "size is required"),
        ('size = "1Mi"\n[[defects]]\nkind = "melted"', "unknown defect kind 'melted'"),
        ('size = "1Mi"\n[[defects]]\nkind = "dead_head"\nhead = 9', "head 9 does not exist"),
        ('size = "1Mi"\n[geometry]\ntrack_order = "spiral"', "track_order"),
        ('size = "1000"', "multiple of the sector size"),
        ('size = "1Mi"\n[[defects]]\nkind = "bad_range"\nstart = "2Mi"\nlength = 512', "beyond"),
        ("size = ", "not valid TOML"),
    ],
)
def test_bad_models_are_refused_with_a_clear_message(text: str, needle: str) -> None:
    with pytest.raises(ModelError, match=needle.replace("(", r"\(")):
        parse_model(text, origin="m.toml")


def test_unknown_preset_names_the_presets(tmp_path) -> None:
    with pytest.raises(ModelError, match="no preset named 'nope'.*healthy"):
        load_model("nope")
    with pytest.raises(ModelError, match="no such model file"):
        load_model(str(tmp_path / "missing.toml"))


def test_ddrescue_test_mapfile_is_a_model(tmp_path) -> None:
    p = tmp_path / "test.map"
    p.write_text(
        "# test\n0x00000000  +\n"
        "0x00000000  0x00010000  +\n0x00010000  0x00000400  -\n0x00010400  0x0000FC00  +\n"
    )
    m = load_model(str(p))
    assert m.size == 0x20000
    d = SimDrive(m)
    assert d.bad_ranges() == [(0x10000 // S, 0x10400 // S)]
    assert d.read(0, 128).ok and not d.read(120, 16).ok


# -- reads and the cost clock ------------------------------------------------------------------------


def drive_of(text: str = "", **timing) -> SimDrive:
    m = parse_model(small(text))
    if timing:
        m.timing = Timing(**timing)
    return SimDrive(m)


def test_sequential_reads_pay_no_seek_and_transfer_at_the_zone_rate() -> None:
    d = drive_of(command_us=0)
    r1 = d.read(0, 64)
    r2 = d.read(64, 64)
    rate = d.geometry.zone_rate(d.geometry.tracks[0])
    assert r2.seconds == pytest.approx(64 * S / rate)
    assert r1.seconds == pytest.approx(64 * S / rate)  # the heads start at LBA 0
    far = d.read(1500, 8)
    assert far.seconds > 8 * S / rate + d.geometry.revolution / 2  # a seek and half a turn


def test_a_failed_read_stops_at_the_bad_sector_and_costs_the_penalty() -> None:
    d = drive_of(
        '[[defects]]\nkind = "bad_range"\nstart = 5120\nlength = 1024\n', command_us=0, error_penalty=3.0
    )
    r = d.read(0, 64)
    assert not r.ok and r.good == 10 and r.error_lba == 10
    assert r.seconds == pytest.approx(3.0 + 10 * S / d.geometry.zone_rate(d.geometry.tracks[0]))
    assert d.stats.read_errors == 1 and d.stats.reads == 1
    assert d.read(12, 4).ok and not d.read(11, 1).ok


def test_milestones_are_exact_on_a_hand_made_drive() -> None:
    # 2048 sectors, 100 of them bad: readable = 1948 sectors
    d = drive_of('[[defects]]\nkind = "bad_range"\nstart = 102400\nlength = 51200\n')
    readable = 2048 - 100
    assert d.readable_sectors == readable
    d.read(0, 200)  # 200 good, then sectors 200..299 are bad
    assert not d.read(200, 100).ok
    d.read(300, 773)  # covered: 973 sectors, just under half of 1948
    assert 0.5 not in d.stats.milestones
    d.read(0, 100)  # repeats add nothing
    assert 0.5 not in d.stats.milestones
    d.read(1073, 1)  # 974 = 0.5 * 1948
    m = d.stats.milestones[0.5]
    assert m.read_errors == 1 and m.reads == 5 and m.seconds == pytest.approx(d.stats.seconds)
    d.read(1074, 974)
    assert set(d.stats.milestones) == {0.5, 0.9, 0.99, 0.999, 1.0}
    assert d.stats.covered == readable * S


def test_weak_sectors_read_after_some_attempts_deterministically() -> None:
    text = '[[defects]]\nkind = "weak_sectors"\ncount = 5\nprobability = 0.3\n'

    def attempts() -> list[int]:
        d = drive_of(text)
        out = []
        for lo, hi in [(s.start, s.end) for s in d.layout.segments]:
            n = 1
            while not d.read(lo, hi - lo).ok:
                n += 1
                assert n < 200
            out.append(n)
        return out

    a = attempts()
    assert a == attempts()
    assert max(a) > 1  # at 30% a try, some need several


def test_weak_head_fails_more_often_for_longer_reads() -> None:
    text = '[[defects]]\nkind = "weak_head"\nhead = 0\nfail_probability = 0.01\nslowdown = 2.0\n'
    d = drive_of(text)
    tracks = list(d.geometry.tracks_of_head(0))
    long_fail = sum(not d.read(t.start, t.count).ok for t in tracks for _ in range(5))
    short_fail = sum(not d.read(t.start, 1).ok for t in tracks for _ in range(5))
    assert long_fail > 3 * max(short_fail, 1)
    ok = next(r for t in tracks if (r := d.read(t.start, 8)).ok)
    assert ok.seconds > 8 * S / d.geometry.zone_rate(tracks[0])


def test_a_drive_that_stops_answering_until_power_cycled() -> None:
    text = '[failure]\nhang_after_errors = 2\n[[defects]]\nkind = "bad_range"\nstart = 0\nlength = 1024\n'
    d = drive_of(text)
    assert not d.read(0, 1).ok and not d.read(1, 1).ok
    assert d.hung
    with pytest.raises(DriveHung):
        d.read(100, 1, block=False)
    released: list[Exception] = []

    def reader() -> None:
        try:
            d.read(100, 1, block=True, hang_wait=10)
        except Exception as e:  # noqa: BLE001
            released.append(e)

    th = threading.Thread(target=reader)
    th.start()
    d.power_off()
    th.join(5)
    assert not th.is_alive() and isinstance(released[0], DrivePoweredOff)
    with pytest.raises(DrivePoweredOff):
        d.read(100, 1)
    before = d.stats.seconds
    d.power_on()
    assert d.stats.power_cycles == 1 and d.stats.seconds >= before + d.timing.spinup
    assert d.read(100, 1).ok


# -- as an engine Source -----------------------------------------------------------------------------


def test_sim_source_reads_content_and_fails_whole_reads() -> None:
    d = drive_of('[[defects]]\nkind = "bad_range"\nstart = 4096\nlength = 512\n')
    src = SimSource(d)
    buf = memoryview(bytearray(4096))
    assert src.read_into(0, buf) == 4096 and bytes(buf) == expected_bytes(0, 4096)
    with pytest.raises(OSError) as e:
        src.read_into(0, memoryview(bytearray(8192)))
    assert e.value.errno == errno.EIO and e.value.partial == 0
    partial = SimSource(
        drive_of('[[defects]]\nkind = "bad_range"\nstart = 4096\nlength = 512\n'), partial_reads=True
    )
    big = memoryview(bytearray(8192))
    with pytest.raises(OSError) as e:
        partial.read_into(0, big)
    assert e.value.partial == 4096 and bytes(big[:4096]) == expected_bytes(0, 4096)
    assert src.identity.kind == "virtual" and src.identity.serial.startswith("SIM-")

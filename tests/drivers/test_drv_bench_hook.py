"""The emulated imager as a bench method: a full job of a model, its map and the drive's stats."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from drvkit import assert_image_right, assert_map_true_to_drive, bounded

from drivers.bench_hook import run_imager_job
from station.rescue.rescuemap import Status


@pytest.mark.parametrize("transport", ["serial", "usb"])
def test_a_full_job_returns_the_map_and_the_drives_stats(make_model, tmp_path, transport) -> None:
    seen: list[float] = []
    run = bounded(
        lambda: run_imager_job(
            make_model(bad=20, hang=30), tmp_path / transport, on_progress=seen.append, transport=transport
        ),  # fmt: skip
        60,
    )
    assert run.result.outcome == "finished" and run.stopped_by is None
    assert run.map.bytes_in(Status.FINISHED) == run.readable_bytes == run.stats.covered
    assert_map_true_to_drive(run.map, run.drive)
    assert_image_right(str(run.image), run.map)
    assert set(run.stats.milestones) == {0.5, 0.9, 0.99, 0.999, 1.0}
    assert run.stats.power_cycles > 0  # the imager power-cycled its hung source itself
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


def test_stop_when_ends_the_job_there(make_model, tmp_path) -> None:
    def half(drive):
        return "stopped-at-50%" if 0.5 in drive.stats.milestones else None

    run = bounded(lambda: run_imager_job(make_model(size="8Mi", bad=40), tmp_path, stop_when=half), 60)
    assert run.stopped_by == "stopped-at-50%"
    assert (run.result.outcome, run.result.reason) == ("stopped", "the imager stopped: stopped-at-50%")
    assert 0.5 in run.stats.milestones and 1.0 not in run.stats.milestones
    assert_map_true_to_drive(run.map, run.drive)


def test_adapter_for_station_bench(make_model, tmp_path) -> None:
    bench = pytest.importorskip("station.bench.methods", reason="station bench is merged from another branch")
    from drivers.bench_hook import run_emulated_imager

    limits = bench._Limits(full=False, max_sim_seconds=None, max_wall_seconds=60.0)
    m = bench.Method("imager", "imager", None)
    r = bounded(
        lambda: run_emulated_imager(m, make_model(bad=10), tmp_path, limits, lambda label, f: None), 60
    )
    assert (r.kind, r.correct, r.wrong_bytes) == ("imager", True, 0)
    assert r.outcome in ("finished", "stopped-at-100%") and r.rescued_bytes == r.readable_bytes
    assert "1" in r.stats["milestones"]
    assert SimpleNamespace  # (kept for a duck-typed Method if bench's changes)

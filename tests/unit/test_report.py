"""station.report: the report's facts from the catalog, the store and the map; the HTML and the JSON."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from catalogkit import add_session, store_at

from station.catalog import Catalog, LabelEdit
from station.report import build_report, render_html, write_report
from station.report.model import MAX_BAD_AREAS, phases
from station.report.svg import COLOURS
from station.rescue.knowledge import Knowledge
from station.rescue.learnedfile import save_learned
from station.rescue.mapfile import write_mapfile
from station.rescue.rescuemap import RescueMap, Status

T0 = 1_700_000_000.0
SIZE = 8 * 1024 * 1024


@pytest.fixture
def lab(tmp_path: Path):
    """An image with a map (bad, non-scraped and never-tried areas), two runs, SMART, a label."""
    store = store_at(tmp_path)
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * 4096)
    m = RescueMap(SIZE, Status.FINISHED)
    m.set_status(1024 * 1024, 512, Status.BAD_SECTOR)
    m.set_status(2 * 1024 * 1024, 4096, Status.BAD_SECTOR)
    m.set_status(3 * 1024 * 1024, 65536, Status.NON_SCRAPED)
    m.set_status(6 * 1024 * 1024, 1024 * 1024, Status.NON_TRIED)
    write_mapfile(str(image) + ".map", m)
    first = add_session(store, str(image), started=T0, size=SIZE, bad=4608, state="stopped",
                        rates=[1e6, 5e6, 2e6], smart=True)  # fmt: skip
    add_session(store, str(image), started=T0 + 7200, size=SIZE, bad=4608, resumed=True,
                rates=[3e6, 9e6], hashes={"sha256": "5a" * 32, "md5": "0f" * 16})  # fmt: skip
    with Catalog.open(store, str(tmp_path / "c.sqlite")) as cat:
        cat.label(
            cat.resolve(first.id), LabelEdit(case="T-1041", customer="Ann <Smith> & Co", label="laptop")
        )
    return tmp_path, store, image, m


def report_of(lab, **kw):
    tmp_path, store, image, _ = lab
    with Catalog.open(store, str(tmp_path / "c.sqlite")) as cat:
        return build_report(cat, cat.resolve(str(image)), now=T0 + 10**5, **kw)


def test_the_report_holds_every_fact_the_issue_lists(lab):
    r = report_of(lab)
    assert (r.image["case"], r.image["customer"], r.image["label"]) == (
        "T-1041",
        "Ann <Smith> & Co",
        "laptop",
    )
    assert (r.source["model"], r.source["serial"], r.source["firmware"]) == (
        "WDC WD10EZEX-08WN4A0", "WD-WCC4N0000001", "01.01A01",
    )  # fmt: skip
    assert r.station["host"]["station"] == "0.1.0"
    assert (
        r.smart is not None
        and r.smart.before["verdict"] == "WARNING"
        and r.smart.after["verdict"] == "FAILING"
    )
    assert "failing" in r.smart.after["words"]
    assert [(c["attribute"], c["before"], c["after"]) for c in r.smart.changed] == [
        ("pending_sectors", 0, 8), ("temperature_c", 38, 44),
    ]  # fmt: skip
    assert [run.resumed for run in r.runs] == [False, True]
    assert r.runs[0].options == {"retries": 1} and r.runs[0].phases[0].name == "copying"
    assert r.peak_rate == 9e6 and r.start == T0 and r.end == T0 + 7200 + 3600
    assert r.duration == 2 + 1  # each run's last progress: elapsed 2 s and 1 s
    assert r.speed["run_starts"] == [0.0, 2.0] and len(r.speed["t"]) == 5
    m = r.map
    assert m is not None and (m.size, m.bad, m.never_tried, m.tried_unfinished) == (
        SIZE,
        4608,
        1 << 20,
        65536,
    )
    assert m.rescued == SIZE - 4608 - (1 << 20) - 65536
    assert [(a["first_lba"], a["last_lba"], a["sectors"]) for a in m.bad_areas] == [
        (2048, 2048, 1),
        (4096, 4103, 8),
    ]
    assert {s["label"] for s in m.shares} >= {"rescued", "bad-sector", "non-tried"}
    assert len(m.cells) == m.columns * m.rows and set(m.cells) == {"+", "-", "/", "?"}
    assert r.hashes == {"sha256": "5a" * 32, "md5": "0f" * 16}


def test_the_json_is_the_same_facts(lab, tmp_path):
    r = report_of(lab)
    write_report(r, json=tmp_path / "r.json")
    d = json.loads((tmp_path / "r.json").read_text())
    assert d["image"]["case"] == "T-1041" and d["map"]["bad_areas"][1]["first_lba"] == 4096
    assert d["smart"]["changed"][0]["attribute"] == "pending_sectors"
    assert d["runs"][1]["resumed"] is True and d["peak_rate"] == 9e6


def test_the_html_is_self_contained_escaped_and_prints(lab):
    page = render_html(report_of(lab))
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched
    assert re.findall(r"url\(", page) == []
    assert "Ann &lt;Smith&gt; &amp; Co" in page and "Ann <Smith>" not in page
    assert "@media print" in page and "break-before: page" in page and "@page" in page
    for colour in (COLOURS["+"], COLOURS["-"], COLOURS["/"], COLOURS["?"]):
        assert f'fill="{colour}"' in page
    for words in ("Case", "The drive", "Drive health", "The work", "The map", "Bad areas (2)", "Integrity",
                  "The station", "5a" * 32, "T-1041", "pending", "4,096"):  # fmt: skip
        assert words in page, words


def test_bad_areas_are_numbered_as_ddrescuelog_lists_them(lab, tmp_path):
    if not shutil.which("ddrescuelog"):
        pytest.skip("GNU ddrescue is not installed")
    _, _, image, _ = lab
    listed = subprocess.run(
        ["ddrescuelog", "-b512", "-l-", str(image) + ".map"], capture_output=True, text=True, check=True
    ).stdout.split()
    r = report_of(lab)
    ours = [lba for a in r.map.bad_areas for lba in range(a["first_lba"], a["last_lba"] + 1)]
    assert ours == [int(x) for x in listed]


def test_very_many_bad_areas_are_cut_with_a_count(tmp_path):
    store = store_at(tmp_path)
    image = tmp_path / "many.img"
    m = RescueMap(SIZE, Status.FINISHED)
    for i in range(MAX_BAD_AREAS + 50):
        m.set_status(i * 4096, 512, Status.BAD_SECTOR)
    write_mapfile(str(image) + ".map", m)
    add_session(store, str(image), started=T0, size=SIZE)
    with Catalog.open(store, str(tmp_path / "c.sqlite")) as cat:
        r = build_report(cat, cat.resolve(str(image)), files=False)
    assert len(r.map.bad_areas) == MAX_BAD_AREAS and r.map.bad_areas_total == MAX_BAD_AREAS + 50
    assert "and 50 more bad areas" in render_html(r)


def test_slow_areas_kept_beside_the_map_are_drawn_listed_and_counted(lab):
    _, _, image, m = lab
    k = Knowledge(512, 64 << 10, 1 << 30)
    slow = [(4 * 1024 * 1024, 4 * 1024 * 1024 + 65536), (6 * 1024 * 1024 + 4096, 6 * 1024 * 1024 + 8192)]
    for lo, hi in slow:
        k.slow.add(lo, hi)
    save_learned(str(image) + ".map", k.to_dict())
    r = report_of(lab)
    assert r.map.slow == 65536 + 4096 and r.map.slow_areas_total == 2
    assert r.map.slow_areas[0] == {"first_lba": 8192, "last_lba": 8192 + 127, "sectors": 128, "bytes": 65536}

    def cell(pos: int) -> str:
        return r.map.cells[pos * len(r.map.cells) // SIZE]

    assert cell(4 * 1024 * 1024) == "s"  # over rescued bytes
    assert cell(6 * 1024 * 1024 + 4096) == "s"  # over never-tried bytes
    assert cell(5 * 1024 * 1024) == "+" and cell(1024 * 1024) == "-"  # elsewhere as the map says
    assert any(s["status"] == "s" and s["bytes"] == 65536 + 4096 for s in r.map.shares)
    html = render_html(r)
    assert "Slow areas (2)" in html and f'fill="{COLOURS["s"]}"' in html


def test_slow_areas_of_a_map_another_tool_wrote_since_are_not_shown(lab):
    _, _, image, m = lab
    k = Knowledge(512, 64 << 10, 1 << 30)
    k.slow.add(0, 65536)
    save_learned(str(image) + ".map", k.to_dict())
    m.set_status(0, 512, Status.BAD_SECTOR)
    write_mapfile(str(image) + ".map", m)  # as ddrescue finishing the map would
    r = report_of(lab)
    assert r.map.slow == 0 and "s" not in r.map.cells
    assert any("slow areas not shown: the map was written by another tool" in n for n in r.notes)


def test_what_cannot_be_read_becomes_a_note(tmp_path):
    store = store_at(tmp_path)
    add_session(store, str(tmp_path / "gone.img"), started=T0)
    with Catalog.open(store, str(tmp_path / "c.sqlite")) as cat:
        r = build_report(cat, cat.resolve(str(tmp_path / "gone.img")))
    assert r.map is None and r.files is None
    assert any("no mapfile" in n for n in r.notes) and any("not on this station" in n for n in r.notes)
    assert "Notes" in render_html(r)


def test_phases_from_phase_events_or_from_progress(lab):
    from station.core.events import Finished, PhaseStarted, Progress

    def progress(t: float, phase: str, pass_: int = 1) -> Progress:
        return Progress(t, phase, pass_, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0.0, 0.0, t, None, None)

    events = [
        PhaseStarted(0.0, "copying", 1, "forward"),
        progress(1, "copying"),
        PhaseStarted(5.0, "trimming", 1, "forward"),
        progress(8, "trimming"),
        Finished(9.0, "finished", "done"),
    ]
    assert [(p.name, p.start, p.end) for p in phases(events)] == [("copying", 0, 5), ("trimming", 5, 9)]
    from_progress = [progress(0, "copying"), progress(3, "scraping"), progress(4, "finished")]
    assert [(p.name, p.seconds) for p in phases(from_progress)] == [("copying", 3), ("scraping", 1)]

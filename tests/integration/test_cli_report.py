"""`station report` end to end: a real rescue of an ext4 disk with a damaged file, the report as
HTML, JSON and PDF, rendered by a real headless Chromium (a screenshot that shows the map) and
read back with pdfinfo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fsimages import ext_truth, have, make_ext

from station.report.chromium import screenshot
from station.report.svg import COLOURS

MiB = 1024 * 1024
FILES = {"/docs/thesis.txt": 300_000, "/docs/notes.txt": 20_000, "/photos/cat.jpg": 150_000}

needs_browser = pytest.mark.skipif(
    not shutil.which("chromium") or not shutil.which("pdfinfo"),
    reason="needs chromium and pdfinfo (Debian: chromium, poppler-utils; scripts/test installs them)",
)


@pytest.fixture
def rescued(tmp_path: Path, kit):
    """An ext4 disk imaged through a test map that makes part of thesis.txt unreadable."""
    if not have("mkfs.ext4", "debugfs"):
        pytest.skip("needs e2fsprogs")
    source = tmp_path / "source.img"
    make_ext(source, 8 * MiB, FILES, block_size=1024)
    lo, _ = ext_truth(source, "/docs/thesis.txt", 1024)[0]
    damage = [(lo + 4096, 2048, "-"), (6 * MiB, 8192, "-")]
    kit.write_test_map(tmp_path / "test.map", 8 * MiB, damage)
    r = kit.station("image", "-q", "-H", "test.map", "source.img", "disk.img", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = kit.station("label", "disk.img", "--case", "T-2207", "--customer", "Dr. Ann Smith", "--label",
                    "thesis laptop", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return tmp_path


def test_report_json_has_the_facts_and_the_files_hit(kit, rescued):
    r = kit.station("report", "disk.img", "--json", "r.json", "--html", "r.html", cwd=rescued)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["r.html", "r.json"]
    d = json.loads((rescued / "r.json").read_text())
    assert (d["image"]["case"], d["image"]["customer"]) == ("T-2207", "Dr. Ann Smith")
    assert d["map"]["bad"] == 2048 + 8192 and d["map"]["bad_areas_total"] == 2
    assert d["map"]["bad_areas"][1] == {"first_lba": 12288, "last_lba": 12303, "sectors": 16, "bytes": 8192}
    files = d["files"]["files"]
    assert files[0]["path"] == "/docs/thesis.txt" and files[0]["affected_bytes"] == 2048
    assert d["runs"][0]["phases"] and d["peak_rate"] > 0 and d["station"]["host"]["station"]
    page = (rescued / "r.html").read_text()
    assert "/docs/thesis.txt" in page and "T-2207" in page and "12,288" in page


def test_report_without_outputs_goes_to_the_reports_folder(kit, rescued, xdg_data_home):
    r = kit.station("report", "disk.img", "--no-files", cwd=rescued)
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip())
    assert path.parent == xdg_data_home / "station" / "reports" and path.suffix == ".html"
    assert "thesis laptop" in path.read_text()


@needs_browser
def test_chromium_renders_the_map_and_prints_a_pdf(kit, rescued):
    r = kit.station("report", "disk.img", "--html", "r.html", "--pdf", "r.pdf", cwd=rescued, timeout=240)
    assert r.returncode == 0, r.stderr
    info = subprocess.run(
        ["pdfinfo", str(rescued / "r.pdf")], capture_output=True, text=True, check=True
    ).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert 2 <= pages <= 12
    assert "A4" in info or "595.92 x 842.88" in info or "595 x 842" in info.replace(".", " ")

    from PIL import Image

    png = rescued / "shot.png"
    screenshot(rescued / "r.html", png, width=1000, height=2600)
    with Image.open(png) as im:
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
    counts = {c: n for n, c in colours}
    total = sum(counts.values())
    white = counts.get((255, 255, 255), 0)
    assert white < 0.95 * total, "the page is blank"
    assert len(counts) > 50, "no text or pictures drawn"

    def rgb_of(hex_colour: str) -> tuple[int, int, int]:
        return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]

    assert counts.get(rgb_of(COLOURS["+"]), 0) > 20_000, "no rescued (green) area on the map"
    assert counts.get(rgb_of(COLOURS["-"]), 0) > 50, "no bad (red) cell on the map"


def test_pdf_without_chromium_is_one_line_and_writes_nothing(kit, rescued):
    env_path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not _has_chromium(p))
    r = subprocess.run(
        [*kit.STATION, "report", "disk.img", "--html", "r.html", "--pdf", "r.pdf"],
        cwd=rescued, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PATH": env_path, "STATION_CHROMIUM": ""},
    )  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "needs Chromium" in r.stderr and "apt-get install chromium" in r.stderr
    assert not (rescued / "r.html").exists() and not (rescued / "r.pdf").exists()


def _has_chromium(directory: str) -> bool:
    return any(
        os.path.exists(os.path.join(directory, n)) for n in ("chromium", "chromium-browser", "google-chrome")
    )

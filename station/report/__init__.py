"""The report of an image for the customer and the lab: HTML (self-contained), JSON, PDF.

    report = build_report(catalog, catalog.resolve("disk.img"))
    write_report(report, html=Path("r.html"), json=Path("r.json"), pdf=Path("r.pdf"))

One model (station.report.model) gathered once, drawn as HTML (station.report.html, pictures in
station.report.svg), dumped as JSON, and printed to PDF by headless Chromium
(station.report.chromium).
"""

from __future__ import annotations

import json as json_
import os
import tempfile
from pathlib import Path

from station.report.chromium import ChromiumMissing, RenderError, find_chromium, print_pdf
from station.report.html import render_html
from station.report.model import Report, build_report

__all__ = [
    "ChromiumMissing", "RenderError", "Report", "build_report", "default_report_path", "render_html",
    "write_report",
]  # fmt: skip


def default_report_path(image_id: str) -> Path:
    """Where a report goes when no file is named (the CLI's default, the workstation's):
    $XDG_DATA_HOME/station/reports/IMAGE.html."""
    from station.core.session import data_home

    return data_home() / "station" / "reports" / f"{image_id}.html"


def _write(path: Path, text: str) -> None:
    """Write a whole file or leave the old one: a half-written report is never left behind."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_report(
    report: Report, *, html: Path | None = None, json: Path | None = None, pdf: Path | None = None
) -> list[Path]:
    """Write the forms asked for; the paths written.  ChromiumMissing before anything is written
    when a PDF is asked for and Chromium is not there."""
    if pdf is not None:
        find_chromium()
    written: list[Path] = []
    page = render_html(report)
    if html is not None:
        _write(html, page)
        written.append(html)
    if json is not None:
        _write(json, json_.dumps(report.to_json(), indent=2, default=str) + "\n")
        written.append(json)
    if pdf is not None:
        if html is not None:
            print_pdf(html, pdf)
        else:
            with tempfile.TemporaryDirectory(prefix="station-report-") as d:
                source = Path(d) / "report.html"
                source.write_text(page, encoding="utf-8")
                print_pdf(source, pdf)
        written.append(pdf)
    return written

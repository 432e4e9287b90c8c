"""PDF (and PNG screenshots, for the tests) of a report through headless Chromium.

Chromium prints the HTML exactly as a browser shows it, print CSS included, so the PDF needs no
second renderer to keep in step.  It runs with a throwaway profile, no network services, and a
timeout (it is killed, with its helpers, if it does not finish).  Debian: `apt-get install
chromium`; where it is missing, `ChromiumMissing` says so in one line.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT = 120.0  # seconds: a long report prints in a few


class RenderError(Exception):
    """Chromium could not make the file; the message is one line."""


class ChromiumMissing(RenderError):
    pass


def find_chromium() -> str:
    """The Chromium to run ($STATION_CHROMIUM, else the first of NAMES on PATH)."""
    given = os.environ.get("STATION_CHROMIUM")
    if given:
        if shutil.which(given):
            return given
        raise ChromiumMissing(f"STATION_CHROMIUM={given}: no such program")
    for name in NAMES:
        if shutil.which(name):
            return name
    raise ChromiumMissing("--pdf needs Chromium, which is not installed (Debian: apt-get install chromium)")


def _run(args: list[str], out: Path, timeout: float) -> None:
    with tempfile.TemporaryDirectory(prefix="station-chromium-") as profile:
        cmd = [
            find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile}", *args,
        ]  # fmt: skip
        out.unlink(missing_ok=True)
        p = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            cwd=profile,
        )
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)  # its renderer and GPU helpers too
            p.communicate()
            raise RenderError(f"Chromium did not finish within {timeout:.0f} s (killed)") from None
        if not out.is_file() or out.stat().st_size == 0:
            last = [line for line in (err or "").splitlines() if line.strip()][-1:] or ["no output"]
            raise RenderError(
                f"Chromium made no {out.suffix[1:].upper()} (exit {p.returncode}: {last[0][:200]})"
            )


def print_pdf(html: Path, out: Path, *, timeout: float = TIMEOUT) -> None:
    """Print the HTML file to a PDF (A4, as the report's print CSS asks), without headers and footers."""
    _run(["--no-pdf-header-footer", f"--print-to-pdf={out.resolve()}", html.resolve().as_uri()], out, timeout)


def screenshot(
    html: Path, out: Path, *, width: int = 1000, height: int = 1600, timeout: float = TIMEOUT
) -> None:
    """A PNG of the page as a browser window of this size shows it."""
    _run(
        [f"--window-size={width},{height}", f"--screenshot={out.resolve()}", html.resolve().as_uri()],
        out,
        timeout,
    )

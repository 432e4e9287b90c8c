"""Fixtures shared by the unit and integration tests.

`fake_smartctl`: a stand-in `smartctl` first on PATH (tests/data/smart/smartctl, a shell script)
that prints recorded outputs of real drives, so pySMART's real parsers run on real text.  The
recordings of healthy drives come from the shared smartctl samples; failing drives are derived
from them here, by editing exactly the lines a failing drive shows differently (the overall
verdict, attribute rows, NVMe and SAS health lines), so each test says what is wrong with its
drive.  The environment is set for this process and inherited by `station` subprocesses.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pgserver
import pytest
from pgserver import PgServer

DATA = Path(__file__).parent / "data" / "smart"


def recording_name(args: str) -> str:
    """The file name of a recording: '-d ata --all /dev/sda' -> '_-d_ata_--all__dev_sda'."""
    return "".join("_" + a for a in args.split()).replace("/", "_")


class FakeSmartctl:
    """The stand-in's recordings directory and the derivations of failing drives."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.dir = root / "recordings"
        self.log = root / "smartctl-calls.log"
        self.bin.mkdir(parents=True)
        self.dir.mkdir()
        (self.bin / "smartctl").symlink_to(DATA / "smartctl")

    # -- recordings ------------------------------------------------------------------------------

    def add(self, *drives: str) -> None:
        """Install every recording of tests/data/smart/<drive> (ata_hdd, nvme, errors, ...)."""
        for drive in drives:
            for f in (DATA / drive).iterdir():
                shutil.copy(f, self.dir / f.name)

    def put(self, args: str, text: str, rc: int = 0) -> None:
        """Make `smartctl ARGS` print text and exit with rc (replacing any earlier recording)."""
        name = recording_name(args)
        tmp = self.dir / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(self.dir / name)  # atomic: a poll in progress sees the old or the new text
        rc_file = self.dir / f"{name}.rc"
        if rc:
            rc_file.write_text(f"{rc}\n")
        else:
            rc_file.unlink(missing_ok=True)

    def text(self, args: str) -> str:
        return (self.dir / recording_name(args)).read_text()

    def copy(self, args: str, to_args: str, text: str | None = None, rc: int = 0) -> None:
        """A recording for another device path, from an existing one (device names replaced)."""
        src_dev, dst_dev = args.split()[-1], to_args.split()[-1]
        body = (text if text is not None else self.text(args)).replace(src_dev, dst_dev)
        self.put(to_args, body, rc)

    def hang(self, args: str) -> Path:
        """Make `smartctl ARGS` never answer; returns the file its child's pid will be in."""
        (self.dir / f"{recording_name(args)}.hang").write_text("")
        return self.dir / f"{recording_name(args)}.hang.pid"

    def flood(self, args: str) -> None:
        """Make `smartctl ARGS` write without end."""
        (self.dir / f"{recording_name(args)}.flood").write_text("")

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    # -- deriving failing drives -------------------------------------------------------------------

    @staticmethod
    def set_health(text: str, verdict: str) -> str:
        """Change the drive's own verdict (ATA/NVMe: PASSED/FAILED!; SCSI: OK or a reason)."""
        out, n = re.subn(r"(SMART overall-health self-assessment test result: ).*", rf"\g<1>{verdict}", text)
        if not n:
            out, n = re.subn(r"(SMART Health Status: ).*", rf"\g<1>{verdict}", text)
        assert n == 1, "no health line to change"
        return out

    @staticmethod
    def set_attr(
        text: str,
        number: int,
        raw: str | int,
        *,
        name: str | None = None,
        value: int | None = None,
        worst: int | None = None,
        thresh: int | None = None,
        when_failed: str | None = None,
    ) -> str:
        """Rewrite (or add) ATA attribute `number` in smartctl's own column layout."""
        row = re.compile(
            rf"^\s*{number}\s+(\S+)\s+(0x[0-9a-f]+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(.+)$",
            re.M,
        )
        m = row.search(text)
        if m:
            old = list(m.groups())
        else:
            old = [
                name or f"Attribute_{number}",
                "0x0032",
                "100",
                "100",
                "000",
                "Old_age",
                "Always",
                "-",
                "0",
            ]
        fields = [
            name or old[0],
            old[1],
            f"{value:03d}" if value is not None else old[2],
            f"{worst:03d}" if worst is not None else old[3],
            f"{thresh:03d}" if thresh is not None else old[4],
            old[5],
            old[6],
            when_failed or old[7],
            str(raw),
        ]
        line = "{:>3} {:<23} {}   {}   {}   {:<6} {:<9} {:<8} {:>11}       {}".format(number, *fields)
        if m:
            return text[: m.start()] + line + text[m.end() :]
        rows = list(re.finditer(r"^\s*\d+ \S+\s+0x[0-9a-f]{4}\s.*$", text, re.M))
        assert rows, "no attribute table"
        at = rows[-1].end()
        return text[:at] + "\n" + line + text[at:]

    @staticmethod
    def set_line(text: str, label: str, value: str) -> str:
        """Rewrite the value of the first 'label:' line, keeping its alignment."""
        pattern = re.compile(rf"^({re.escape(label)}\s*:?\s*).*$", re.M)
        out, n = pattern.subn(lambda m: m.group(1) + value, text, count=1)
        assert n == 1, f"no line {label!r}"
        return out


@pytest.fixture
def fake_smartctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSmartctl]:
    """A stand-in smartctl first on PATH, with no recordings yet (use .add / .put)."""
    fake = FakeSmartctl(tmp_path / "fake-smartctl")
    monkeypatch.setenv("PATH", f"{fake.bin}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_SMARTCTL_DIR", str(fake.dir))
    monkeypatch.setenv("FAKE_SMARTCTL_LOG", str(fake.log))
    yield fake


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server of the tests' own (tests/pgserver.py), skipped where none can run."""
    why = pgserver.unavailable()
    if why is not None:
        pytest.skip(why)
    server = PgServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The catalog's database, once as the per-user SQLite file and once on a PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "catalog.sqlite")
    return request.getfixturevalue("pg_server").database()

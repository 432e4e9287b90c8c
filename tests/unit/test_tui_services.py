"""The workstation's services (station/tui/services.py): what the screens share, without Textual."""

from __future__ import annotations

from pathlib import Path

from station.core.session import SessionStore
from station.jobs.drives import Attached, Drive
from station.tui.services import LocalDrives, Services

IMAGER = Attached("imager", "serial-imager", "/dev/ttyACM0", "emulated imager")
RELAY = Attached("relay", "lcus", "/dev/ttyUSB0", "LCUS-1")


def services(tmp_path: Path) -> Services:
    return Services.create(
        store=SessionStore(tmp_path / "sessions"), scan=lambda: [], virtual=[], health=None, attached=[],
        smart=None, image_dir=tmp_path / "images",
    )  # fmt: skip


def test_what_is_given_is_kept_and_the_rest_defaults(tmp_path: Path) -> None:
    s = services(tmp_path)
    assert s.health is None and s.smart is None and s.attached == [] and s.scan() == []
    assert s.image_dir == tmp_path / "images" and s.relay_settings is not None
    assert s.ports == [] and s.devices == []


def test_a_busy_imager_stays_listed_as_last_seen(tmp_path: Path) -> None:
    s = services(tmp_path)
    s.discovered([IMAGER, RELAY], busy=set())
    s.discovered([RELAY], busy={IMAGER.spec})  # running this app's hand-off: it cannot answer
    assert s.devices == [RELAY, IMAGER]
    s.discovered([RELAY], busy=set())
    assert s.devices == [RELAY]


def test_a_port_named_by_hand_is_kept_for_rescans(tmp_path: Path) -> None:
    s = services(tmp_path)
    s.discovered([RELAY], busy=set())
    s.attached_at("/dev/ttyACM0", [IMAGER])
    s.attached_at("/dev/ttyACM0", [IMAGER])
    assert s.ports == ["/dev/ttyACM0"] and s.devices == [RELAY, IMAGER]


def test_virtual_drives_are_listed_once(monkeypatch) -> None:
    calls = []
    drive = Drive(path="demo", kind="virtual", size=1 << 20)

    def provider() -> list[Drive]:
        calls.append(1)
        return [drive]

    monkeypatch.setattr("station.tui.services.scan_drives", lambda virtual: [d for v in virtual for d in v()])
    local = LocalDrives([provider])
    assert local() == [drive] and local() == [drive] and len(calls) == 1

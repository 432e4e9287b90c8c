"""The drive list says what each drive is, whole: a loop device is no 'fixed HDD', a SMART verdict
read after the list was drawn is never cut to `UNKNO`."""

from __future__ import annotations

from tuikit import SPARE, run, screen_text, wait_for

from station.health.badge import HealthBadge
from station.jobs.drives import Drive

LOOP = Drive(
    path="/dev/loop7", kind="block", size=64 << 20, name="loop7", rotational=None,
    description="loop device over /srv/target.bin",
)  # fmt: skip


def unknown(d: Drive) -> HealthBadge:
    return HealthBadge("UNKNOWN", (f"{d.path}: not a drive smartctl can talk to",))


def test_loop_devices_and_late_badges_are_shown_whole(make_app) -> None:
    app = make_app([SPARE, LOOP], health=unknown)

    async def go() -> str:
        async with app.run_test(size=(160, 30)) as pilot:
            table = app.screen.query_one("#drives")
            await wait_for(pilot, lambda: "UNKNOWN" in str(table.get_cell("/dev/loop7", "smart")), 5)
            await pilot.pause(0.2)
            return screen_text(app)

    text = run(go())
    row = next(line for line in text.splitlines() if "/dev/loop7" in line)
    assert "loop device" in row and "HDD" not in row, row
    assert "UNKNOWN" in row, row

"""SMART in the workstation, through station.health and the stand-in smartctl: badges, the
pre-flight summary, and the same before/during/after polling as `station image`, its holds
shown on the live screen and released from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from textual.widgets import DataTable, Static
from tuikit import run, text_of, wait_for

from station.health.monitor import MonitorLimits
from station.health.watch import HealthOptions
from station.jobs.drives import Drive
from station.sim.scripted import ScriptedSource
from station.tui.screens.live import LiveScreen
from station.tui.screens.new_session import NewSessionScreen

MiB = 1 << 20
ATA = "-d ata --all /dev/sdau"


def sdau(size: int = 8 * MiB, rate: float = 0.0) -> Drive:
    """A drive the kernel would call /dev/sdau (as smartctl's recording does); reads from a scripted
    drive presented as that block device, really taking time at `rate` bytes/s."""

    def opener() -> ScriptedSource:
        src = ScriptedSource(size, rate=rate, real_sleep=1.0 if rate else 0.0, model="OOS12000G")
        src.identity = dataclasses.replace(src.identity, kind="block", path="/dev/sdau")
        return src

    return Drive(path="/dev/sdau", kind="block", size=size, model="OOS12000G", serial="00008AXB", name="sdau",
                 opener=opener)  # fmt: skip


def at_temperature(fake, text: str, temp: int) -> str:
    text = fake.set_attr(text, 190, f"{temp} (Min/Max 22/{temp})")
    return fake.set_attr(text, 194, f"{temp} (0 16 0 0 0)")


def fast_polls(**kw) -> HealthOptions:
    return HealthOptions(limits=MonitorLimits(interval=0.1, paused_interval=0.1, timeout=10, **kw))


def test_a_failing_drive_shows_its_badge_and_reasons_before_imaging(make_app, fake_smartctl) -> None:
    fake_smartctl.add("ata_hdd")
    fake_smartctl.put(ATA, fake_smartctl.set_attr(fake_smartctl.text(ATA), 197, 8))
    app = make_app([sdau()], health="default")  # station.health.badge.drive_badge, as `station` runs

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            table = app.screen.query_one("#drives", DataTable)
            await wait_for(pilot, lambda: "FAILING" in str(table.get_cell("/dev/sdau", "smart")), 10, "badge")
            detail = text_of(app.screen.query_one("#drive-detail", Static))
            assert "SMART FAILING: 8 sectors pending reallocation (197)" in detail
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, NewSessionScreen)
            box = app.screen.query_one("#preflight", Static)
            await wait_for(pilot, lambda: "pre-flight SMART: FAILING" in text_of(box), 10, "pre-flight")
            said = " ".join(text_of(box).split())
            assert "8 sectors pending reallocation (197)" in said
            assert "no filesystem checks" in said, "the advice that goes with the verdict"

    run(go())


def test_a_hot_drive_holds_the_session_until_it_cools(make_app, fake_smartctl, tmp_path: Path) -> None:
    fake_smartctl.add("ata_hdd")
    healthy = fake_smartctl.text(ATA)
    fake_smartctl.put(ATA, at_temperature(fake_smartctl, healthy, 65))
    app = make_app([sdau(rate=4 * MiB)], smart=fast_polls(max_temp=60, cool_margin=3))
    image = tmp_path / "hot.img"

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await pilot.press("enter")
            await pilot.pause()
            app.screen.query_one("#image-path").value = str(image)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen), 5, "the live screen")
            live = app.live
            title = app.screen.query_one("#job-title", Static)
            await wait_for(pilot, lambda: "PAUSED" in text_of(title), 10, "the SMART hold")
            assert "65 °C, above the limit of 60 °C" in text_of(title)
            smart = app.screen.query_one("#smart", Static)
            await wait_for(pilot, lambda: "now: WARNING" in text_of(smart), 5, "a poll on the screen")
            assert "SMART before: WARNING" in text_of(smart) and "°C 65" in text_of(smart)
            await pilot.press("p")  # the technician cannot talk a hot drive out of its hold
            await pilot.pause(0.5)
            assert live.state == "paused" and live.control.paused
            held = live.progress.rescued
            fake_smartctl.put(ATA, at_temperature(fake_smartctl, healthy, 50))
            await wait_for(pilot, lambda: live.state == "running", 10, "resumed once cooled")
            assert any(line.endswith("resumed") for line in live.log)
            await wait_for(pilot, lambda: not live.running, 20, "the job's end")
            assert live.result.outcome == "finished" and live.result.summary.rescued > held
            assert "now: GOOD" in text_of(app.screen.query_one("#smart", Static))

    run(go())
    (rec,) = [s.record for s in app.store.list()]
    smart = rec.smart
    assert smart.state == "on" and smart.device == "/dev/sdau"
    assert smart.before.verdict == "WARNING" and smart.after.verdict == "GOOD"
    assert smart.polling["polls"] >= 2 and "temperature c 65 → 50" in smart.changes
    assert rec.drive["serial"] == "00008AXB" and rec.drive["source"] == "smart"


def test_resume_accepts_grown_pending_sectors(make_app, fake_smartctl, tmp_path: Path) -> None:
    fake_smartctl.add("ata_hdd")
    healthy = fake_smartctl.text(ATA)
    app = make_app([sdau(rate=4 * MiB)], smart=fast_polls(max_pending_growth=5))

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await pilot.press("enter")
            await pilot.pause()
            app.screen.query_one("#image-path").value = str(tmp_path / "pending.img")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen), 5, "the live screen")
            live = app.live
            await wait_for(pilot, lambda: live.smart_polls >= 1, 10, "a first poll")
            fake_smartctl.put(ATA, fake_smartctl.set_attr(healthy, 197, 9))
            await wait_for(pilot, lambda: live.state == "paused", 10, "the pending-sector hold")
            assert "pending sectors grew by 9" in text_of(app.screen.query_one("#job-title", Static))
            await pilot.press("p")  # accept the new count: it becomes the baseline
            await wait_for(pilot, lambda: live.state == "running", 5, "resumed")
            assert any("accepted as the new baseline" in line for line in live.log)
            await pilot.pause(0.5)  # later polls see the same count: no new hold
            assert not live.control.paused
            live.stop()
            await wait_for(pilot, lambda: not live.running, 10)

    run(go())


def test_virtual_drives_have_no_smart_in_their_session(make_app, fake_smartctl, tmp_path: Path) -> None:
    from tuikit import virtual_drive

    app = make_app([virtual_drive()], health="default")

    async def go():
        async with app.run_test(size=(140, 44)) as pilot:
            await pilot.press("enter")
            await pilot.pause()
            assert "virtual drive has no SMART" in text_of(app.screen.query_one("#preflight", Static))
            app.screen.query_one("#image-path").value = str(tmp_path / "v.img")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: app.live is not None and not app.live.running, 20, "the job's end")

    run(go())
    (rec,) = [s.record for s in app.store.list()]
    assert rec.smart.state == "off"
    assert fake_smartctl.calls() == [], "smartctl is never asked about a virtual drive"

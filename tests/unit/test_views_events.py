"""Events in words: the one text the workstation's logs and `station image`'s notes share."""

from __future__ import annotations

from station.core import events as ev
from station.views.events import clock_text, describe


def test_each_event_worth_a_line_has_one() -> None:
    assert describe(ev.PhaseStarted(1.0, "copying", 1, "forward")) == "copying pass 1 (forward)"
    assert (
        describe(ev.ReadFailed(2.0, 0x10000, 65536, "EIO", "copying")) == "read error at 0x10000 (66 kB): EIO"
    )
    assert describe(ev.ReadHung(3.0, 0x200, 512, 30.0)) == "read at 0x200 hung for 30 s; source reopened"
    assert describe(ev.SourceReopened(3.5, "after a hung read")) == "source reopened after a hung read"
    assert describe(ev.PowerCycled(4.0, "hung read", 2, "back as /dev/sdc")) == (
        "power cycle 2 (hung read): back as /dev/sdc"
    )
    assert describe(ev.MapSaved(5.0, "x.map", 7)) == "map saved (7 fragments)"
    assert describe(ev.Paused(6.0, ["smart", "technician"])) == "paused: smart, technician"
    assert describe(ev.Paused(6.0, [])) == "paused: on request"
    assert describe(ev.Resumed(7.0)) == "resumed"
    assert describe(ev.Notice(8.0, "options changed: retry passes 2")) == "options changed: retry passes 2"
    assert describe(ev.Finished(9.0, "finished", "rescue finished")) == "finished: rescue finished"


def test_progress_and_smart_polls_are_not_log_lines() -> None:
    p = ev.Progress(1.0, "copying", 1, 0, 100, 0, 100, 0, 0, 0, 0, 0, 0.0, 0.0, 1.0, None, None)
    assert describe(p) is None
    assert describe(ev.SmartPolled(2.0, "GOOD", {"temperature_c": 40})) is None


def test_clock_text() -> None:
    assert clock_text(0) == "00:00:00" and clock_text(3725.9) == "01:02:05"

"""Events in JSON: `pass` as a reader of `--json` and events.jsonl expects it, and the `pass_`
that earlier versions wrote still read."""

from __future__ import annotations

import json

from station.core.events import PhaseStarted, Progress, event_from_dict

P = Progress(1.0, "trimming", 2, 4096, 10**6, 5 * 10**5, 0, 5 * 10**5, 0, 0, 1, 1, 1e5, 1e5, 1.0, 0.5, None)


def test_the_json_form_says_pass() -> None:
    d = P.to_dict()
    assert d["pass"] == 2 and "pass_" not in d and d["kind"] == "progress"
    assert PhaseStarted(0.0, "copying", 3, "reverse").to_dict()["pass"] == 3
    assert event_from_dict(json.loads(json.dumps(d))) == P


def test_logs_of_earlier_versions_are_read() -> None:
    old = {**{k: v for k, v in P.to_dict().items() if k != "pass"}, "pass_": 2}
    assert event_from_dict(old) == P
    assert event_from_dict(
        {"kind": "phase", "t": 0.0, "phase": "copying", "pass_": 1, "direction": "forward"}
    ) == (PhaseStarted(0.0, "copying", 1, "forward"))

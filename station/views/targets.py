"""The targets of a restore or a clone as rows, folded from the job's events (no Textual, no rich).

`TargetsProgress` (about once a second) carries every target's counters; `TargetState` says when
one changes state (writing, failed and why, reading back, verified, MISMATCH...).  The CLI's
display and the workstation's deploy screen both keep a `TargetBoard`.
"""

from __future__ import annotations

from dataclasses import dataclass

from station.core.events import Event, TargetsProgress, TargetState

BAD_STATES = frozenset({"failed", "stalled", "dropped", "MISMATCH", "unreadable", "stopped"})


@dataclass
class TargetRow:
    """One target as a view shows it."""

    target: str
    state: str = "pending"
    done: int = 0  # bytes written (then, while it is read back, bytes checked)
    total: int = 0
    rate: float = 0.0  # bytes per second
    detail: str = ""  # why it failed, or what its check found

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def bad(self) -> bool:
        return self.state in BAD_STATES


class TargetBoard:
    """Every target's latest row, in the order the job first named them."""

    def __init__(self) -> None:
        self.rows: dict[str, TargetRow] = {}

    def take(self, e: Event) -> bool:
        """Fold one event in; True if a row changed."""
        if isinstance(e, TargetsProgress):
            for r in e.rows:
                row = self._row(str(r.get("target", "")))
                row.state = str(r.get("state", row.state))
                row.done, row.total = int(r.get("done", 0)), int(r.get("total", 0))
                row.rate = float(r.get("rate", 0.0))
            return True
        if isinstance(e, TargetState):
            row = self._row(e.target)
            row.state, row.detail = e.state, e.detail or row.detail
            return True
        return False

    def _row(self, target: str) -> TargetRow:
        row = self.rows.get(target)
        if row is None:
            row = self.rows[target] = TargetRow(target)
        return row

    def ordered(self) -> list[TargetRow]:
        return list(self.rows.values())

"""Imaging by head: one head's data first, a head left for last, or a head not read at all.

A technician who sees a head going bad (the head map) reads the others while they last, or that
one first while it still reads.  Where the head layout is known (station.rescue.heads: from what
an earlier run kept, or learned in copying pass 1 of this one), the domain is cut into stages,
each run through the whole plan: the chosen-first heads, then the rest, then the left-for-last
heads; skipped heads are in none.  Where no head pattern was learned (no zone), the bytes belong
to the rest: a head can only be told apart where its bands were seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from station.core.ranges import Range, intersect, subtract
from station.rescue.heads import HeadLayout, head_layout
from station.rescue.options import RescueOptions
from station.rescue.state import RunState


@dataclass(frozen=True)
class Stage:
    label: str
    ranges: list[Range]


class Restage(Exception):
    """The head options changed between passes: stage the plan anew from PLAN[step]."""

    def __init__(self, step: int) -> None:
        super().__init__(step)
        self.step = step


def head_choice(opts: RescueOptions) -> tuple[tuple[int, ...], ...]:
    """What the options ask of the heads (all empty: nothing, the plain plan); with the head count,
    which changes the layout."""
    picks = tuple(tuple(getattr(opts, name) or ()) for name in ("head_first", "head_last", "head_skip"))
    return (*picks, (opts.heads,) if any(picks) and opts.heads else ())


def wants_heads(opts: RescueOptions) -> bool:
    return any(head_choice(opts))


def layout_of(state: RunState) -> HeadLayout | None:
    k = state.knowledge
    return head_layout(k.areas.patterns, k.slow_areas.patterns, state.opts.heads)


def stages(opts: RescueOptions, layout: HeadLayout, domain: list[Range]) -> tuple[list[Stage], list[Range]]:
    """The stages over `domain` (empty ones left out), and the whole domain without skipped heads."""
    first = layout.ranges(set(opts.head_first or []))
    last = layout.ranges(set(opts.head_last or []))
    skip = layout.ranges(set(opts.head_skip or []))
    kept = subtract(domain, skip)
    out = [
        Stage(_label("first", opts.head_first), intersect(kept, first)),
        Stage("the other heads", subtract(subtract(kept, first), last)),
        Stage(_label("last", opts.head_last), intersect(kept, last)),
    ]
    return [s for s in out if s.ranges], kept


def _label(when: str, heads: list[int] | None) -> str:
    return f"head {', '.join(map(str, heads or []))} {when}"

"""Bad (or slow) areas that recur at a period: a comb of teeth along the disk.

A dead head leaves one stretch per band of the serpentine layout (one tooth per period); two dead
heads leave two teeth of their own widths per period; a radial scratch leaves a short stretch at
the same angle of every track its heads read (one tooth per track, absent on the other heads'
tracks).  All of these are a comb: a period and a few teeth, each a phase and a width.

`fit_comb` finds the comb that explains most of the areas recently met, from their starts alone:
candidate periods are the distances between nearby starts, and a period fits when at least 70%
of the starts fall on teeth met at least twice (so a stray bad sector does not break a pattern,
and a pattern is never guessed from one coincidence), the latest among them.  Over the longest
run of recent areas that fits (a zone with another period is learned afresh), the period that
puts most areas on teeth wins, then the one with fewest teeth, then the one they stray least
from; a period is measured over the whole span of its teeth's areas.

When the drive passes into its next zone (fewer or more sectors per track) a pattern stops holding
all at once; every band and every head's stretch there is the old one scaled by the zone's ratio.
`rescaled` fits the last pattern, scaled, to the first areas measured in the new zone, so the
pattern is predicted again after one area instead of three periods.

Positions are measured in the pass's direction: `t` grows along the pass, so one fit serves a
forward and a reverse pass alike.  Pure functions: nothing here reads or decides.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

FIT_SHARE = 0.7  # at least this share of the areas must lie on teeth
LOOSE_SHARE = 0.8  # ... of areas whose starts were found by cluster reads
MAX_TEETH = 4  # more teeth than this per period is not a pattern worth predicting
MAX_COVER = 0.55  # teeth may cover at most this share of a period (a forward dead head: half)
MIN_PERIOD_TOLERANCES = 4  # a period must be this many times the tolerance of the starts
SMALLER = 8  # areas this many times shorter than a tooth do not count against a pattern
NEAR = 6  # candidate periods: distances between starts up to this many areas apart
DRIFT_SECTORS = 4
GAP_PERIODS = 8  # a tooth's areas at most this many periods apart
REACH = 64  # periods past a tooth's latest area that it is still predicted
SCALES = (0.75, 1.33)  # a new zone's sectors per track against the last learned zone's, at most
SCALE_SLACK = 0.01  # a scaled width is jumped with this much to spare (landing past is cheap)
SCALE_FIT = 0.03  # an area confirms a scaled tooth when its length is within this share


@dataclass(frozen=True)
class Mark:
    """An area as the comb sees it: where it began (in the pass's direction) and how long it was."""

    t: int
    length: int
    exact: bool  # its start is exact to the sector
    measured: bool = True  # its length too
    slack: int = 0  # a loose start: how far from it the area may begin (0: a cluster)


@dataclass(frozen=True)
class Tooth:
    """One recurring area: its latest start, the widths measured on it, how often it was met."""

    last: int  # the latest member's start (t)
    width: int  # median of its members' lengths (exact ones if any)
    widest: int  # the longest of them (what a jump trusts)
    members: int
    measured: int  # members whose length was measured exactly


@dataclass(frozen=True)
class Comb:
    period: int
    teeth: tuple[Tooth, ...]
    tolerance: int  # how far a start may be from its tooth's phase
    marks: int = 0  # how many of the latest areas it was fitted to
    share: float = 0.0  # the share of them that lie on its teeth
    spread: int = 0  # how far they stray from it

    def next_start(self, t: int) -> tuple[int, Tooth] | None:
        """The first predicted start at or after `t`, and its tooth (None: nothing met recently)."""
        best: tuple[int, Tooth] | None = None
        for tooth in self.teeth:
            k = max(0, -(-(t - tooth.last) // self.period))
            nxt = tooth.last + k * self.period
            if k > REACH:  # far beyond anything met: the pattern may have ended
                continue
            if best is None or nxt < best[0]:
                best = (nxt, tooth)
        return best

    def tooth_at(self, t: int) -> Tooth | None:
        """The tooth whose phase `t` falls on (within the tolerance), if any."""
        for tooth in self.teeth:
            off = (t - tooth.last) % self.period
            if min(off, self.period - off) <= self.tolerance:
                return tooth
        return None


def tolerance(marks: Sequence[Mark], period: int, sector: int, cluster: int) -> int:
    """How far starts may stray from their phase: a few sectors and a thousandth of the period (a
    scratch is not quite radial) when they are exact, else twice the loosest start's slack (the
    read that failed on it: a cluster, or the smaller reads near short areas)."""
    if all(m.exact for m in marks):
        return DRIFT_SECTORS * sector + period // 1000
    return 2 * max(m.slack or cluster for m in marks if not m.exact)


def fit_comb(marks: Sequence[Mark], sector: int, cluster: int) -> Comb | None:
    """The comb that explains the longest recent run of `marks` (oldest first), or None."""
    for n in range(len(marks), 2, -1):
        tail = marks[-n:]
        fits = [c for p in _candidates(tail) if (c := _try(tail, p, sector, cluster)) is not None]
        if fits:  # the one that explains most areas, with the fewest teeth, at the shortest period
            return max(fits, key=lambda c: (c.share, -len(c.teeth), -c.spread, -c.period))
    return None


def _candidates(marks: Sequence[Mark]) -> list[int]:
    """Distances between starts up to NEAR areas apart."""
    out = set()
    for i, a in enumerate(marks):
        for b in marks[i + 1 : i + 1 + NEAR]:
            if b.t > a.t:
                out.add(b.t - a.t)
    return sorted(out)


def _try(marks: Sequence[Mark], period: int, sector: int, cluster: int) -> Comb | None:
    tol = tolerance(marks, period, sector, cluster)
    if period < MIN_PERIOD_TOLERANCES * tol:  # starts this loose would fit almost any period
        return None
    ref = marks[-1].t
    phased = sorted((((m.t - ref) % period, m) for m in marks), key=lambda pm: pm[0])
    groups = _groups(phased, tol, period)
    teeth = []
    covered = 0
    least = 2 if all(m.exact for m in marks) else 3  # loose starts need more to be believed
    kept = [g for g in (sorted(g, key=lambda m: m.t) for g in groups) if len(g) >= least and _near(g, period)]
    period = _refined(kept, period)
    for members in kept:
        measured = [m.length for m in members if m.measured]
        # lengths found by cluster reads: rather overshoot than fall short (the far edge is then
        # read back exactly), and never trusted
        loose = int(statistics.median(m.length for m in members)) + cluster
        teeth.append(
            Tooth(
                last=members[-1].t,
                width=int(statistics.median(measured)) if measured else loose,
                widest=max(measured) if measured else loose,
                members=len(members),
                measured=len(measured),
            )
        )
        covered += len(members)
    if not teeth or len(teeth) > MAX_TEETH or max(t.members for t in teeth) < 3:
        return None  # (three areas at one phase: a coincidence of two is too easy among many)
    if len(teeth) * 2 * tol * 4 > period:  # a start anywhere would land on some tooth too easily
        return None
    # areas much shorter than the teeth (scattered bad sectors between dead-head bands) neither
    # make nor break a pattern of long ones
    counted = [m for m in marks if m.length * SMALLER >= min(t.width for t in teeth)]
    # loose starts on a short period fall on teeth by chance too easily: more areas must
    least_covered = 3 if all(m.exact for m in marks) or period >= MIN_PERIOD_TOLERANCES * 4 * tol else 4
    share = FIT_SHARE if least == 2 else LOOSE_SHARE
    if not counted:  # (every area much shorter than the teeth: nothing to fit them to)
        return None
    if covered < max(least_covered, share * len(counted)) or _latest_off(counted, teeth, period, tol):
        return None
    if sum(t.width for t in teeth) > MAX_COVER * period:
        return None
    teeth.sort(key=lambda t: t.last % period)
    spread = sum(_spread(g, period) for g in kept)
    return Comb(period, tuple(teeth), tol, len(marks), round(covered / max(1, len(counted)), 3), spread)


def _near(members: list[Mark], period: int) -> bool:
    """Whether a tooth's areas follow each other along the disk: within a few periods each, and
    twice (once for two areas) exactly one period apart.  Starts many periods apart agree to
    within a tolerance by chance too often to make a pattern on their own."""
    gaps = [round((b.t - a.t) / period) for a, b in zip(members, members[1:], strict=False)]
    return all(k <= GAP_PERIODS for k in gaps) and gaps.count(1) >= min(2, len(gaps))


def _refined(teeth: list[list[Mark]], period: int) -> int:
    """The period the teeth's members say, over their whole span (a candidate is the distance
    between two starts only, each as loose as its start)."""
    span = cycles = 0
    for members in teeth:
        d = members[-1].t - members[0].t
        k = round(d / period)
        if k > 0:
            span, cycles = span + d, cycles + k
    return round(span / cycles) if cycles else period


def _spread(members: list[Mark], period: int) -> int:
    """How far a tooth's members stray from the period (in bytes, summed)."""
    first = members[0].t
    return sum(abs((m.t - first) - round((m.t - first) / period) * period) for m in members)


def _latest_off(marks: Sequence[Mark], teeth: list[Tooth], period: int, tol: int) -> bool:
    """Whether the latest area is off the teeth: a pattern that no longer holds predicts nothing."""
    t = marks[-1].t
    return all(min((t - x.last) % period, (x.last - t) % period) > tol for x in teeth)


def _groups(phased: list[tuple[int, Mark]], tol: int, period: int) -> list[list[Mark]]:
    """Marks grouped by phase: each group spans at most `tol` (the circle closed at the period)."""
    if not phased:
        return []
    # start the sweep after the widest gap, so that no group straddles the wrap-around
    n = len(phased)
    gaps = [(phased[i + 1][0] - phased[i][0], i) for i in range(n - 1)]
    gaps.append((phased[0][0] + period - phased[-1][0], n - 1))
    start = (max(gaps)[1] + 1) % n
    order = phased[start:] + [(p + period, m) for p, m in phased[:start]]
    groups: list[list[Mark]] = []
    first = None
    for p, m in order:
        if first is not None and p - first <= tol:
            groups[-1].append(m)
        else:
            groups.append([m])
            first = p
    return groups


def rescaled(prior: Comb, marks: Sequence[Mark], sector: int) -> Comb | None:
    """`prior` scaled to the latest `marks`: the next zone of the same heads.  The latest area
    measured exactly names a tooth of `prior` and the ratio (its length over that tooth's width,
    within SCALES); the comb is the one that the longest run of latest areas agrees on, and only
    when one tooth of `prior` gives it (None otherwise: two teeth of one width are told apart by
    where the areas before lie, not by one area)."""
    narrowest = min(t.width for t in prior.teeth)
    usable = [m for m in marks if m.exact and m.measured and m.length * SMALLER >= narrowest]
    for n in range(len(usable), 0, -1):  # the areas of the zone before (or one cut short by
        tail = usable[-n:]  # the zone's edge) agree with no ratio: the run shrinks past them
        ref = tail[-1]
        found = []
        for tooth in prior.teeth:
            ratio = ref.length / tooth.width
            if SCALES[0] <= ratio <= SCALES[1]:
                comb = _scaled(prior, tooth, ref, ratio, sector, tail)
                if comb is not None:  # (`marks`: how many of the latest areas it covers)
                    first = next(i for i, m in enumerate(marks) if m is tail[0])
                    found.append(replace(comb, marks=len(marks) - first))
        if found:
            return found[0] if len(found) == 1 else None
    return None


def _scaled(
    prior: Comb, named: Tooth, ref: Mark, ratio: float, sector: int, tail: Sequence[Mark]
) -> Comb | None:
    """`prior` scaled by `ratio` with tooth `named` at `ref`; None unless every area of `tail`
    lies on a tooth of it, as long as that tooth."""
    period = round(prior.period * ratio)
    tol = DRIFT_SECTORS * sector + period // 1000
    sized: list[tuple[int, int, int]] = []  # (the tooth's phase after ref, width, widest)
    for tooth in prior.teeth:
        phase = round(((tooth.last - named.last) % prior.period) * ratio)
        spare = -(-round(tooth.widest * ratio * (1 + SCALE_SLACK)) // sector) * sector
        sized.append((phase, round(tooth.width * ratio), spare))
    members: list[list[Mark]] = [[] for _ in sized]
    for m in tail:
        off = (m.t - ref.t) % period
        i = next(
            (i for i, (ph, _, _) in enumerate(sized) if min((off - ph) % period, (ph - off) % period) <= tol),
            None,
        )
        if i is None or abs(m.length - sized[i][1]) > SCALE_FIT * sized[i][1] + DRIFT_SECTORS * sector:
            return None
        members[i].append(m)
    teeth = []
    for (phase, width, spare), ms in zip(sized, members, strict=True):
        if ms:
            lengths = [m.length for m in ms]
            width = int(statistics.median(lengths))
            teeth.append(Tooth(ms[-1].t, width, max(max(lengths), width), len(ms), len(ms)))
        else:  # not met in this zone yet: where and as long as the scaled pattern says
            teeth.append(Tooth(ref.t + phase - period, width, spare, 0, 0))
    teeth.sort(key=lambda t: t.last % period)
    return Comb(period, tuple(teeth), tol, len(tail), 1.0, 0)

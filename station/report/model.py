"""The facts of one image's report, gathered once; HTML, JSON and PDF are drawn from them.

`build_report(catalog, image)` reads what each source knows best: the catalog (the image, its
case fields, verifications and restores), the session store (each run's record: the drive's
identity, SMART, the station's inventory, options; its events: phases and speed), the mapfile
(the map picture, the shares, the bad areas) and, where the filesystems can be read, the image
itself (the files hit by bad sectors).  Whatever cannot be read becomes a note in the report,
never a failure: a report of a half-finished rescue is still a report.
"""

from __future__ import annotations

import os
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from typing import Any

from station import __version__
from station.catalog import Catalog, ImageEntry, SessionEntry
from station.catalog.facts import RESTORE_KINDS, VERIFY_KINDS
from station.core.events import Event, Finished, PhaseStarted, Progress
from station.core.record import SessionRecord, SmartSnapshot
from station.core.speed import SpeedSeries
from station.report.words import attribute_words, verdict_words
from station.rescue.cells import LABEL, LEGEND_ORDER, SLOW_LABEL, cell_statuses, slow_cells
from station.rescue.rescuemap import RescueMap, Status

MAP_COLUMNS, MAP_ROWS = 128, 40  # the map picture's cells
MAX_BAD_AREAS = 200  # bad areas listed; the rest are counted
MAX_FILES = 200  # affected files listed; the rest are counted


@dataclass
class Phase:
    name: str
    pass_: int
    start: float  # seconds since the run's start
    end: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass
class Run:
    """One session that wrote the image (the first, then each resumed run)."""

    id: str
    kind: str
    method: str
    state: str
    reason: str | None
    started: float | None
    ended: float | None
    elapsed: float
    options: dict[str, Any]
    command: list[str]
    resumed: bool
    read_errors: int | None
    average_rate: float | None
    peak_rate: float | None
    phases: list[Phase] = field(default_factory=list)


@dataclass
class SmartSection:
    state: str  # "on" or "off"
    why_off: str | None
    before: dict[str, Any] | None  # verdict, reasons, advice, words, attributes
    after: dict[str, Any] | None
    changed: list[dict[str, Any]]  # attribute, words, before, after


@dataclass
class MapSection:
    size: int
    sector_size: int
    columns: int
    rows: int
    cells: list[str]  # the status character of each cell ("" for none), row by row
    shares: list[dict[str, Any]]  # status, label, bytes, share, in legend order
    rescued: int
    bad: int
    never_tried: int
    tried_unfinished: int  # non-trimmed and non-scraped
    bad_areas: list[dict[str, int]]  # first_lba, last_lba, sectors, bytes (as ddrescuelog -l- numbers them)
    bad_areas_total: int
    # areas the engine found slow (kept beside the map: station.rescue.learnedfile), as bad_areas;
    # their cells are "s" where they hold nothing worse than rescued or non-tried bytes
    slow: int = 0
    slow_areas: list[dict[str, int]] = field(default_factory=list)
    slow_areas_total: int = 0


@dataclass
class FilesSection:
    files: list[dict[str, Any]]  # path, partition, kind, size, affected_bytes, record
    more: int  # entries hit that are not listed
    deleted: int
    entries_checked: int
    notes: list[str]


@dataclass
class Report:
    """Everything the report says (`to_json()` is the `--json` form)."""

    generated: float
    generator: str
    image: dict[str, Any]  # ImageEntry.to_json()
    source: dict[str, Any]  # the drive's identity
    station: dict[str, Any]  # the station's inventory (hardware, OS, Station's version)
    smart: SmartSection | None
    runs: list[Run]
    start: float | None
    end: float | None
    duration: float
    average_rate: float | None
    peak_rate: float | None
    speed: dict[str, list[float]]  # t, rate (runs one after the other), errors, run_starts
    map: MapSection | None
    hashes: dict[str, str]
    verifications: list[dict[str, Any]]
    restores: list[dict[str, Any]]
    files: FilesSection | None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- gathering ------------------------------------------------------------------------------------------


def build_report(
    catalog: Catalog, image: ImageEntry, *, files: bool = True, now: float | None = None
) -> Report:
    """The report of `image` (see the module's docstring)."""
    notes: list[str] = []
    entries = catalog.sessions_of(image.id)
    writes = [s for s in entries if s.kind.lower() not in VERIFY_KINDS | RESTORE_KINDS]
    records = _records(catalog, writes, notes)
    runs: list[Run] = []
    series: list[SpeedSeries] = []
    for s in writes:
        record, events = records.get(s.id, (None, []))
        runs.append(_run(s, record, events))
        series.append(SpeedSeries(limit=1024).extend(events))
    latest = next((records[s.id][0] for s in reversed(writes) if s.id in records), None)
    rmap = _map(image, notes)
    sector = latest.source.sector_size if latest is not None and latest.source.sector_size else 512
    duration = sum(r.elapsed for r in runs)
    rescued = rmap.summary().rescued if rmap is not None else (image.rescued or 0)
    peaks = [r.peak_rate for r in runs if r.peak_rate is not None]
    return Report(
        generated=now if now is not None else time.time(),
        generator=f"Station {__version__}",
        image=image.to_json(),
        source=_identity(image, latest),
        station=dict(latest.hardware or {}) if latest is not None else {},
        smart=_smart(writes, records),
        runs=runs,
        start=runs[0].started if runs else image.created,
        end=max((r.ended or r.started or 0 for r in runs), default=None) or None,
        duration=duration,
        average_rate=rescued / duration if duration > 0 else None,
        peak_rate=max(peaks) if peaks else None,
        speed=_speed(series),
        map=_map_section(rmap, sector, _slow(image, notes)) if rmap is not None else None,
        hashes=dict(image.hashes),
        verifications=[v.to_json() for v in catalog.verifications(image.id)],
        restores=[r.to_json() for r in catalog.restores(image.id)],
        files=_files(image, rmap, notes) if files else None,
        notes=notes,
    )


def _records(
    catalog: Catalog, sessions: list[SessionEntry], notes: list[str]
) -> dict[str, tuple[SessionRecord, list[Event]]]:
    out = {}
    for s in sessions:
        try:
            session = catalog.store.get(s.id)
        except (OSError, ValueError, TypeError) as e:
            notes.append(f"session {s.id}: its record could not be read ({type(e).__name__})")
            continue
        out[s.id] = (session.record, list(session.events()))
    return out


def _run(s: SessionEntry, record: SessionRecord | None, events: list[Event]) -> Run:
    last = next((e for e in reversed(events) if isinstance(e, Progress)), None)
    finished = next((e for e in reversed(events) if isinstance(e, Finished)), None)
    elapsed = last.elapsed if last else (finished.t if finished else 0.0)
    if not elapsed and s.started and s.ended:
        elapsed = s.ended - s.started
    return Run(
        id=s.id,
        kind=s.kind,
        method=s.method or "?",
        state=s.state,
        reason=s.reason,
        started=s.started,
        ended=s.ended,
        elapsed=elapsed,
        options=dict(record.options) if record is not None else s.options,
        command=list(record.command) if record is not None else [],
        resumed=s.resumed,
        read_errors=s.read_errors,
        average_rate=last.average_rate if last else s.average_rate,
        peak_rate=s.peak_rate,
        phases=phases(events),
    )


def phases(events: list[Event]) -> list[Phase]:
    """The phases a run went through and when, from its PhaseStarted events (or, for a method that
    emits none, the phase its progress reports)."""
    out: list[Phase] = []
    end = 0.0
    for e in events:
        end = max(end, e.t)
        if isinstance(e, PhaseStarted) or isinstance(e, Progress) and e.phase != "finished":
            key = (e.phase, e.pass_)
        else:
            continue
        if out and (out[-1].name, out[-1].pass_) == key:
            continue
        if out:
            out[-1].end = e.t
        out.append(Phase(key[0], key[1], e.t, e.t))
    if out:
        out[-1].end = max(out[-1].end, end)
    return out


def _identity(image: ImageEntry, latest: SessionRecord | None) -> dict[str, Any]:
    drive = dict(latest.drive) if latest is not None and isinstance(latest.drive, dict) else {}
    src = image.source
    out = {
        "model": drive.get("model") or src.model,
        "serial": drive.get("serial") or src.serial,
        "firmware": drive.get("firmware") or src.firmware,
        "capacity": drive.get("capacity_bytes") or src.capacity,
        "path": src.path,
    }
    for key in ("vendor", "family", "interface", "rotation_rpm", "ssd", "logical_sector_size",
                "physical_sector_size", "wwn", "power_on_hours"):  # fmt: skip
        if drive.get(key) is not None:
            out[key] = drive[key]
    return out


def _snapshot(s: SmartSnapshot | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "verdict": s.verdict,
        "words": verdict_words(s.verdict),
        "reasons": list(s.reasons),
        "advice": s.advice,
        "smart_status": s.smart_status,
        "taken": s.taken,
        "attributes": dict(s.attributes),
    }


def _smart(
    writes: list[SessionEntry], records: dict[str, tuple[SessionRecord, list[Event]]]
) -> SmartSection | None:
    smarts = [
        records[s.id][0].smart for s in writes if s.id in records and records[s.id][0].smart is not None
    ]
    if not smarts:
        return None
    first = next((m for m in smarts if m.before is not None), smarts[0])
    last = next((m for m in reversed(smarts) if m.after is not None), None)
    before = _snapshot(first.before)
    after = _snapshot(last.after) if last is not None else None
    changed = []
    if before and after:
        was, now = before["attributes"], after["attributes"]
        for name in dict.fromkeys([*was, *now]):
            if was.get(name) != now.get(name):
                changed.append(
                    {
                        "attribute": name,
                        "words": attribute_words(name),
                        "before": was.get(name),
                        "after": now.get(name),
                    }
                )
    return SmartSection(first.state, first.why_off, before, after, changed)


def _speed(series: list[SpeedSeries]) -> dict[str, list[float]]:
    """The runs' curves one after the other on one time axis (each run's clock starts at 0)."""
    t: list[float] = []
    rate: list[float] = []
    errors: list[float] = []
    starts: list[float] = []
    offset = 0.0
    for s in series:
        starts.append(offset)
        t += [offset + x for x in s.times]
        rate += s.rates
        errors += [offset + x for x in s.errors]
        offset += max(s.last_t, s.times[-1] if s.times else 0.0)
    return {"t": t, "rate": rate, "errors": errors, "run_starts": starts}


# -- the map ---------------------------------------------------------------------------------------------


def _map(image: ImageEntry, notes: list[str]) -> RescueMap | None:
    from station.rescue.mapfile import MapfileError, read_mapfile

    if image.mapfile and os.path.isfile(image.mapfile):
        try:
            return read_mapfile(image.mapfile)
        except (OSError, MapfileError) as e:
            notes.append(f"the mapfile {image.mapfile} could not be read: {e}")
            return None
    if image.format == "zst" and os.path.isfile(image.path):
        try:
            from station.images.formats import open_image

            with closing(open_image(image.path)) as reader:
                if reader.rescue_map is not None:
                    return reader.rescue_map
        except Exception as e:  # a damaged image: the report still says everything else
            notes.append(f"{image.path}: its map could not be read ({type(e).__name__}: {e})")
            return None
    notes.append(f"no mapfile ({image.mapfile or 'none recorded'}): the map and the bad areas are not shown")
    return None


def _slow(image: ImageEntry, notes: list[str]) -> list[tuple[int, int]]:
    """The slow areas the rescue learned, kept beside its map (none for a map of another tool)."""
    from station.rescue.knowledge import Knowledge
    from station.rescue.learnedfile import load_learned

    if not image.mapfile or not os.path.isfile(image.mapfile):
        return []
    learned, why = load_learned(image.mapfile)
    knowledge = Knowledge.from_kept(learned)
    if knowledge is None:
        if why:
            notes.append(f"slow areas not shown: {why.removesuffix(': learning afresh')}")
        return []
    return list(knowledge.slow.ranges)


def _lba_rows(ranges: list[tuple[int, int]], sector: int) -> list[dict[str, int]]:
    """Byte ranges as ddrescuelog -l- numbers them: first and last LBA, sectors, bytes."""
    return [
        {
            "first_lba": lo // sector,
            "last_lba": (hi - 1) // sector,
            "sectors": (hi - 1) // sector - lo // sector + 1,
            "bytes": hi - lo,
        }
        for lo, hi in ranges[:MAX_BAD_AREAS]
    ]


def _map_section(m: RescueMap, sector: int, slow: list[tuple[int, int]] | None = None) -> MapSection:
    s = m.summary()
    slow = slow or []
    statuses = cell_statuses(m, MAP_COLUMNS * MAP_ROWS)
    cells = [c.value if c is not None else "" for c in statuses]
    for i, is_slow in enumerate(slow_cells(m.size, len(cells), slow)):
        if is_slow and cells[i] in (Status.FINISHED.value, Status.NON_TRIED.value):
            cells[i] = "s"
    slow_bytes = sum(hi - lo for lo, hi in slow)
    shares = [
        {
            "status": st.value,
            "label": LABEL[st],
            "bytes": s.bytes[st],
            "share": s.bytes[st] / s.size if s.size else 0.0,
        }
        for st in LEGEND_ORDER
    ]
    if slow:
        label = f"{SLOW_LABEL} (readable, slowly)"
        shares.append({"status": "s", "label": label, "bytes": slow_bytes, "share": slow_bytes / s.size})
    areas = [(b.pos, b.end) for b in m if b.status == Status.BAD_SECTOR]
    return MapSection(
        size=s.size,
        sector_size=sector,
        columns=MAP_COLUMNS,
        rows=MAP_ROWS,
        cells=cells,
        shares=shares,
        rescued=s.rescued,
        bad=s.bytes[Status.BAD_SECTOR],
        never_tried=s.bytes[Status.NON_TRIED],
        tried_unfinished=s.bytes[Status.NON_TRIMMED] + s.bytes[Status.NON_SCRAPED],
        bad_areas=_lba_rows(areas, sector),
        bad_areas_total=len(areas),
        slow=slow_bytes,
        slow_areas=_lba_rows(slow, sector),
        slow_areas_total=len(slow),
    )


# -- the files hit ---------------------------------------------------------------------------------------


def _files(image: ImageEntry, rmap: RescueMap | None, notes: list[str]) -> FilesSection | None:
    if image.format not in ("raw", "zst") or not os.path.isfile(image.path):
        notes.append(f"{image.path}: not on this station, so the files hit were not looked for")
        return None
    if rmap is not None and rmap.summary().rescued == rmap.size:
        return FilesSection([], 0, 0, 0, ["every byte was rescued: no file is hit"])
    try:
        from station.fs import affected
        from station.images.formats import open_image

        map_path = image.mapfile if image.mapfile and os.path.isfile(image.mapfile) else None
        with closing(open_image(image.path, map_path)) as r:
            found = affected(r, rmap)
    except Exception as e:  # no filesystem TSK knows, damaged metadata: said, not raised
        notes.append(
            f"the image's filesystems could not be read: {type(e).__name__}: {' '.join(str(e).split())}"
        )
        return None
    hits = sorted(
        found.files, key=lambda h: (-h.affected_bytes, not h.record, h.entry.partition, h.entry.path)
    )
    rows = [
        {
            "path": h.entry.path,
            "partition": h.entry.partition,
            "kind": h.entry.kind,
            "size": h.entry.size,
            "affected_bytes": h.affected_bytes,
            "record": bool(h.record),
        }
        for h in hits[:MAX_FILES]
    ]
    return FilesSection(
        rows, max(0, len(hits) - MAX_FILES), len(found.deleted), found.entries_checked, found.notes
    )

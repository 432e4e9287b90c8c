"""From one session directory of the store to the rows the catalog keeps of it.

Tolerant by design: records written by every version of Station, and by the jobs still to come
(verification, restore and deploy), are read for what they hold; a missing field is a NULL, an
unknown one is ignored, and a record that cannot be read at all becomes a session row whose
state is "unreadable" (so it is not read again at every query).

What the jobs to come are expected to record, and where the catalog looks for it
(docs/formats/catalog.md has the same list for their authors):

- hashes: `result.hashes` ({"sha256": hex, "md5": hex, ...}) of any job that wrote an image;
- a verification job: `kind` "verify" (or "verification"); the image is `source.path`; its
  outcome `result.ok` (or `verified`, `match`), else the exit status (0 matched, 1 did not);
  `reason` or `result.summary` says how;
- verifications recorded inside another session: `verifications` (a list) or `verification`
  (one), at the record's top level or in `result`, each with `ok`, `at`, `method` or
  `against`, `summary` or `detail`, and `image` (the path) when it is not the session's own;
- a restore or deployment: `kind` "restore" or "deploy"; the image is `source.path`; its targets
  `targets` (the record's typed `TargetResult`s, or in `result`), each with `path`, `model`,
  `serial`, `bytes_written`, `state` and `verified` (a bool or a verification object; a
  `TargetResult` says it as `check.state`: ok, mismatch, failed, skipped), else one target per
  destination with the session's own state;
- any other kind with destinations (imaging, clone, convert) wrote those destinations: each is
  an image of the catalog.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station.catalog.labels import Labels, read_labels
from station.core.record import SessionRecord
from station.core.session import Session, SessionStore

VERIFY_KINDS = frozenset({"verify", "verification"})
RESTORE_KINDS = frozenset({"restore", "deploy", "deployment"})
WROTE, READ = "wrote", "read"  # a session's roles towards a path
UNREADABLE = "unreadable"  # the state of a session whose record could not be read

_RATE = re.compile(rb'"current_rate":\s*(-?[0-9][0-9.eE+-]*)')
_PROGRESS = b'"kind":"progress"'


@dataclass
class SessionFacts:
    """One session as the catalog stores it."""

    id: str
    seen: int  # the session directory's mtime (ns) when it was read: changed means read again
    row: dict[str, Any]  # the sessions table's columns
    host: str
    paths: list[tuple[str, str]] = field(default_factory=list)  # (path, role)
    verifications: list[dict[str, Any]] = field(default_factory=list)
    restores: list[dict[str, Any]] = field(default_factory=list)
    labels: Labels | None = None


def read_facts(root: Path, sid: str, seen: int, this_host: str | None = None) -> SessionFacts:
    """The facts of session `sid` of the store at `root` (never raises for what the files hold)."""
    host = this_host or socket.gethostname()
    try:
        session = SessionStore(root).get(sid)
    except (OSError, ValueError, TypeError) as e:
        row = {"id": sid, "kind": "unknown", "state": UNREADABLE, "reason": _one_line(e), "seen": seen}
        return SessionFacts(sid, seen, row, host)
    session.record.id = sid  # the directory is the session's identity, whatever a record says
    try:
        return _facts(session, seen, host)
    except Exception as e:  # a record of a shape nobody foresaw: still one row, never a traceback
        row = {"id": sid, "kind": "unknown", "state": UNREADABLE, "reason": _one_line(e), "seen": seen}
        return SessionFacts(sid, seen, row, host)


def _one_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {' '.join(str(e).split())}"[:300]


def _facts(session: Session, seen: int, this_host: str) -> SessionFacts:
    r = session.record
    host = r.host or this_host
    peak, last = event_figures(session.dir / "events.jsonl")
    res = r.result
    drive = r.drive if isinstance(r.drive, Mapping) else {}
    smart = r.smart

    def from_result(name: str, progress_key: str | None = None) -> Any:
        value = getattr(res, name, None) if res is not None else None
        if value is None and progress_key and last:
            value = last.get(progress_key)
        return value

    size = from_result("size", "size") or r.source.size or None
    pending = from_result("pending")
    if pending is None and last:
        pending = sum(int(last.get(k) or 0) for k in ("non_tried", "non_trimmed", "non_scraped"))
    hashes = res.hashes if res is not None and isinstance(res.hashes, Mapping) and res.hashes else None
    hardware = r.hardware if isinstance(r.hardware, Mapping) else {}
    host_info = hardware.get("host") if isinstance(hardware.get("host"), Mapping) else {}
    row: dict[str, Any] = {
        "id": session.id,
        "kind": str(r.kind or "imaging"),
        "state": session.state,
        "method": r.method,
        "host": r.host,  # None: an old record whose pid means nothing here (see Session.state)
        "pid": r.pid if isinstance(r.pid, int) else None,
        "started": _number(r.started),
        "ended": _number(r.ended),
        "source_path": r.source.path or None,
        "source_kind": r.source.kind or None,
        "source_model": _text(drive.get("model")) or r.source.model,
        "source_serial": _text(drive.get("serial")) or r.source.serial,
        "source_firmware": _text(drive.get("firmware")) or _text(r.source.extra.get("firmware")),
        "source_capacity": _int(drive.get("capacity_bytes")) or r.source.size or None,
        "destinations": json.dumps(r.destinations),
        "mapfile": r.mapfile,
        "options": json.dumps(r.options, sort_keys=True, default=str),
        "command": json.dumps(r.command),
        "resumed": 1 if r.resumed else 0,
        "reason": r.reason,
        "size": _int(size),
        "rescued": _int(from_result("rescued", "rescued")),
        "bad": _int(from_result("bad", "bad")),
        "pending": _int(pending),
        "read_errors": _int(from_result("read_errors", "read_errors")),
        "bad_areas": _int(last.get("bad_areas")) if last else None,
        "exit_status": _int(from_result("exit_status")),
        "power_cycles": _int(from_result("power_cycles")),
        "elapsed": _number(last.get("elapsed")) if last else None,
        "average_rate": _number(last.get("average_rate")) if last else None,
        "peak_rate": peak,
        "hashes": json.dumps(dict(hashes), sort_keys=True) if hashes else None,
        "smart_state": smart.state if smart is not None else None,
        "smart_before": smart.before.verdict if smart is not None and smart.before is not None else None,
        "smart_after": smart.after.verdict if smart is not None and smart.after is not None else None,
        "smart": json.dumps(smart.to_dict(), sort_keys=True, default=str) if smart is not None else None,
        "station_version": _text(host_info.get("station")),
        "seen": seen,
    }
    facts = SessionFacts(session.id, seen, row, host, labels=read_labels(session.dir))
    kind = row["kind"].lower()
    if kind in VERIFY_KINDS:
        image = r.source.path or (r.destinations[0] if r.destinations else "")
        if image:
            facts.paths.append((_norm(image), READ))
            facts.verifications.append(_verify_session(r, _norm(image)))
    elif kind in RESTORE_KINDS:
        if r.source.path:
            facts.paths.append((_norm(r.source.path), READ))
            facts.restores = _restores(r, _norm(r.source.path))
    else:
        facts.paths += [(_norm(d), WROTE) for d in dict.fromkeys(r.destinations) if d]
    own = facts.paths[0][0] if facts.paths else ""
    for i, v in enumerate(embedded(r, ("verifications", "verification"))):
        facts.verifications.append(_verification(f"{session.id}#v{i + 1}", r, v, own))
    return facts


# -- small tolerant readers ---------------------------------------------------------------------------


def _text(v: Any) -> str | None:
    return v.strip() or None if isinstance(v, str) else None


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _norm(path: str) -> str:
    """Paths as the catalog compares them: absolute, normalised (not resolved: /dev/disk/by-id
    names stay as the technician gave them)."""
    return os.path.normpath(os.path.abspath(path))


def _ok(v: Any) -> bool | None:
    """A verification's outcome from whatever a record says: a bool, a word, an object with ok."""
    if isinstance(v, bool):
        return v
    if isinstance(v, Mapping):
        for key in ("ok", "verified", "match", "matched"):
            if key in v:
                return _ok(v[key])
        return None
    if isinstance(v, str):
        word = v.strip().lower()
        if word in ("ok", "match", "matched", "pass", "passed", "verified", "true", "yes"):
            return True
        if word in ("mismatch", "fail", "failed", "differs", "false", "no", "bad"):
            return False
    return None


def embedded(r: SessionRecord, names: tuple[str, ...]) -> list[Mapping[str, Any]]:
    """Objects kept under `names` at the record's top level or in its result (lists or one)."""
    found: list[Mapping[str, Any]] = []
    holders: list[Mapping[str, Any]] = [r.unknown]
    if r.result is not None:
        holders.append(r.result.unknown)
    for holder in holders:
        for name in names:
            v = holder.get(name)
            if isinstance(v, Mapping):
                found.append(v)
            elif isinstance(v, list):
                found += [x for x in v if isinstance(x, Mapping)]
    return found


def _result_value(r: SessionRecord, *names: str) -> Any:
    extra = r.result.unknown if r.result is not None else {}
    for name in names:
        for holder in (extra, r.unknown):
            if name in holder:
                return holder[name]
    return None


def _verify_session(r: SessionRecord, image: str) -> dict[str, Any]:
    ok = _ok(_result_value(r, "ok", "verified", "match", "matched"))
    status = r.result.exit_status if r.result is not None else None
    if ok is None and r.state == "finished":
        ok = True if status in (0, None) else False if status == 1 else None
    elif ok is None and status == 1 and r.state != "running":
        ok = False
    summary = _result_value(r, "summary", "detail")
    against = r.options.get("against") if isinstance(r.options, Mapping) else None
    return {
        "id": r.id,
        "session_id": r.id,
        "path": image,
        "at": _number(r.ended) or _number(r.started),
        "ok": None if ok is None else int(ok),
        "method": f"against {against}" if against else (r.method if r.method != "engine" else "hashes"),
        "detail": summary if isinstance(summary, str) else r.reason,
        "data": json.dumps({"result": r.result.to_dict() if r.result else None}, default=str),
    }


def _verification(vid: str, r: SessionRecord, v: Mapping[str, Any], own: str) -> dict[str, Any]:
    against = v.get("against")
    detail = v.get("summary") or v.get("detail") or v.get("reason")
    problems = v.get("problems")
    if not detail and isinstance(problems, list):
        detail = "; ".join(str(p) for p in problems[:3])
    path = v.get("image") or v.get("path")
    when = next((v[k] for k in ("at", "time", "when", "ended") if _number(v.get(k)) is not None), None)
    ok = _ok(v) if not isinstance(v.get("result"), str) else _ok(v["result"])
    return {
        "id": vid,
        "session_id": r.id,
        "path": _norm(path) if isinstance(path, str) and path else own,
        "at": _number(when) or _number(r.ended),
        "ok": None if ok is None else int(ok),
        "method": str(v.get("method") or (f"against {against}" if against else "hashes")),
        "detail": str(detail) if detail else None,
        "data": json.dumps(dict(v), sort_keys=True, default=str),
    }


def _restores(r: SessionRecord, image: str) -> list[dict[str, Any]]:
    # `targets` is a typed field of the record since station restore writes it (TargetResult)
    targets: list[Mapping[str, Any]] = [t.to_dict() for t in r.targets or []] or embedded(r, ("targets",))
    if not targets:
        targets = [{"path": d} for d in r.destinations]
    out = []
    for i, t in enumerate(targets):
        identity = t.get("identity") if isinstance(t.get("identity"), Mapping) else {}
        check = t.get("check") if isinstance(t.get("check"), Mapping) else {}  # TargetResult.check
        verified = t.get("verified", t.get("verification", check.get("state")))
        written = next(
            (t[k] for k in ("bytes_written", "bytes", "written") if _int(t.get(k)) is not None), None
        )
        out.append(
            {
                "id": f"{r.id}#{i + 1}",
                "session_id": r.id,
                "path": image,
                "target": str(t.get("path") or t.get("target") or t.get("device") or "?"),
                "target_model": _text(t.get("model")) or _text(identity.get("model")),
                "target_serial": _text(t.get("serial")) or _text(identity.get("serial")),
                "bytes": _int(written),
                "started": _number(t.get("started")) or _number(r.started),
                "ended": _number(t.get("ended")) or _number(r.ended),
                "state": str(t.get("state") or t.get("outcome") or r.state),
                "verified": None if (ok := _ok(verified)) is None else int(ok),
                "detail": _text(t.get("reason")) or _text(t.get("error")) or _text(check.get("detail")),
                "data": json.dumps(dict(t), sort_keys=True, default=str),
            }
        )
    return out


# -- the event log --------------------------------------------------------------------------------------


def event_figures(path: Path) -> tuple[float | None, dict[str, Any] | None]:
    """(the peak current rate, the last progress snapshot) of an events.jsonl, read once.

    A regular expression over the bytes finds the rates (a day-long session logs 86,400
    progress lines; parsing each as JSON would take seconds), and only the last progress line is
    parsed.  (None, None) when there is no log or no progress in it.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None, None
    peak: float | None = None
    for m in _RATE.findall(data):
        try:
            rate = float(m)
        except ValueError:
            continue
        peak = rate if peak is None else max(peak, rate)
    at = data.rfind(_PROGRESS)
    last: dict[str, Any] | None = None
    while at >= 0 and last is None:
        start = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at)
        try:
            d = json.loads(data[start : end if end >= 0 else len(data)])
            last = d if isinstance(d, dict) else None
        except ValueError:  # a torn last line: the one before it
            at = data.rfind(_PROGRESS, 0, start)
    return peak, last

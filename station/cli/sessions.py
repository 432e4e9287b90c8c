"""`station sessions`: past and running sessions from the session store."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    ss = sub.add_parser(
        "sessions", help="list sessions from the session store, newest first; with an ID: its record and log"
    )
    ss.add_argument(
        "id", nargs="?", help="one session (its id, or the start of it): its record and its events"
    )
    ss.add_argument("--json", action="store_true")
    ss.set_defaults(func=cmd_sessions)


def cmd_sessions(a: argparse.Namespace) -> int:
    import time

    from station.cli.common import json_out
    from station.core.session import SessionStore
    from station.core.units import fmt_bytes

    store = SessionStore()
    if a.id:
        return _one(store, a.id, a.json)
    sessions = sorted(store.list(), key=lambda s: (s.record.started or 0, s.id), reverse=True)  # newest first
    rows = []
    for s in sessions:
        r = s.record
        found = r.result.verification if r.result else None
        rows.append(
            {
                "id": s.id,
                "kind": r.kind,
                "state": s.state,
                "method": r.method,
                "source": r.source.path,
                "dest": r.dest,
                "started": r.started,
                "rescued": r.result.rescued if r.result else None,
                "size": r.source.size,
                "verified": found.outcome if found else None,  # a verification's finding
            }
        )
    if a.json:
        return json_out(rows)
    if not rows:
        print("no sessions yet")
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"] or 0))
        rescued = fmt_bytes(r["rescued"]) if r["rescued"] is not None else "-"
        what = f"{r['source']} -> {r['dest']}" if r["dest"] else f"{r['method']} {r['source']}"
        if r["verified"]:
            what += f": {r['verified']}"
        print(f"{r['id']}  {when}  {r['state']:<11} {rescued:>9}  {what}")
    return 0


def _one(store, sid: str, as_json: bool) -> int:
    """`station sessions ID`: the record, then the log in words (--json: both as they are stored)."""
    from station.cli.common import fail
    from station.views.sessions import event_lines, record_lines

    names = sorted(d.name for d in store.root.iterdir()) if store.root.is_dir() else []
    found = [n for n in names if n == sid] or [n for n in names if n.startswith(sid)]
    if not found:
        return fail(f"no session {sid} (station sessions lists them)")
    if len(found) > 1:
        return fail(
            f"{sid} is the start of {len(found)} sessions' ids ({', '.join(found[:3])}...): give more of it"
        )
    try:
        session = store.get(found[0])
    except (OSError, ValueError, TypeError) as e:
        return fail(f"session {found[0]}: its record cannot be read ({e})")
    events = list(session.events())
    if as_json:
        print(
            json.dumps(
                {"record": session.record.to_dict(), "events": [e.to_dict() for e in events]}, indent=2
            )
        )
        return 0
    print("\n".join(record_lines(session.record, session.state)))
    said = event_lines(events)
    print(f"\nevents ({len(said)}):" if said else "\nno events logged")
    for line in said:
        print(f"  {line}")
    return 0

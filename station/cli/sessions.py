"""`station sessions`: past and running sessions from the session store."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    ss = sub.add_parser("sessions", help="list imaging sessions from the session store")
    ss.add_argument("--json", action="store_true")
    ss.set_defaults(func=cmd_sessions)


def cmd_sessions(a: argparse.Namespace) -> int:
    import time

    from station.core.session import SessionStore
    from station.core.units import fmt_bytes

    rows = []
    for s in SessionStore().list():
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
        print(json.dumps(rows, indent=2))
        return 0
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

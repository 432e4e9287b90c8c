"""The report as one self-contained HTML file: styles and pictures inline, nothing fetched, no script.

It reads on a screen and prints on A4 (print CSS: margins, page breaks before the long
sections, table headers repeated, colours kept).  Every value from data is escaped.
"""

from __future__ import annotations

import json
import time
from html import escape
from typing import Any

from station.core.units import fmt_bytes, fmt_duration, fmt_rate
from station.report.model import FilesSection, MapSection, Report, Run, SmartSection
from station.report.svg import map_svg, speed_svg, swatch
from station.report.words import VERDICT_SHORT

CSS = """
:root { --ink: #1a1a1a; --muted: #666; --rule: #ccc; --good: #1a7f37; --warn: #9a6700; --bad: #cf222e; }
* { box-sizing: border-box; }
body { font: 13px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: var(--ink);
       margin: 24px auto; max-width: 820px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 22px 0 8px; padding-bottom: 3px; border-bottom: 2px solid var(--ink);
     break-after: avoid; page-break-after: avoid; }
h3 { font-size: 13px; margin: 12px 0 4px; break-after: avoid; }
.sub { color: var(--muted); margin: 0 0 12px; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; }
th, td { text-align: left; padding: 3px 8px 3px 0; vertical-align: top; border-bottom: 1px solid #eee; }
th { font-weight: 600; color: #333; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { width: 34%; font-weight: 600; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
code, .mono { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 12px;
              overflow-wrap: anywhere; }
.verdict { font-weight: 700; }
.GOOD { color: var(--good); } .WARNING { color: var(--warn); } .FAILING { color: var(--bad); }
.ok { color: var(--good); font-weight: 600; } .fail { color: var(--bad); font-weight: 600; }
.summary { display: flex; gap: 12px; flex-wrap: wrap; margin: 10px 0; }
.summary div { border: 1px solid var(--rule); border-radius: 4px; padding: 6px 10px; flex: 1 1 150px; }
.summary b { display: block; font-size: 18px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 6px 0; }
.legend span { white-space: nowrap; } .swatch { vertical-align: -2px; margin-right: 4px; }
svg.map, svg.speed { width: 100%; height: auto; border: 1px solid var(--rule); }
.note { color: var(--muted); font-size: 12px; }
section { margin-bottom: 6px; }
section.keep { break-inside: avoid; page-break-inside: avoid; }
footer { margin-top: 28px; color: var(--muted); font-size: 11px; border-top: 1px solid var(--rule);
         padding-top: 6px; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 11px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section.long { break-before: page; page-break-before: always; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(v: Any) -> str:
    return escape("" if v is None else str(v))


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(t)) if t else "-"


def _bytes(n: int | None) -> str:
    return f"{fmt_bytes(n)} ({n:,} bytes)" if n is not None else "-"


def _share(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.3f}%" if whole else "-"


def _kv(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows if v not in (None, ""))
    return f'<table class="kv">{body}</table>'


def _table(head: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    th = "".join(f"<th{' class=n' if i in numeric else ''}>{_e(h)}</th>" for i, h in enumerate(head))
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def render_html(r: Report) -> str:
    """The whole report as one HTML document."""
    img = r.image
    title = f"Data recovery report: {img.get('label') or img.get('case') or img['path']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        "<header>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">Made {_e(_when(r.generated))} by {_e(r.generator)} · image {_e(img["id"])}</p>',
        "</header>",
        _case(r),
        _summary(r),
        _source(r),
        _health(r.smart),
        _work(r),
        _map(r.map),
        _integrity(r),
        _restores(r),
        _files(r.files),
        _station(r),
    ]
    if r.notes:
        parts.append('<section><h2>Notes</h2><ul class="note">')
        parts += [f"<li>{_e(n)}</li>" for n in r.notes]
        parts.append("</ul></section>")
    parts.append(
        f"<footer>{_e(r.generator)} · {_e(img['path'])} · the mapfile, session records and event logs this "
        "report was made from are kept by the station.</footer></body></html>"
    )
    return "\n".join(p for p in parts if p)


def _case(r: Report) -> str:
    img = r.image
    rows = [
        ("Case / ticket", _e(img.get("case"))),
        ("Customer", _e(img.get("customer"))),
        ("Label", _e(img.get("label"))),
        ("Tags", _e(", ".join(img.get("tags") or []))),
        ("Note", _e(img.get("note")).replace("\n", "<br>")),
    ]
    if not any(v for _, v in rows):
        rows = [("Case", "not labelled (station label IMAGE --case ... --customer ...)")]
    return f'<section class="keep"><h2>Case</h2>{_kv(rows)}</section>'


def _summary(r: Report) -> str:
    m = r.map
    size = m.size if m else r.image.get("size") or 0
    rescued = m.rescued if m else r.image.get("rescued") or 0
    bad = m.bad if m else r.image.get("bad") or 0
    verdict = (r.smart.after or r.smart.before or {}).get("verdict") if r.smart else None
    boxes = [
        ("Recovered", f"{_share(rescued, size)}", f"{fmt_bytes(rescued)} of {fmt_bytes(size)}"),
        ("Unreadable", fmt_bytes(bad), _share(bad, size) + " of the drive"),
        ("Time imaging", _secs(r.duration), f"{len(r.runs)} run{'s' if len(r.runs) != 1 else ''}"),
    ]
    if verdict:
        boxes.append(("Drive health", VERDICT_SHORT.get(verdict, verdict.lower()), f"SMART: {verdict}"))
    cells = "".join(f"<div>{_e(a)}<b>{_e(b)}</b><span class=note>{_e(c)}</span></div>" for a, b, c in boxes)
    return f'<section class="keep"><div class="summary">{cells}</div></section>'


def _source(r: Report) -> str:
    s = r.source
    kind = "SSD" if s.get("ssd") else f"{s['rotation_rpm']} rpm" if s.get("rotation_rpm") else None
    rows = [
        ("Model", _e(s.get("model") or "unknown")),
        ("Serial number", f'<span class="mono">{_e(s.get("serial") or "unknown")}</span>'),
        ("Firmware", _e(s.get("firmware"))),
        ("Capacity", _e(_bytes(s.get("capacity")))),
        ("Vendor / family", _e(" / ".join(x for x in (s.get("vendor"), s.get("family")) if x))),
        ("Interface", _e(s.get("interface"))),
        ("Kind", _e(kind)),
        ("Sector size", _e(" / ".join(f"{s[k]} bytes" for k in SECTOR_KEYS if s.get(k)))),  # fmt: skip
        ("WWN", _e(s.get("wwn"))),
        ("Power-on hours", _e(s.get("power_on_hours"))),
        ("Read as", f'<span class="mono">{_e(s.get("path"))}</span>'),
    ]
    return f'<section class="keep"><h2>The drive</h2>{_kv(rows)}</section>'


SECTOR_KEYS = ("logical_sector_size", "physical_sector_size")


def _health(sm: SmartSection | None) -> str:
    if sm is None:
        return '<section class="keep"><h2>Drive health</h2><p class="note">No SMART record.</p></section>'
    if sm.before is None:
        why = f" ({_e(sm.why_off)})" if sm.why_off else ""
        return f'<section class="keep"><h2>Drive health</h2><p>SMART was not read{why}.</p></section>'
    out = ['<section class="keep"><h2>Drive health</h2>']
    for name, snap in (("Before imaging", sm.before), ("After imaging", sm.after)):
        if snap is None:
            continue
        v = snap["verdict"]
        out.append(f'<h3>{name}: <span class="verdict {_e(v)}">{_e(v)}</span></h3><p>{_e(snap["words"])}</p>')
        if snap["reasons"]:
            out.append('<ul class="note">' + "".join(f"<li>{_e(x)}</li>" for x in snap["reasons"]) + "</ul>")
    if sm.changed:
        out.append("<h3>What changed while it was imaged</h3>")
        rows = [[_e(c["words"]), _e(c["before"]), _e(c["after"])] for c in sm.changed]
        out.append(_table(["", "before", "after"], rows, {1, 2}))
    elif sm.after is not None:
        out.append('<p class="note">No SMART attribute changed while the drive was imaged.</p>')
    out.append("</section>")
    return "".join(out)


def _work(r: Report) -> str:
    out = ["<section><h2>The work</h2>"]
    out.append(
        _kv(
            [
                ("Started", _e(_when(r.start))),
                ("Ended", _e(_when(r.end))),
                ("Time imaging", _e(_secs(r.duration))),
                ("Average rate", _e(fmt_rate(r.average_rate)) if r.average_rate else "-"),
                ("Peak rate", _e(fmt_rate(r.peak_rate)) if r.peak_rate else "-"),
            ]
        )
    )
    for i, run in enumerate(r.runs, 1):
        out.append(_run(i, run))
    sp = r.speed
    if sp["t"]:
        out.append("<h3>Read rate over time</h3>")
        out.append(speed_svg(sp["t"], sp["rate"], sp["errors"], sp["run_starts"]))
        note = "Red ticks: read errors."
        if len(sp["run_starts"]) > 1:
            note += " Dashed lines: where a later run resumed the work."
        out.append(f'<p class="note">{note}</p>')
    out.append("</section>")
    return "".join(out)


def _options(options: dict[str, Any]) -> str:
    """The options that say something (set, not off), as name=value."""
    shown = [
        f"{k}={json.dumps(v) if isinstance(v, list | dict) else v}"
        for k, v in sorted(options.items())
        if v not in (None, False, "", [], {})
    ]
    return ", ".join(shown) or "defaults"


def _secs(v: float | None) -> str:
    """A duration; tenths of a second below ten seconds (a test drive images in less than one)."""
    return f"{v:.1f}s" if v is not None and v < 10 else fmt_duration(v)


def _run(i: int, run: Run) -> str:
    how = "resumed the map" if run.resumed else "started afresh"
    head = (
        f"<h3>Run {i}: {_e(run.kind)} by {_e(run.method)}, {_e(run.state)} "
        f'<span class="note mono">({_e(run.id)}, {how})</span></h3>'
    )
    rows = [
        ("Started / ended", _e(f"{_when(run.started)} / {_when(run.ended)}")),
        ("Time", _e(_secs(run.elapsed))),
        ("Outcome", _e(run.reason)),
        ("Read errors", _e(run.read_errors)),
        (
            "Average / peak rate",
            _e(" / ".join(fmt_rate(x) if x else "-" for x in (run.average_rate, run.peak_rate))),
        ),
        ("Options", f'<span class="mono">{_e(_options(run.options))}</span>'),
        ("Command", f'<span class="mono">{_e(" ".join(run.command))}</span>' if run.command else ""),
    ]
    out = head + _kv(rows)
    if run.phases:
        rows_p = [[_e(p.name), _e(p.pass_), _e(_secs(p.start)), _e(_secs(p.seconds))] for p in run.phases]
        out += _table(["phase", "pass", "from", "took"], rows_p, {1, 2, 3})
    return out


def _map(m: MapSection | None) -> str:
    if m is None:
        return ""
    legend = "".join(
        f"<span>{swatch(s['status'])}{_e(s['label'])}: {_e(fmt_bytes(s['bytes']))} "
        f"({100 * s['share']:.3f}%)</span>"
        for s in m.shares
    )
    cell = -(-m.size // (m.columns * m.rows))
    figures = _table(
        ["", "bytes", "share"],
        [
            ["rescued", _e(f"{m.rescued:,}"), _e(_share(m.rescued, m.size))],
            ["bad (unreadable)", _e(f"{m.bad:,}"), _e(_share(m.bad, m.size))],
            ["tried, not finished (non-trimmed, non-scraped)", _e(f"{m.tried_unfinished:,}"),
             _e(_share(m.tried_unfinished, m.size))],
            ["never tried", _e(f"{m.never_tried:,}"), _e(_share(m.never_tried, m.size))],
            ["the whole drive", _e(f"{m.size:,}"), "100%"],
        ],
        {1, 2},
    )  # fmt: skip
    out = [
        '<section class="keep"><h2>The map</h2>',
        map_svg(m),
        f'<div class="legend">{legend}</div>',
        f'<p class="note">Each cell is {_e(fmt_bytes(cell))} of the drive, from its start at the top left, '
        "and shows the worst of what it holds (colours as ddrescueview draws them).</p>",
        figures,
        "</section>",
    ]
    out += _areas("Bad areas", "Unreadable sectors", "bad", m.bad_areas, m.bad_areas_total, m.sector_size)
    out += _areas(
        "Slow areas", "Sectors that read, slowly (the drive retried inside; read after everything fast)",
        "slow", m.slow_areas, m.slow_areas_total, m.sector_size,
    )  # fmt: skip
    return "".join(out)


def _areas(
    title: str, what: str, kind: str, areas: list[dict[str, int]], total: int, sector: int
) -> list[str]:
    """A section listing areas as LBA ranges, cut at the first ones with a count of the rest."""
    if not total:
        return []
    rows = [
        [_e(f"{a[k]:,}") for k in ("first_lba", "last_lba", "sectors")] + [_e(fmt_bytes(a["bytes"]))]
        for a in areas
    ]
    out = [
        f'<section class="{_length(len(rows))}"><h2>{title} ({total:,})</h2>',
        f'<p class="note">{what}, as logical block addresses of {sector} bytes, as '
        "<code>ddrescuelog -l-</code> numbers them.</p>",
        _table(["first LBA", "last LBA", "sectors", "size"], rows, {0, 1, 2, 3}),
    ]
    if total > len(areas):
        more = total - len(areas)
        where = "the mapfile" if kind == "bad" else "the file kept beside the map (MAPFILE.learned.json)"
        out.append(f'<p class="note">… and {more:,} more {kind} areas ({where} lists them all).</p>')
    out.append("</section>")
    return out


def _integrity(r: Report) -> str:
    out = ['<section class="keep"><h2>Integrity</h2>']
    if r.hashes:
        rows = [[_e(a.upper()), f'<span class="mono">{_e(h)}</span>'] for a, h in sorted(r.hashes.items())]
        out.append(_table(["hash", "of the whole image (unread areas as zeros)"], rows))
    else:
        out.append('<p class="note">No hash was recorded for this image.</p>')
    if r.verifications:
        rows = []
        for v in r.verifications:
            result = {
                True: '<span class="ok">matched</span>',
                False: '<span class="fail">DID NOT MATCH</span>',
            }
            rows.append([_e(v["at"]), _e(v["method"]), result.get(v["ok"], "not recorded"), _e(v["detail"])])
        out.append(_table(["when", "how", "result", "detail"], rows))
    else:
        out.append('<p class="note">The image has not been verified yet.</p>')
    out.append("</section>")
    return "".join(out)


def _restores(r: Report) -> str:
    if not r.restores:
        return ""
    rows = []
    for x in r.restores:
        ok = {True: '<span class="ok">verified</span>', False: '<span class="fail">failed</span>'}.get(
            x["verified"], "not verified"
        )
        who = " ".join(v for v in (x["model"], f"s/n {x['serial']}" if x["serial"] else "") if v)
        rows.append([_e(x["target"]), _e(who), _e(fmt_bytes(x["bytes"]) if x["bytes"] else "-"),
                     _e(x["state"]), ok, _e(x["ended"])])  # fmt: skip
    table = _table(["target", "drive", "written", "state", "verification", "ended"], rows)
    return f'<section class="keep"><h2>Restores and deployments</h2>{table}</section>'


def _files(f: FilesSection | None) -> str:
    if f is None:
        return ""
    out = [f'<section class="{_length(len(f.files))}"><h2>Files hit by unreadable sectors</h2>']
    if not f.files:
        out.append("<p>No file or folder has a byte in the areas not rescued.</p>")
    else:
        out.append(
            '<p class="note">Most affected first. These files are incomplete in the image: the bytes not '
            "rescued read as zeros.</p>"
        )
        rows = [
            [f'<span class="mono">{_e(_part(x))}</span>', _e(x["kind"]), _e(fmt_bytes(x["size"])),
             _e(fmt_bytes(x["affected_bytes"]))]
            for x in f.files
        ]  # fmt: skip
        out.append(_table(["path", "kind", "size", "not rescued"], rows, {2, 3}))
        if f.more:
            out.append(f'<p class="note">… and {f.more:,} more.</p>')
    if f.deleted:
        out.append(f'<p class="note">{f.deleted:,} deleted files the filesystems still list are hit too.</p>')
    out += [f'<p class="note">{_e(n)}</p>' for n in f.notes[:10]]
    out.append("</section>")
    return "".join(out)


def _length(rows: int) -> str:
    """A short list stays in one piece; a long one starts on a page of its own."""
    return "long" if rows > 25 else "keep"


def _part(x: dict[str, Any]) -> str:
    return f"/p{x['partition']}{x['path']}" if x.get("partition") else x["path"]


def _station(r: Report) -> str:
    s = r.station
    host = s.get("host", {}) if isinstance(s.get("host"), dict) else {}
    cpu = s.get("cpu", {}) if isinstance(s.get("cpu"), dict) else {}
    mem = s.get("memory", {}) if isinstance(s.get("memory"), dict) else {}
    board = s.get("board", {}) if isinstance(s.get("board"), dict) else {}
    rows = [
        ("Station software", _e(f"Station {host.get('station', '?')} (report: {r.generator})")),
        ("Host", _e(host.get("hostname"))),
        (
            "Operating system",
            _e(" ".join(str(x) for x in (host.get("os"), "kernel", host.get("kernel")) if x)),
        ),
        ("CPU", _e(cpu.get("model"))),
        ("Memory", _e(fmt_bytes(mem["total_bytes"])) if isinstance(mem.get("total_bytes"), int) else ""),
        ("Board", _e(" ".join(str(board.get(k, "")) for k in ("sys_vendor", "product_name")).strip())),
    ]
    controllers = s.get("controllers") if isinstance(s.get("controllers"), list) else []
    for c in controllers[:8]:
        if isinstance(c, dict):
            name = " ".join(str(x) for x in (c.get("vendor"), c.get("name")) if x) or c.get("address")
            rows.append((str(c.get("kind", "controller")), _e(f"{name} (driver {c.get('driver', '-')})")))
    if not s:
        rows = [("Station", "no inventory recorded")]
    return f'<section class="keep"><h2>The station</h2>{_kv(rows)}</section>'

"""The engine against GNU ddrescue on every simulator preset: the table in docs/benchmarks.md.

    .venv/bin/python bench/bench_methods.py [--presets a,b] [--methods engine,ddrescue,...]
        [--out DIR] [--no-keep]

Runs `station bench PRESET --methods ... --json` for each preset (each method on its own fresh
copy of the drive; ddrescue over FUSE, so run as root) and prints a markdown table of simulated
seconds and read errors at 90, 99, 99.9 and 100% of the readable data, the floor
(station.sim.floor: what no method can beat), the engine's time and errors as a share of each
ddrescue's (`ddrescue`, `ddrescue=PATH`, ...) and the engine's distance to the floor, then the
issue's targets checked against every ddrescue:

* on every preset, the engine reaches 99, 99.9 and 100% no later than ddrescue;
* on dead-head presets, in at most half of ddrescue's simulated time and read errors.

Simulated time is charged by the drive model, so these numbers do not depend on how busy the
machine is: one run is the measurement.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MILESTONES = ("0.9", "0.99", "0.999", "1")
TARGETS = ("0.99", "0.999", "1")


def run(preset: str, methods: str, out: Path, keep: bool = True) -> dict:
    cmd = [sys.executable, "-m", "station.cli", "bench", preset, "--methods", methods, "--json"]
    cmd += ["--out", str(out)] + ([] if keep else ["--no-keep"])
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()}")
    return json.loads(p.stdout)


def cell(m: dict | None) -> str:
    return f"{m['seconds']:.0f} s / {m['read_errors']}" if m else "never"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default=None, help="comma-separated [all presets]")
    ap.add_argument("--methods", default="engine,ddrescue")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "methods"))
    ap.add_argument("--no-keep", action="store_true", help="remove each image once it is checked")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from station.sim.floor import floors
    from station.sim.model import build_layout, load_model, preset_names

    presets = a.presets.split(",") if a.presets else preset_names()
    methods = a.methods.split(",")
    rows, failures = [], []
    for preset in presets:
        report = run(preset, a.methods, Path(a.out) / preset, keep=not a.no_keep)
        by = {r["method"]: r for r in report["results"]}
        ms = {name: by[name]["stats"]["milestones"] for name in methods}
        for name in methods:
            rows.append((preset, name, [cell(ms[name].get(f)) for f in MILESTONES], by[name]["correct"]))
        floor = floors(build_layout(load_model(preset)), tuple(float(f) for f in MILESTONES))
        low = {f: floor[float(f)] for f in MILESTONES}
        rows.append(
            (preset, "floor", [f"{low[f].seconds:.0f} s / {low[f].errors}" for f in MILESTONES], None)
        )
        if "engine" in ms:
            e = ms["engine"]
            away = [
                f"{e[f]['seconds'] / max(low[f].seconds, 1e-9):.2f}x" if f in e else "never"
                for f in MILESTONES
            ]
            rows.append((preset, "engine vs floor", away, None))
        for d_name in [n for n in methods if n.startswith("ddrescue")] if "engine" in ms else []:
            e, d = ms["engine"], ms[d_name]
            shares = []
            for f in TARGETS:
                if f not in d:
                    shares.append("ddrescue never")
                    continue
                if f not in e:
                    failures.append(f"{preset}: engine never reached {f} ({d_name} did)")
                    shares.append("engine never")
                    continue
                t = e[f]["seconds"] / max(d[f]["seconds"], 1e-9)
                x = e[f]["read_errors"] / max(d[f]["read_errors"], 1)
                shares.append(f"{100 * t:.0f}% / {100 * x:.0f}%")
                if e[f]["seconds"] > d[f]["seconds"]:
                    failures.append(f"{preset}: engine later than {d_name} at {f}")
                if preset.startswith("dead-head") and (t > 0.5 or x > 0.5):
                    failures.append(f"{preset}: engine above half of {d_name} at {f}")
            rows.append((preset, f"engine vs {d_name}", ["", *shares], None))
    head = "| preset | method | 90% | 99% | 99.9% | 100% | right |"
    print(head)
    print("|" + "---|" * 7)
    for preset, name, cells, right in rows:
        r = {True: "yes", False: "NO", None: ""}[right]
        print(f"| {preset} | {name} | " + " | ".join(cells) + f" | {r} |")
    print()
    print("targets met" if not failures else "targets missed:\n  " + "\n  ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

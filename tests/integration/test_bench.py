"""`station bench` on a tiny virtual drive: every method for real (ddrescue and dd over FUSE)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from station.bench.methods import BenchError, parse_methods

TINY = """
name = "tiny-dead-head"
description = "8 MiB, 4 heads, serpentine, head 1 dead, a few bad sectors"
size = "8Mi"
seed = 11

[geometry]
heads = 4
zones = 2
outer_spt = 128
inner_spt = 96
band_cylinders = 2

[[defects]]
kind = "dead_head"
head = 1

[[defects]]
kind = "bad_sectors"
count = 6
cluster = 3
"""


def fuse_usable() -> bool:
    return os.path.exists("/dev/fuse") and os.geteuid() == 0 and shutil.which("fusermount3") is not None


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.toml"
    p.write_text(TINY)
    return p


def run(kit, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*kit.STATION, *args], capture_output=True, text=True, timeout=timeout)


def test_bench_compares_every_method_on_the_same_damage(kit, tiny: Path, tmp_path: Path) -> None:
    if not (fuse_usable() and shutil.which("ddrescue") and shutil.which("dd")):
        pytest.skip("needs root, /dev/fuse, fusermount3, GNU ddrescue and dd")
    out = tmp_path / "out"
    r = run(
        kit, "bench", str(tiny), "--methods", "engine,engine:quick,ddrescue,dd", "--out", str(out), "--json"
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert [x["method"] for x in report["results"]] == ["engine", "engine:quick", "ddrescue", "dd"]
    readable = report["readable_bytes"]
    assert 0 < readable < report["size"] == 8 << 20
    for res in report["results"]:
        assert res["correct"] is True, res
        stats = res["stats"]
        assert stats["reads"] > 0 and stats["read_errors"] > 0  # every method met the same damage
        ms = stats["milestones"]
        assert "0.5" in ms and ms["0.5"]["seconds"] <= stats["seconds"]
        curve = stats["history"]
        assert curve == sorted(curve) and curve[-1][2] <= readable
    by = {x["method"]: x for x in report["results"]}
    # the engine and ddrescue reach every readable byte; the run stops there
    for name in ("engine", "ddrescue"):
        assert by[name]["stats"]["milestones"].get("1"), name
        assert by[name]["outcome"] == "stopped-at-100%"
        assert by[name]["rescued_bytes"] >= 0.99 * readable
    # dd loses whole 64 KiB blocks around each bad sector: it never gets everything
    assert "1" not in by["dd"]["stats"]["milestones"]
    assert by["dd"]["rescued_bytes"] < readable
    saved = json.loads((out / "bench.json").read_text())
    assert saved["results"][0]["stats"]["milestones"] == report["results"][0]["stats"]["milestones"]
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["chart"] == str(out / "bench.png")


def test_bench_table_and_full_runs(kit, tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run(kit, "bench", str(tiny), "--methods", "engine:thorough", "--full", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "engine:thorough" in r.stdout and "100%" in r.stdout and "finished" in r.stdout
    report = json.loads((out / "bench.json").read_text())
    assert report["results"][0]["outcome"] == "finished"  # --full: ran to its own end


@pytest.mark.parametrize(
    "args, needle",
    [
        (["nope-preset"], "no preset named"),
        (["healthy", "--methods", "engine,rsync"], "unknown method 'rsync'"),
        (["healthy", "--methods", "engine:turbo"], "no engine profile 'turbo'"),
        (["healthy", "--methods", "ddrescue=/nonexistent/ddrescue"], "GNU ddrescue not found"),
        (["healthy", "--methods", "engine,engine"], "named twice"),
        (["healthy", "--max-sim-seconds", "-3"], "must be positive"),
    ],
)
def test_bench_bad_input_is_one_line_and_exit_2(kit, tmp_path: Path, args: list[str], needle: str) -> None:
    r = run(kit, "bench", *args, "--out", str(tmp_path / "o"), timeout=60)
    assert r.returncode == 2
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_parse_methods() -> None:
    ms = parse_methods("engine, engine:gentle ,dd:4Ki")
    assert [(m.label, m.kind, m.arg) for m in ms] == [
        ("engine", "engine", "default"),
        ("engine:gentle", "engine", "gentle"),
        ("dd:4Ki", "dd", "4Ki"),
    ]
    with pytest.raises(BenchError, match="bad block size"):
        parse_methods("dd:lots")
    with pytest.raises(BenchError, match="no methods"):
        parse_methods(" , ")


def test_a_zst_image_costs_the_rescue_no_drive_time(kit, tiny: Path, tmp_path: Path) -> None:
    ms = parse_methods("engine:zst,engine:quick:zst")
    assert [(m.arg, m.image) for m in ms] == [("default", "zst"), ("quick", "zst")]
    with pytest.raises(BenchError, match="no engine profile 'zst:quick'"):
        parse_methods("engine:zst:quick")
    out = tmp_path / "out"
    r = run(kit, "bench", str(tiny), "--methods", "engine,engine:zst", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    raw, zst = json.loads(r.stdout)["results"]

    def simulated(ms: dict) -> dict:  # (real seconds, `wall`, differ: compressing takes its time)
        return {f: {k: v for k, v in m.items() if k != "wall"} for f, m in ms.items()}

    assert simulated(raw["stats"]["milestones"]) == simulated(zst["stats"]["milestones"])  # same drive time
    assert zst["correct"] and zst["image"].endswith("image.zst") and "sealed" in zst["note"]

"""Method comparisons on virtual failing drives: the same damage, a fresh drive per method.

Each method images its own fresh copy of one model (same seed, same defects) and is measured
by the drive itself (station.sim.drive): simulated seconds and read errors at which 50, 90, 99,
99.9 and 100% of the readable bytes had first been read, reads, bytes, and the coverage curve.
Then its image is checked against the drive's content.  Methods:

* ``engine`` and ``engine:PROFILE``: Station's engine, in process over a SimSource, timed by
  the drive's clock (the same cost model every other method is charged by); ``engine:zst`` and
  ``engine:PROFILE:zst`` write a zst image instead (hashed while written, sealed at the end,
  checked through a raw copy), to show that compression costs the rescue no drive time;
* ``ddrescue``, ``ddrescue=PATH``, ``ddrescue:ARGS`` or ``ddrescue=PATH:ARGS``: GNU ddrescue on
  the drive served over FUSE (station.sim.fuse), with default options or the given ones (ARGS
  split at spaces, e.g. ``ddrescue=/opt/ddrescue-1.30/ddrescue:-a 1M``), stopped with SIGINT like
  a technician would;
* ``dd`` or ``dd:BS``: ``dd conv=noerror,sync`` over FUSE (block size 64 KiB unless given);
* ``imager`` (when the drivers package provides it): the emulated hardware imager.

A drive that stops answering (the `dying` preset) is power-cycled by the bench for every
method alike, as a relay on the bench would; the cycle and its spin-up are charged to the drive.

By default a method stops once it has read every readable byte (nothing after that can
change a milestone), or at its own end; ``full=True`` lets each run to its own end.

With ``time_scale`` the drive really sleeps that many seconds per simulated second (the FUSE
server's ``--time-scale``, and the in-process drive alike) and the engine times its reads by the
real clock: the milestones' ``wall`` seconds are then the measurement, and they depend on how
busy the machine is.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from station.sim.drive import MILESTONES

DEFAULT_METHODS = "engine,ddrescue,dd"


class BenchError(Exception):
    """A bench that cannot run (unknown method, missing tool, no FUSE); one line."""


@dataclass(frozen=True)
class Method:
    label: str  # as given: engine:thorough, ddrescue=/opt/ddrescue-1.30/ddrescue, dd:4K
    kind: str  # engine, ddrescue, dd, imager
    arg: str | None = None
    image: str = "raw"  # the engine's image: raw, or zst (engine:zst)
    options: tuple[str, ...] = ()  # a tool's own options (ddrescue:-a 1M)


@dataclass
class MethodResult:
    method: str
    kind: str
    outcome: str  # finished, stopped-at-100%, stopped-at-limit, failed
    stats: dict[str, Any]  # the drive's counters, milestones and curve
    rescued_bytes: int  # what the method's map (or image, for dd) says it rescued
    readable_bytes: int
    wall_seconds: float
    correct: bool | None  # every rescued byte right (None: not checked)
    wrong_bytes: int = 0
    note: str = ""
    image: str = ""
    mapfile: str = ""

    def milestone(self, fraction: float) -> dict | None:
        return self.stats.get("milestones", {}).get(f"{fraction:g}")


@dataclass
class BenchReport:
    model: str
    description: str
    size: int
    readable_bytes: int
    results: list[MethodResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "description": self.description,
            "size": self.size,
            "readable_bytes": self.readable_bytes,
            "milestones": list(MILESTONES),
            "results": [asdict(r) for r in self.results],
        }


def parse_methods(text: str) -> list[Method]:
    """'engine,engine:thorough,ddrescue=/path,dd:4K' -> methods; BenchError on unknown ones."""
    from station.rescue.profiles import PROFILES

    out: list[Method] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if item == "engine" or item.startswith("engine:"):
            words = item.split(":")[1:]
            image = "zst" if words[-1:] == ["zst"] else "raw"
            profile = (words[:-1] if image == "zst" else words)[:1] or ["default"]
            if profile[0] not in PROFILES or len(words) > 1 + (image == "zst"):
                raise BenchError(f"no engine profile {':'.join(words)!r} (profiles: {', '.join(PROFILES)})")
            out.append(Method(item, "engine", profile[0], image))
        elif item == "ddrescue" or item.startswith(("ddrescue=", "ddrescue:")):
            head, _, args = item.partition(":")
            path = head.partition("=")[2] or shutil.which("ddrescue")
            if not path or not os.access(path, os.X_OK):
                raise BenchError(f"{item}: GNU ddrescue not found (install gddrescue or give ddrescue=PATH)")
            out.append(Method(item, "ddrescue", path, options=tuple(args.split())))
        elif item == "dd" or item.startswith("dd:"):
            from station.core.units import parse_size

            bs = item.partition(":")[2] or "64Ki"
            try:
                parse_size(bs)
            except ValueError:
                raise BenchError(f"{item}: bad block size {bs!r}") from None
            out.append(Method(item, "dd", bs))
        elif item == "imager" or item.startswith("imager:"):
            out.append(Method(item, "imager", item.partition(":")[2] or None))
        else:
            raise BenchError(
                f"unknown method {item!r} (methods: engine[:PROFILE][:zst], ddrescue[=PATH], dd[:BS], imager)"
            )
    if not out:
        raise BenchError("no methods given")
    labels = [m.label for m in out]
    if len(set(labels)) != len(labels):
        raise BenchError("a method is named twice")
    return out


Progress = Callable[[str, float], None]  # (method label, fraction of readable bytes read so far)


def run_bench(
    model_spec: str,
    methods: list[Method],
    out_dir: str | Path,
    *,
    full: bool = False,
    max_sim_seconds: float | None = None,
    max_wall_seconds: float = 1800.0,
    progress: Progress | None = None,
    time_scale: float = 0.0,
    keep_images: bool = True,
) -> BenchReport:
    """Run every method on its own fresh drive of `model_spec`; results also go to out_dir.

    `time_scale` > 0: the drives really take their time (see the module's docstring).  Without
    `keep_images` each image is removed once checked (big drives: the disk holds one at a time).
    """
    from station.sim.model import load_model

    model = load_model(model_spec)
    layout = model.build()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = BenchReport(model.name, model.description, model.size, layout.readable_bytes)
    limits = _Limits(full, max_sim_seconds, max_wall_seconds, time_scale)
    for m in methods:
        work = out / _safe(m.label)
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        runner = _RUNNERS[m.kind]
        result = runner(m, model_spec, work, limits, progress or (lambda label, f: None))
        report.results.append(result)
        if not keep_images and result.image:
            Path(result.image).unlink(missing_ok=True)
    (out / "bench.json").write_text(json.dumps(report.to_dict(), indent=2))
    return report


@dataclass(frozen=True)
class _Limits:
    full: bool
    max_sim_seconds: float | None
    max_wall_seconds: float
    time_scale: float = 0.0

    def reached_drive(self, drive, started: float) -> str | None:
        """As reached(), straight from an in-process drive (checked after every read)."""
        st = drive.stats
        if not self.full and 1.0 in st.milestones:
            return "stopped-at-100%"
        if self.max_sim_seconds is not None and st.seconds >= self.max_sim_seconds:
            return "stopped-at-limit"
        if st.reads % 256 == 0 and time.monotonic() - started >= self.max_wall_seconds:
            return "stopped-at-limit"
        return None

    def reached(self, stats: dict[str, Any], started: float) -> str | None:
        """Why to stop now, if at all."""
        if not self.full and "1" in stats.get("milestones", {}):
            return "stopped-at-100%"
        if self.max_sim_seconds is not None and stats.get("seconds", 0.0) >= self.max_sim_seconds:
            return "stopped-at-limit"
        if time.monotonic() - started >= self.max_wall_seconds:
            return "stopped-at-limit"
        return None


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


# -- the engine, in process ------------------------------------------------------------------------


def _run_engine(m: Method, model_spec: str, work: Path, limits: _Limits, progress: Progress) -> MethodResult:
    from station.core.control import RunControl
    from station.images.convert import zst_to_raw
    from station.images.zstsink import open_image_sink
    from station.media.sink import open_sink
    from station.rescue.engine import Engine
    from station.rescue.mapfile import write_mapfile
    from station.rescue.profiles import profile_options
    from station.rescue.rescuemap import RescueMap, Status
    from station.sim.drive import SimDrive
    from station.sim.model import load_model
    from station.sim.source import SimSource
    from station.sim.verify import verify

    drive = SimDrive(load_model(model_spec), time_scale=limits.time_scale)
    control = RunControl()
    started = time.monotonic()
    why: list[str] = []

    class Watched(SimSource):
        """Stops the run from the drive's side, right after the read that reached a limit."""

        def read_into(self, pos: int, buf: memoryview) -> int:
            try:
                return super().read_into(pos, buf)
            finally:
                if not why:
                    reason = limits.reached_drive(drive, started)
                    if reason:
                        why.append(reason)
                        control.stop()

    source = Watched(drive)
    image, mapfile = work / "image", work / "image.map"
    zst = m.image == "zst"
    if zst:
        sink = open_image_sink(str(work / "image.zst"), drive.model.size, source.identity)
    else:
        sink = open_sink(str(image), size=drive.model.size, create=True, source=source.identity)
    rmap = RescueMap(drive.model.size)
    options = profile_options(m.arg or "default")

    def save(mp: RescueMap) -> None:
        write_mapfile(str(mapfile), mp, command_line=f"station bench {m.label}")

    last = [0.0]

    def emit(e) -> None:
        now = time.monotonic()
        if now - last[0] > 0.2:
            last[0] = now
            progress(m.label, drive.stats.covered / max(1, drive.readable_sectors * drive.sector_size))

    clock = time.monotonic if limits.time_scale else drive.clock  # what the drive really took, or its cost
    engine = Engine(source, sink, rmap, options, emit=emit, save_map=save, clock=clock, control=control)
    relay = _Relay(drive)
    try:
        result = engine.run()
    except BaseException:
        sink.close()
        raise
    finally:
        relay.stop()
    wall = time.monotonic() - started
    progress(m.label, drive.stats.covered / max(1, drive.readable_sectors * drive.sector_size))
    outcome = why[0] if why else result.outcome
    save(rmap)  # the map as the run left it (the engine saved it too, unless it could not)
    note = result.reason
    if zst:  # sealed as a job seals it, then checked through a raw copy (sim.verify reads raw)
        sealed = sink.seal(rmap)
        note += f"; sealed in {time.monotonic() - started - wall:.1f} s: {sealed.file_size} bytes"
        zst_to_raw(str(work / "image.zst"), str(image), out_map=str(work / "image.raw.map"))
    else:
        sink.close()
    verdict = verify(drive.model, str(image), str(mapfile))
    return MethodResult(
        m.label, "engine", outcome, drive.stats.to_dict(drive.readable_sectors * drive.sector_size),
        rmap.bytes_in(Status.FINISHED), drive.readable_sectors * drive.sector_size, wall, verdict.ok,
        verdict.wrong_bytes + verdict.impossible_bytes,
        note=note, image=str(work / "image.zst" if zst else image), mapfile=str(mapfile),
    )  # fmt: skip


class _Relay:
    """Power-cycles the in-process drive whenever it stops answering, as the tools' drive is."""

    def __init__(self, drive) -> None:
        self.drive = drive
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="bench-relay", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(0.01):
            if self.drive.hung:
                self.drive.power_cycle()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


# -- external tools on the drive served over FUSE ---------------------------------------------------


def _serve(model_spec: str, work: Path, time_scale: float = 0.0):
    try:
        from station.sim.fuse import served
    except ImportError as e:
        raise BenchError(f"serving a virtual drive over FUSE is not available ({e})") from None
    mnt = work / "mnt"
    mnt.mkdir()
    return served(model_spec, str(mnt), time_scale=time_scale)


def _run_tool(
    m: Method,
    model_spec: str,
    work: Path,
    limits: _Limits,
    progress: Progress,
    argv: Callable[[str], list[str]],
    resumable: bool = False,
) -> tuple[MethodResult, Path]:
    """Run an external tool on the served drive, power-cycling it when it hangs.

    A resumable tool (ddrescue, with its mapfile) that gives up after its drive was
    power-cycled is started again, as a technician would rerun the same command.
    """
    image = work / "image"
    started = time.monotonic()
    restarts = 0
    with _serve(model_spec, work, limits.time_scale) as drive, open(work / "tool.log", "wb") as log:
        outcome = None
        while True:
            cycles_before = drive.stats().get("power_cycles", 0)
            p = subprocess.Popen(argv(drive.drive_path), stdout=log, stderr=subprocess.STDOUT, cwd=work)
            try:
                outcome = _watch(p, drive, m, limits, started, progress)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            stats = drive.stats()
            cycled = stats.get("power_cycles", 0) > cycles_before
            if outcome or p.returncode == 0 or not (resumable and cycled) or restarts >= MAX_RESTARTS:
                break
            restarts += 1
        wall = time.monotonic() - started
    rc = p.returncode
    if outcome is None:
        outcome = "finished" if rc == 0 else f"failed (exit {rc})"
    readable = stats.get("readable_bytes", 0)
    note = f"restarted {restarts} times after power cycles" if restarts else ""
    result = MethodResult(
        m.label, m.kind, outcome, stats, 0, readable, wall, None, note=note, image=str(image)
    )
    return result, image


MAX_RESTARTS = 1000


def _watch(
    p: subprocess.Popen, drive, m: Method, limits: _Limits, started: float, progress: Progress
) -> str | None:
    """Follow one run of a tool; stop it (SIGINT, as a technician would) at a limit."""
    while p.poll() is None:
        time.sleep(0.05)
        stats = drive.stats()
        if stats.get("hung"):
            drive.power("cycle")  # as a relay would; every method gets the same help
        progress(m.label, stats.get("covered_bytes", 0) / max(1, stats.get("readable_bytes", 1)))
        outcome = limits.reached(stats, started)
        if outcome:
            p.send_signal(signal.SIGINT)  # ddrescue saves its map and exits
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            return outcome
    return None


def _run_ddrescue(
    m: Method, model_spec: str, work: Path, limits: _Limits, progress: Progress
) -> MethodResult:
    from station.rescue.mapfile import MapfileError, read_mapfile
    from station.rescue.rescuemap import Status
    from station.sim.model import load_model
    from station.sim.verify import VerifyError, verify

    mapfile = work / "image.map"
    assert m.arg
    result, image = _run_tool(
        m, model_spec, work, limits, progress,
        lambda drive: [m.arg, *m.options, drive, str(work / "image"), str(mapfile)], resumable=True,
    )  # fmt: skip
    result.mapfile = str(mapfile)
    try:
        result.rescued_bytes = read_mapfile(str(mapfile)).bytes_in(Status.FINISHED)
        verdict = verify(load_model(model_spec), str(image), str(mapfile))
    except (MapfileError, VerifyError, OSError) as e:
        result.note = f"no usable mapfile: {e}"
        return result
    result.correct, result.wrong_bytes = verdict.ok, verdict.wrong_bytes + verdict.impossible_bytes
    return result


def _run_dd(m: Method, model_spec: str, work: Path, limits: _Limits, progress: Progress) -> MethodResult:
    from station.core.units import parse_size
    from station.sim.drive import SimDrive
    from station.sim.model import load_model

    bs = parse_size(m.arg or "64Ki")

    def argv(drive: str) -> list[str]:
        return ["dd", f"if={drive}", f"of={work / 'image'}", f"bs={bs}", "conv=noerror,sync", "status=none"]

    result, image = _run_tool(m, model_spec, work, limits, progress, argv)
    drive = SimDrive(load_model(model_spec))
    result.rescued_bytes, result.wrong_bytes = _dd_blocks(drive, image)
    result.correct = result.wrong_bytes == 0
    result.note = "dd keeps no map: rescued = sectors of the image equal to the drive's"
    return result


def _run_imager(m: Method, model_spec: str, work: Path, limits: _Limits, progress: Progress) -> MethodResult:
    from station.hw.registry import bench_method

    runner = bench_method("imager")
    if runner is None:
        raise BenchError("the emulated hardware imager is not installed (no station.bench_methods 'imager')")
    return runner(m, model_spec, work, limits, progress)


_RUNNERS = {"engine": _run_engine, "ddrescue": _run_ddrescue, "dd": _run_dd, "imager": _run_imager}


# -- dd's image, which has no map ----------------------------------------------------------------------


def _dd_blocks(drive, image: Path) -> tuple[int, int]:
    """dd's image: (bytes equal to the drive's content, bytes in sectors neither right nor zero-filled)."""
    from station.sim.content import sectors_content

    ss = drive.sector_size
    zero = bytes(ss)
    good = wrong = 0
    step = 8192
    with open(image, "rb") as f:
        for first in range(0, drive.sectors, step):
            n = min(step, drive.sectors - first)
            got = f.read(n * ss).ljust(n * ss, b"\0")
            want = sectors_content(first, n, ss)
            if got == want:
                good += n * ss
                continue
            for i in range(n):
                g = got[i * ss : (i + 1) * ss]
                if g == want[i * ss : (i + 1) * ss]:
                    good += ss
                elif g != zero:
                    wrong += ss
    return good, wrong


# -- the chart ----------------------------------------------------------------------------------------


def write_chart(report: BenchReport, path: str | Path) -> None:
    """PNG: rescued % of the readable bytes over simulated time, one curve per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    readable = max(1, report.readable_bytes)
    for r in report.results:
        hist = r.stats.get("history") or []
        if not hist:
            continue
        xs = [max(h[0], 1e-3) for h in hist]
        ys = [100.0 * h[2] / readable for h in hist]
        ax.step(xs, ys, where="post", label=r.method)
    ax.set_xscale("log")
    ax.set_xlabel("simulated seconds (log)")
    ax.set_ylabel("rescued, % of readable bytes")
    ax.set_ylim(0, 100.5)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(f"{report.model}: {report.description}", fontsize=9)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

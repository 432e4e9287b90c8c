"""An image's figures in words: compression and hashing, as the CLI's panel and the workstation say them."""

from __future__ import annotations

from station.core.events import ImageStats, TaskProgress
from station.core.record import SessionResult
from station.core.units import fmt_bytes, fmt_percent


def image_line(s: ImageStats) -> str:
    """One line: the format, what the written bytes take (zst), how far the hashes have got."""
    if s.format == "zst":
        size = f"{fmt_bytes(s.written)} written as {fmt_bytes(s.stored)}"
        what = f"zst: {size} ({fmt_percent(s.stored, s.written)} of raw)" if s.written else "zst"
    else:
        what = "raw"
    if not s.algorithms:
        return f"{what}; no hashes"
    return f"{what}; {'+'.join(s.algorithms)} hashed in order: {fmt_percent(s.hashed, s.size)}"


def hash_lines(result: SessionResult | None) -> list[str]:
    """A finished session's hashes and where its per-segment hashes are, one line each."""
    if result is None:
        return []
    lines = [f"{a} {h}" for a, h in sorted((result.hashes or {}).items())]
    image = result.image
    if image is not None:
        state = (
            "" if image.format != "zst" else (" (sealed)" if image.sealed else " (working file, not sealed)")
        )
        lines.append(f"image: {image.format}{state} {image.path}")
        if image.segments:
            lines.append(f"segment hashes ({image.segment_size} bytes each): {image.segments}")
    return lines


def panel_lines(s: ImageStats | None, task: TaskProgress | None, result: SessionResult | None) -> list[str]:
    """The image in a narrow panel: compression and hashing while imaging, the step after it
    (hashing the rest, sealing), then the hashes once the session has them (shortened)."""
    lines: list[str] = []
    if result is not None and result.hashes:
        lines += [f"{a} {h[:20]}…" for a, h in sorted(result.hashes.items())]
        return lines
    if s is not None:
        if s.format == "zst" and s.written:
            lines.append(f"zst: {fmt_percent(s.stored, s.written)} of raw size")
        else:
            lines.append(s.format)
        if s.algorithms:
            lines.append(f"{'+'.join(s.algorithms)}: {fmt_percent(s.hashed, s.size)} hashed")
    if task is not None and task.done < task.total:
        lines.append(f"{task.task}: {fmt_percent(task.done, task.total)}")
    return lines

"""An image's figures in words: compression and hashing, as the CLI's panel and the workstation say them."""

from __future__ import annotations

from station.core.events import ImageStats
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

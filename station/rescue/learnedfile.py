"""What a rescue learned, kept beside its map (MAP.learned.json), so that a resumed run starts from it.

The map is ddrescue's and must stay readable by ddrescue, so the engine's own knowledge (slow
areas, areas presumed bad, the patterns of bad and slow areas that the head map is drawn from:
station.rescue.knowledge) goes to a file of its own, written right after each map save with the
SHA-256 of the map it goes with.  A map written since by anything else (GNU ddrescue finishing
it, another tool) no longer matches, and its run starts without the knowledge: what was learned
about areas the other tool has since read would mislead.

JSON, one object: {"format": "station-learned", "version": 1, "map_sha256": ..., "knowledge": {...}}.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from station.core.safeopen import NotRegular, read_regular, write_atomic

SUFFIX = ".learned.json"
FORMAT = "station-learned"
VERSION = 1
MAP_LIMIT = 256 << 20  # as much as a mapfile may hold (station.rescue.mapfile reads no more)
LIMIT = 64 << 20


def learned_path(map_path: str | os.PathLike) -> str:
    """Where the knowledge of a map is kept."""
    return os.fspath(map_path) + SUFFIX


def map_digest(map_path: str | os.PathLike) -> str:
    """The SHA-256 of a mapfile as it is on disk."""
    return hashlib.sha256(read_regular(map_path, MAP_LIMIT)).hexdigest()


def save_learned(map_path: str | os.PathLike, knowledge: dict[str, Any]) -> None:
    """Keep `knowledge` (Knowledge.to_dict()) beside the map just saved.  OSError if it cannot."""
    doc = {"format": FORMAT, "version": VERSION, "map_sha256": map_digest(map_path), "knowledge": knowledge}
    write_atomic(learned_path(map_path), json.dumps(doc, separators=(",", ":")).encode())


def load_learned(map_path: str | os.PathLike) -> tuple[dict[str, Any] | None, str]:
    """(the knowledge kept with this map, or None; one line saying why not, "" when none was kept)."""
    path = learned_path(map_path)
    if not os.path.lexists(path):
        return None, ""
    try:
        doc = json.loads(read_regular(path, LIMIT))
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
            return None, f"{path} is not knowledge this version keeps: learning afresh"
        if doc.get("map_sha256") != map_digest(map_path):
            return None, "the map was written by another tool since the last run: learning afresh"
        knowledge = doc.get("knowledge")
        if not isinstance(knowledge, dict):
            return None, f"{path} holds no knowledge: learning afresh"
        return knowledge, ""
    except (OSError, NotRegular, ValueError) as e:
        return None, f"{path} cannot be read ({getattr(e, 'strerror', None) or e}): learning afresh"

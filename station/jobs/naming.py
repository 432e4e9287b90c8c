"""Names a job gives the files it makes: safe in any directory, the same from the CLI and the workstation.

Names come from what a drive or an imager says about itself (serial numbers, models), which is
untrusted text: only letters, digits, '.', '_' and '-' survive, so a serial with a NUL, a '/' or
'..' cannot name a file elsewhere or crash the open.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from station.core.safeopen import resolve
from station.core.session import images_home
from station.media import blockdev
from station.media.base import Source


def file_stem(*names: str | None) -> str:
    """A file name from the first of `names` that has one (a serial, a model): safe characters only."""
    for name in names:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name or "").strip("_.")
        if stem:
            return stem
    return "drive"


def clone_map_path(images: Path, source_stem: str, target: str) -> Path:
    """Where a clone's map goes: the images folder, named after the source and the target drive
    (DEST.map would be a file in /dev, a RAM filesystem: the map would be lost at reboot)."""
    return images / f"{source_stem}-to-{Path(target).name}.map"


def default_map_path(source_path: str, source: Source | None, dest: str) -> str:
    """DEST.map beside an image file; a clone's map in the images folder (see clone_map_path)."""
    target = resolve(dest)
    if blockdev.block_rdev(target) is None:
        return dest + ".map"
    serial = model = None
    if source is not None:
        serial, model = source.identity.serial, source.identity.model
    elif (rdev := blockdev.block_rdev(source_path)) is not None:
        info = blockdev.read_identity(rdev)
        serial, model = info.get("serial"), info.get("model")
    stem = file_stem(serial, model, os.path.basename(source_path))
    return str(clone_map_path(images_home(), stem, target))

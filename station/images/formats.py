"""Which kind of image a path holds, and the one way to open any of them for reading."""

from __future__ import annotations

import os

from station.images.reader import ImageReader, RawImageReader
from station.images.zstreader import ZstImageReader, is_zst_image
from station.rescue.mapfile import read_mapfile
from station.rescue.rescuemap import RescueMap


def image_format(path: str) -> str:
    """ "zst" for a Station zst image (working or sealed), else "raw"."""
    return "zst" if is_zst_image(path) else "raw"


def open_image(path: str, map_path: str | None = None) -> ImageReader:
    """An ImageReader for a raw or zst image, picked by the file's first bytes.

    The map: `map_path` if given; else the one a sealed zst carries; else PATH.map beside the
    image if it exists (Station's and ddrescue's habit); else none (every byte counts as
    rescued).  MapfileError for a malformed map, ImageCorrupt for a damaged zst image.
    """
    m: RescueMap | None = None
    if map_path is not None:
        m = read_mapfile(map_path)
    if image_format(path) == "zst":
        if m is None:
            r = ZstImageReader(path)
            if r.rescue_map is not None or not os.path.exists(path + ".map"):
                return r
            r.close()
            m = read_mapfile(path + ".map")
        return ZstImageReader(path, m)
    if m is None and os.path.exists(path + ".map"):
        m = read_mapfile(path + ".map")
    return RawImageReader(path, m)

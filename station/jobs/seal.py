"""Sealing a zst image by hand (`station seal`): a stopped rescue's working file made standard.

An imaging job seals its image itself when the rescue finishes; a rescue that was stopped, or
that will not be resumed, leaves a working file that only Station reads.  `seal_image` seals it
with its map (given, else IMAGE.map beside it), taking the image's writer locks first (a running
job's image is refused, naming the job), and records in the image the source and the session
that wrote it, found in the session store.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from station.core.identity import SourceIdentity
from station.core.session import SessionStore
from station.images.errors import ImageCorrupt
from station.images.layout import INDEX_SUFFIX
from station.images.seal import SealResult, sealing_path
from station.images.zstreader import ZstImageReader
from station.images.zstsink import open_image_sink
from station.jobs.lifecycle import read_map, starting_holder
from station.media.base import Refused
from station.media.locks import lock_for_writing
from station.media.safety import check_not_source


def recorded_source(
    image: str, store: SessionStore | None = None
) -> tuple[SourceIdentity | None, str | None]:
    """(the source, the session id) of the newest session that wrote `image`, if the store has one."""
    path = os.path.abspath(image)
    try:
        sessions = list((store or SessionStore()).list())
    except OSError:
        return None, None
    mine = [s for s in sessions if path in s.record.destinations and s.record.source.path]
    if not mine:
        return None, None
    newest = max(mine, key=lambda s: (s.record.started or 0, s.id))
    return newest.record.source, newest.id


def sealed_already(image: str) -> dict | None:
    """The metadata of a sealed image (None for a working one); Refused if it is not a zst image."""
    try:
        with ZstImageReader(image) as r:
            return r.metadata if r.sealed else None
    except ImageCorrupt as e:
        raise Refused(str(e)) from None
    except OSError as e:
        raise Refused(f"image {image}: {(e.strerror or str(e)).lower()}") from None


def seal_image(
    image: str,
    map_path: str | None = None,
    *,
    store: SessionStore | None = None,
    command: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SealResult:
    """Seal a working zst image (Refused: one line, nothing changed, for bad input).

    The map: `map_path`, else IMAGE.map if it exists, else none (every byte counts as rescued).
    """
    from station.images.formats import image_format

    if not os.path.isfile(image):
        raise Refused(f"image {image}: {'is not a file' if os.path.exists(image) else 'no such file'}")
    if image_format(image) != "zst":
        raise Refused(f"{image} is not a Station zst image (a raw image needs no sealing)")
    if map_path is None and os.path.exists(image + ".map"):
        map_path = image + ".map"
    rmap = read_map(map_path) if map_path else None
    command = command if command is not None else ["station", "seal", image]
    lock = lock_for_writing([image, image + INDEX_SUFFIX, sealing_path(image)], starting_holder(command))
    try:
        with ZstImageReader(image) as r:
            size, algorithms = r.size, r.header.algorithms
        if rmap is not None and rmap.size != size:
            raise Refused(f"{map_path} covers {rmap.size} bytes, the image {size}")
        identity, session = recorded_source(image, store)
        if identity is not None:
            check_not_source(identity, image)
        sink = open_image_sink(image, size, identity, algorithms=algorithms)
        extra = {"sealed_by": "station seal", "session": session}
        return sink.seal(rmap, extra=extra, progress=progress)
    except ImageCorrupt as e:
        raise Refused(str(e)) from None
    finally:
        lock.release()

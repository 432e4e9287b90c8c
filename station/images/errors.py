"""The one error a damaged zst image raises, whatever part of it is damaged."""

from __future__ import annotations


class ImageCorrupt(ValueError):
    """The image's bytes are not what it recorded: names the chunk and the raw byte range lost.

    `chunk` is None and the range is the whole image when the damage is in a part that covers
    everything (the file header, the seek table, a truncated end).
    """

    def __init__(
        self, path: str, reason: str, chunk: int | None = None, start: int = 0, end: int = 0
    ) -> None:
        self.path = path
        self.reason = reason
        self.chunk = chunk
        self.start = start
        self.end = end
        where = f"chunk {chunk} (bytes {start}-{end})" if chunk is not None else f"bytes {start}-{end}"
        super().__init__(f"{path}: corrupt image: {reason} in {where}")

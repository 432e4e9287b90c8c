"""Reading a zst image, working or sealed, at any offset: an ImageReader.

A sealed file is read through its seek table, kept as one (compressed offset, entry) pair per
1024 entries, so memory stays flat whatever the image's size; a small LRU holds the last
frames decompressed.  A working file is read through its index.  Every kind of damage
(a frame that fails its checksum, a truncated file, a damaged seek table or header) raises
ImageCorrupt naming the chunk and byte range, never a zstandard error and never zeros.
"""

from __future__ import annotations

import json
import os
from array import array
from collections import OrderedDict
from collections.abc import Iterator
from itertools import accumulate

import zstandard

from station.images.errors import ImageCorrupt
from station.images.frames import (
    CHUNK_HEADER_SIZE,
    DIGEST_SIZE,
    FILE_HEADER_SIZE,
    SEEK_TABLE_MAGIC,
    SKIP_HEAD,
    TAG_MAPFILE,
    TAG_META,
    TAG_SEGMENTS,
    ChunkHeader,
    FileHeader,
    FormatError,
    frame_checksum,
    parse_entries,
    parse_footer,
    seek_table_size,
    untag,
)
from station.images.layout import Layout, open_layout, pread_exact
from station.images.reader import Range, unrescued_ranges, zero_ranges
from station.rescue.mapfile import MapfileError, parse_mapfile
from station.rescue.rescuemap import RescueMap

_BLOCK = 1024  # seek table entries per remembered offset


class _SeekTable:
    """The seek table of a sealed file, read a block of entries at a time."""

    def __init__(self, fd: int, path: str, file_size: int, image_size: int) -> None:
        self._fd = fd
        self._path = path
        whole = (0, image_size)
        try:
            foot = parse_footer(pread_exact(fd, 9, file_size - 9)) if file_size >= 17 else None
        except FormatError as e:
            raise ImageCorrupt(path, f"seek table damaged ({e})", None, *whole) from None
        if foot is None:
            raise ImageCorrupt(
                path, "seek table missing (the file was cut short or its end damaged)", None, *whole
            )
        self.count, self.checksums = foot
        self._width = 12 if self.checksums else 8
        size = seek_table_size(self.count, self.checksums)
        self.start = file_size - size
        if self.start < FILE_HEADER_SIZE:
            raise ImageCorrupt(path, "seek table damaged (more frames than the file can hold)", None, *whole)
        magic, fsize = SKIP_HEAD.unpack(pread_exact(fd, 8, self.start))
        if magic != SEEK_TABLE_MAGIC or fsize != size - 8:
            raise ImageCorrupt(path, "seek table damaged (bad frame header)", None, *whole)
        self._c_start = array("Q")  # compressed offset of entry i*_BLOCK
        self._d_start = array("Q")
        c = d = 0
        for b in range(0, self.count, _BLOCK):
            self._c_start.append(c)
            self._d_start.append(d)
            for ce, de, _ in self._read_block(b // _BLOCK):
                c += ce
                d += de
        if c != self.start or d != image_size:
            raise ImageCorrupt(path, "seek table damaged (its sizes do not add up)", None, *whole)
        self._cache: OrderedDict[int, tuple[list[tuple[int, int, int]], list[int]]] = OrderedDict()

    def _read_block(self, b: int) -> list[tuple[int, int, int]]:
        first = b * _BLOCK
        n = min(_BLOCK, self.count - first)
        raw = pread_exact(self._fd, n * self._width, self.start + 8 + first * self._width)
        return parse_entries(raw, self.checksums)

    def entry(self, i: int) -> tuple[int, int, int, int]:
        """(compressed offset, compressed size, decompressed size, checksum) of entry i."""
        b = i // _BLOCK
        cached = self._cache.get(b)
        if cached is None:
            block = self._read_block(b)
            starts = list(accumulate((e[0] for e in block), initial=self._c_start[b]))
            cached = self._cache[b] = (block, starts)
            if len(self._cache) > 8:
                self._cache.popitem(last=False)
        block, starts = cached
        c, d, x = block[i - b * _BLOCK]
        return starts[i - b * _BLOCK], c, d, x


class ZstImageReader:
    """A zst image (working or sealed) as an ImageReader; the map embedded in a sealed one if none given.

    `salvage`: a sealed file whose end is lost or damaged (cut short, a bad seek table) is read
    through its chunk records instead, as a working file is; a chunk not found among them raises
    ImageCorrupt when read, naming it (verify uses this to say which chunks a cut took).
    """

    def __init__(
        self, path: str, rescue_map: RescueMap | None = None, *, cache_frames: int = 8, salvage: bool = False
    ) -> None:
        self.path = path
        self.salvaged = False  # read through its records: its seek table and tail are lost
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._open(rescue_map, cache_frames, salvage)
        except BaseException:
            os.close(self._fd)
            raise

    def _open(self, rescue_map: RescueMap | None, cache_frames: int, salvage: bool) -> None:
        file_size = os.fstat(self._fd).st_size
        try:
            self.header = FileHeader.unpack(pread_exact(self._fd, FILE_HEADER_SIZE, 0))
        except FormatError as e:
            raise ImageCorrupt(self.path, str(e), None, 0, 0) from None
        h = self.header
        self._size = h.image_size
        self.chunk_size = h.chunk_size
        self.nchunks = -(-h.image_size // h.chunk_size)
        self._dctx = zstandard.ZstdDecompressor()
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_max = max(1, cache_frames)
        self._table: _SeekTable | None = None
        self._layout: Layout | None = None
        self._meta: dict | None = None
        if h.sealed:
            try:
                self._table = self._seek_table(file_size)
            except ImageCorrupt:
                if not salvage:
                    raise
                self.salvaged = True
        if not h.sealed or self.salvaged:
            try:
                self._layout = open_layout(self._fd, self.path, verify_tail=False)
            except FormatError as e:
                raise ImageCorrupt(self.path, str(e), None, 0, self._size) from None
        if rescue_map is None and self.sealed:
            text = self._tail_frame(TAG_MAPFILE).decode("utf-8", "replace")
            if text.strip():
                try:
                    rescue_map = parse_mapfile(text, f"{self.path} (embedded mapfile)")
                except (MapfileError, ValueError) as e:
                    raise ImageCorrupt(
                        self.path, f"embedded mapfile unreadable ({e})", None, 0, self._size
                    ) from None
        if rescue_map is not None and rescue_map.size != self._size:
            raise ValueError(f"{self.path}: the map covers {rescue_map.size} bytes, the image {self._size}")
        self._map = rescue_map

    def _seek_table(self, file_size: int) -> _SeekTable:
        h = self.header
        if file_size != h.sealed_size:
            cut = "cut short" if file_size < h.sealed_size else "longer than when it was sealed"
            raise ImageCorrupt(
                self.path,
                f"file is {cut} ({file_size} bytes, sealed at {h.sealed_size})",
                None,
                0,
                self._size,
            )
        table = _SeekTable(self._fd, self.path, file_size, h.image_size)
        if table.count != 2 * self.nchunks + 4:
            raise ImageCorrupt(self.path, "seek table damaged (wrong number of frames)", None, 0, self._size)
        return table

    # -- ImageReader ---------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self._size

    @property
    def rescue_map(self) -> RescueMap | None:
        return self._map

    @property
    def sealed(self) -> bool:
        return self._table is not None

    def read(self, pos: int, size: int) -> bytes:
        if pos < 0 or size < 0:
            raise ValueError("negative position or size")
        size = max(0, min(size, self._size - pos))
        if size == 0:
            return b""
        out = bytearray(size)
        cs = self.chunk_size
        at = pos
        while at < pos + size:
            k, off = divmod(at, cs)
            data = self.chunk(k)
            n = min(len(data) - off, pos + size - at)
            out[at - pos : at - pos + n] = data[off : off + n]
            at += n
        zero_ranges(out, pos, unrescued_ranges(self._map, pos, size))
        return bytes(out)

    def unrescued(self, pos: int, size: int) -> list[Range]:
        return unrescued_ranges(self._map, pos, size)

    def read_into(self, pos: int, view: memoryview) -> None:
        """`read` into a buffer of the caller's: one copy from each decompressed chunk."""
        size = max(0, min(len(view), self._size - pos))
        at, cs = pos, self.chunk_size
        while at < pos + size:
            k, off = divmod(at, cs)
            data = self.chunk(k)
            n = min(len(data) - off, pos + size - at)
            view[at - pos : at - pos + n] = memoryview(data)[off : off + n]
            at += n
        view[size:] = bytes(len(view) - size)
        zero_ranges(view, pos, unrescued_ranges(self._map, pos, size))

    def chunks(self, chunk: int = 8 << 20) -> Iterator[tuple[int, bytes]]:
        """(offset, bytes) over the whole image in order, unrescued bytes as zeros."""
        for pos in range(0, self._size, chunk):
            yield pos, self.read(pos, chunk)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ZstImageReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- chunks --------------------------------------------------------------------------------

    def chunk_range(self, k: int) -> tuple[int, int]:
        start = k * self.chunk_size
        return start, min(start + self.chunk_size, self._size)

    def chunk(self, k: int) -> bytes:
        """Chunk k's bytes as stored (before the map's zeroing); ImageCorrupt if they cannot be had."""
        data = self._cache.get(k)
        if data is not None:
            self._cache.move_to_end(k)
            return data
        data = self._load(k)
        self._cache[k] = data
        if len(self._cache) > self._cache_max:
            self._cache.popitem(last=False)
        return data

    def _load(self, k: int) -> bytes:
        start, end = self.chunk_range(k)
        n = end - start

        def corrupt(reason: str) -> ImageCorrupt:
            return ImageCorrupt(self.path, reason, k, start, end)

        if self._table is not None:
            off, clen, dlen, check = self._table.entry(2 + 2 * k)
            if dlen != n:
                raise corrupt("seek table entry has the wrong size")
            frame = pread_exact(self._fd, clen, off)
            if self._table.checksums and (len(frame) < 4 or frame_checksum(frame) != check):
                raise corrupt("frame does not match its seek table checksum")
        else:
            lay = self._layout
            assert lay is not None
            if not lay.index.has_data(k):
                if self.salvaged:  # every chunk of a sealed file had its record
                    raise corrupt("chunk not found in the file (cut short, or damaged before it)")
                return bytes(n)
            off = lay.index.offsets[k]
            rec = pread_exact(self._fd, CHUNK_HEADER_SIZE + lay.index.frame_lens[k], off)
            try:
                h = ChunkHeader.unpack(rec[:CHUNK_HEADER_SIZE], self.header.algorithms)
            except FormatError as e:
                raise corrupt(f"chunk record damaged ({e})") from None
            if h.chunk != k or h.raw_len != n:
                raise corrupt("chunk record names another chunk")
            frame = rec[CHUNK_HEADER_SIZE:]
        if len(frame) != (clen if self._table is not None else h.frame_len):
            raise corrupt("frame cut short")
        try:
            data = self._dctx.decompress(frame, max_output_size=n)
        except zstandard.ZstdError as e:
            raise corrupt(f"frame fails to decompress ({e})") from None
        if len(data) != n:
            raise corrupt("frame holds the wrong number of bytes")
        return data

    # -- what a sealed file carries ------------------------------------------------------------

    def _tail_frame(self, tag: bytes) -> bytes:
        assert self._table is not None
        order = {TAG_SEGMENTS: 3, TAG_MAPFILE: 2, TAG_META: 1}
        off, clen, _, _ = self._table.entry(self._table.count - order[tag])
        try:
            got, data = untag(pread_exact(self._fd, clen, off))
        except FormatError as e:
            raise ImageCorrupt(self.path, str(e), None, 0, self._size) from None
        if got != tag:
            raise ImageCorrupt(
                self.path, f"expected a {tag.decode()} frame, found {got!r}", None, 0, self._size
            )
        return data

    @property
    def metadata(self) -> dict | None:
        """The JSON record of a sealed image (hashes, source, times); None for a working file."""
        if self._table is None:
            return None
        if self._meta is None:
            try:
                self._meta = json.loads(self._tail_frame(TAG_META))
            except ValueError as e:
                if isinstance(e, ImageCorrupt):
                    raise
                raise ImageCorrupt(self.path, f"metadata unreadable ({e})", None, 0, self._size) from None
        return self._meta

    def segment_digests(self) -> dict[str, list[bytes]] | None:
        """Per-chunk digests recorded when sealing, by algorithm; None for a working file."""
        if self._table is None:
            return None
        raw = self._tail_frame(TAG_SEGMENTS)
        out: dict[str, list[bytes]] = {}
        pos = 0
        for a in self.header.algorithms:
            w = DIGEST_SIZE[a]
            out[a] = [raw[pos + i * w : pos + (i + 1) * w] for i in range(self.nchunks)]
            pos += w * self.nchunks
        if pos != len(raw):
            raise ImageCorrupt(self.path, "segment digests have the wrong length", None, 0, self._size)
        return out


def is_zst_image(path: str) -> bool:
    """Whether path starts with a Station zst file header."""
    try:
        with open(path, "rb") as f:
            FileHeader.unpack(f.read(FILE_HEADER_SIZE))
        return True
    except (OSError, FormatError):
        return False

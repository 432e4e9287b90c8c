"""GNU ddrescue mapfile reading and writing (format of ddrescue 1.27 through 1.30).

    # comment lines (and comments after whitespace)
    0x00120000     ?               1          <- current_pos  current_status  [current_pass]
    0x00000000  0x00100000  +                 <- pos  size  status, each block starting
    0x00100000  0x00020000  -                    where the previous one ended

Numbers are C integers (0x hex, leading-0 octal, decimal).  We read everything 1.30 writes,
including the sweeping status '%'; by default we write what 1.27 can read back (sweeping is
written as copying), since that is what Debian ships.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from station import __version__
from station.core.safeopen import NotRegular, read_regular, write_atomic
from station.core.units import parse_c_int
from station.rescue.rescuemap import Phase, RescueMap, Status


class MapfileError(ValueError):
    """A mapfile that cannot be used; the message names the file and line."""


_BLOCK_CHARS = {s.value: s for s in Status}
_PHASE_CHARS = {p.value: p for p in Phase}


def _strip_comment(line: str) -> str:
    """Drop a comment: '#' at the start or after whitespace, as ddrescue's reader does."""
    i = line.find("#")
    while i != -1:
        if i == 0 or line[i - 1].isspace():
            return line[:i]
        i = line.find("#", i + 1)
    return line


MAX_OFFSET = 2**63 - 1  # ddrescue's positions are long long: anything larger is not a drive
MAX_PASS = 2**31 - 1  # and its pass an int

# A block line exactly as ddrescue writes it (hex numbers, no comment): parsed without the general path.
_HEX_BLOCK = re.compile(r"[ \t]*0[xX]([0-9a-fA-F]+)[ \t]+0[xX]([0-9a-fA-F]+)[ \t]+([?*/+-])[ \t]*\Z")


def _parse_status_line(fields: list[str]) -> tuple[int, Phase, int]:
    """current_pos, phase and pass from a status line's fields; ValueError says what is wrong."""
    if len(fields) not in (2, 3) or len(fields[1]) != 1 or fields[1] not in _PHASE_CHARS:
        raise ValueError("bad or missing status line (want: current_pos current_status [current_pass])")
    try:
        cur_pos = parse_c_int(fields[0])
        pass_ = parse_c_int(fields[2]) if len(fields) == 3 else 1
    except ValueError as e:
        raise ValueError(f"bad status line: {e}") from None
    if cur_pos < 0 or pass_ < 1:
        raise ValueError("bad status line: negative position or pass < 1")
    if cur_pos > MAX_OFFSET or pass_ > MAX_PASS:
        raise ValueError("bad status line: position or pass too large")
    return cur_pos, _PHASE_CHARS[fields[1]], pass_


def _parse_block_fields(fields: list[str]) -> tuple[int, int, Status]:
    """pos, size and status from a block line's fields; ValueError says what is wrong."""
    if len(fields) != 3 or len(fields[2]) != 1 or fields[2] not in _BLOCK_CHARS:
        raise ValueError("bad block line (want: pos size status, status one of ?*/-+)")
    try:
        return parse_c_int(fields[0]), parse_c_int(fields[1]), _BLOCK_CHARS[fields[2]]
    except ValueError as e:
        raise ValueError(f"bad block line: {e}") from None


def _not_contiguous(pos: int, expected: int) -> str:
    return f"block at {pos:#x} does not start where the previous one ended ({expected:#x})"


def parse_mapfile(text: str, name: str = "mapfile") -> RescueMap:
    """Parse mapfile text into a RescueMap whose size is the mapfile's extent.

    A gap before the first block is non-tried, as ddrescue treats it.  An empty mapfile (only
    comments) gives an empty map of size 0.
    """
    status_seen = False
    blocks: list[tuple[int, int, Status]] = []
    expected: int | None = None
    cur_pos, phase, pass_ = 0, Phase.COPYING, 1
    hex_block = _HEX_BLOCK.match
    for lineno, raw in enumerate(text.splitlines(), start=1):
        try:
            fast = hex_block(raw) if status_seen else None
            if fast is not None:
                pos, size, st = int(fast[1], 16), int(fast[2], 16), _BLOCK_CHARS[fast[3]]
            else:
                fields = _strip_comment(raw).split()
                if not fields:
                    continue
                if not status_seen:
                    cur_pos, phase, pass_ = _parse_status_line(fields)
                    status_seen = True
                    continue
                pos, size, st = _parse_block_fields(fields)
            if pos < 0 or size < 0 or (size == 0 and pos != 0):
                raise ValueError("bad block line: negative position or empty block")
            if pos + size > MAX_OFFSET:
                raise ValueError("bad block line: ends beyond 2^63 bytes")
            if size == 0:
                # ddrescue accepts an empty block at 0 only before any other block; the next must start at 0.
                if expected:
                    raise ValueError(_not_contiguous(pos, expected))
                expected = 0
                continue
            if expected is None:
                if pos > 0:
                    blocks.append((0, pos, Status.NON_TRIED))
            elif pos != expected:
                raise ValueError(_not_contiguous(pos, expected))
        except ValueError as e:
            raise MapfileError(f"{name}: line {lineno}: {e}") from None
        blocks.append((pos, pos + size, st))
        expected = pos + size
    m = RescueMap.from_blocks(expected or 0, blocks)
    m.current_pos, m.phase, m.pass_ = cur_pos, phase, pass_
    return m


MAX_MAPFILE = 256 << 20  # bytes: ten million blocks; anything larger is not a map


def read_mapfile(path: str | os.PathLike) -> RescueMap:
    """Read a mapfile from disk; MapfileError if it is malformed or unreadable.

    Only a regular file of at most MAX_MAPFILE bytes is read: a fifo or a device (/dev/zero)
    is refused at once rather than waited on or read until memory runs out.
    """
    p = Path(path)
    try:
        data = read_regular(p, MAX_MAPFILE)
    except OSError as e:
        raise MapfileError(f"{p}: cannot read mapfile: {e.strerror}") from None
    except NotRegular as e:
        raise MapfileError(f"{p}: not a mapfile: {e}") from None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise MapfileError(f"{p}: line {line}: not a mapfile (binary data)") from None
    return parse_mapfile(text, str(p))


def comment_text(text: str) -> str:
    """Text made safe for a one-line comment: printable ASCII kept, everything else (non-ASCII
    letters, newlines, carriage returns, other control characters) written as a Python escape
    (\\xfc, \\n), so the map stays one comment line that ddrescue and Station both read."""
    return "".join(c if " " <= c <= "~" else c.encode("unicode_escape").decode("ascii") for c in text)


def format_mapfile(
    m: RescueMap,
    *,
    command_line: str = "",
    start_time: float | None = None,
    message: str = "",
    write_sweeping: bool = False,
) -> str:
    """Render a map in ddrescue's exact layout.

    `write_sweeping` writes 1.30's '%' status; off by default, because ddrescue 1.27 rejects it.
    """
    phase = m.phase
    if phase == Phase.SWEEPING and not write_sweeping:
        phase = Phase.COPYING
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    head = [f"# Mapfile. Created by Station version {__version__} (GNU ddrescue format)\n"]
    if command_line:
        head.append(f"# Command line: {comment_text(command_line)}\n")
    if start_time is not None:
        head.append(f"# Start time:   {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(start_time))}\n")
    head.append(f"# Current time: {now}\n")
    if m.phase == Phase.FINISHED:
        head.append("# Finished\n")
    elif message:
        head.append(f"# {comment_text(message)}\n")
    head.append("# current_pos  current_status  current_pass\n")
    head.append(f"0x{m.current_pos:08X}     {phase.value}               {m.pass_}\n")
    head.append("#      pos        size  status\n")
    body = [f"0x{b.pos:08X}  0x{b.size:08X}  {b.status.value}\n" for b in m]
    return "".join(head) + "".join(body)


def write_mapfile(path: str | os.PathLike, m: RescueMap, **fmt: object) -> None:
    """Replace the mapfile atomically, keeping the previous version as PATH.bak.

    The new text goes to a temporary file created exclusively in the same directory (never
    through a symlink planted at its name) and is fsynced, the old map is hard-linked to .bak,
    then the temporary file is renamed over the map and the directory fsynced
    (station.core.safeopen.write_atomic).  At every instant a complete mapfile exists under the
    map's name.
    """
    text = format_mapfile(m, **fmt)  # type: ignore[arg-type]
    write_atomic(path, text.encode("ascii"), mode=0o644, backup=True)

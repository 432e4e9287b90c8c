"""The Station imager protocol: one command set, two encodings (serial lines, USB bulk packets).

See docs/protocols/serial-imager.md and docs/protocols/usb-imager.md.  This module holds what
both the drivers and the emulators need: the command set's constants, the serial frame codec
(``$BODY*CRC16``), the key=value field encoding, and the USB packet codec.  Nothing here does
I/O.
"""

from __future__ import annotations

import binascii
import re
import struct
from dataclasses import dataclass, field

from station.rescue.rescuemap import Status

PROTOCOL = 1
MAX_BODY = 1024  # bytes between '$' and '*'

# Map statuses on the wire: letters, because ddrescue's '*' is the serial frame's delimiter.
STATUS_LETTER: dict[Status, str] = {
    Status.NON_TRIED: "N",
    Status.NON_TRIMMED: "T",
    Status.NON_SCRAPED: "S",
    Status.BAD_SECTOR: "B",
    Status.FINISHED: "F",
}
LETTER_STATUS: dict[str, Status] = {v: k for k, v in STATUS_LETTER.items()}

# Device phases (Phase labels of station.rescue.rescuemap).
PHASES = ("idle", "copying", "trimming", "scraping", "finished")

# Error codes of an ERR reply.
E_FRAME, E_UNKNOWN, E_ARGS, E_BUSY, E_NOJOB, E_NODRIVE, E_RESYNC, E_ROLE, E_INTERNAL = range(1, 10)
ERROR_NAMES = {
    E_FRAME: "bad frame",
    E_UNKNOWN: "unknown command",
    E_ARGS: "bad arguments",
    E_BUSY: "busy",
    E_NOJOB: "no job",
    E_NODRIVE: "no drive",
    E_RESYNC: "resync needed",
    E_ROLE: "wrong port role",
    E_INTERNAL: "internal error",
}

COMMANDS = ("HELLO", "PORTS", "AREA", "START", "STATUS", "CHANGES", "DUMP", "PAUSE", "RESUME", "ABORT")
COMMANDS += ("RESULT", "LOG", "PING")
DATA_VERBS = {"PORTS": "PORT", "CHANGES": "MAP", "DUMP": "MAP", "LOG": "LOG"}


@dataclass
class Item:
    """One data line of a reply: a verb, positional arguments and key=value fields."""

    verb: str
    args: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class Reply:
    """A whole reply: its data lines, then OK (with fields) or ERR (code, msg)."""

    ok: bool
    fields: dict[str, str] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)

    @classmethod
    def error(cls, code: int, msg: str) -> Reply:
        return cls(False, {"code": str(code), "msg": msg})

    @property
    def code(self) -> int:
        try:
            return int(self.fields.get("code", "0"))
        except ValueError:
            return 0


# -- serial: frames ---------------------------------------------------------------------------------


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): binascii's crc_hqx with that init."""
    return binascii.crc_hqx(data, 0xFFFF)


def encode_frame(body: str) -> bytes:
    raw = body.encode("ascii")
    if len(raw) > MAX_BODY or b"$" in raw or b"*" in raw:
        raise ValueError("frame body too long or holds a delimiter")
    return b"$" + raw + b"*" + f"{crc16(raw):04X}".encode() + b"\r\n"


class FrameReader:
    """Splits a byte stream into frame bodies; counts what it had to throw away.

    Bytes outside a frame are skipped until the next '$'.  A frame with a bad checksum, a
    non-printable byte or more than MAX_BODY bytes is dropped whole.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.garbage = 0  # bytes dropped
        self.bad_frames = 0

    def feed(self, data: bytes) -> list[str]:
        self._buf += data
        out: list[str] = []
        buf = self._buf
        while True:
            start = buf.find(b"$")
            if start < 0:
                self.garbage += len(buf)
                buf.clear()
                break
            if start:
                self.garbage += start
                del buf[:start]
            end = buf.find(b"\n")
            nxt = buf.find(b"$", 1)
            if nxt >= 0 and (end < 0 or nxt < end):  # a new frame began before this one ended
                self.bad_frames += 1
                self.garbage += nxt
                del buf[:nxt]
                continue
            if end < 0:
                if len(buf) > MAX_BODY + 8:
                    self.bad_frames += 1
                    self.garbage += len(buf)
                    buf.clear()
                break
            frame = bytes(buf[1:end]).rstrip(b"\r")
            del buf[: end + 1]
            body = self._check(frame)
            if body is None:
                self.bad_frames += 1
                self.garbage += len(frame) + 2
            else:
                out.append(body)
        return out

    @staticmethod
    def _check(frame: bytes) -> str | None:
        star = frame.rfind(b"*")
        if star < 0 or len(frame) - star != 5 or star > MAX_BODY:
            return None
        body, crc = frame[:star], frame[star + 1 :]
        if any(c < 0x20 or c > 0x7E for c in body):
            return None
        try:
            if int(crc, 16) != crc16(body):
                return None
        except ValueError:
            return None
        return body.decode("ascii")


# -- serial: bodies -----------------------------------------------------------------------------------

_SAFE = frozenset(range(0x21, 0x7F)) - {ord(c) for c in "%=$*"}
_KEY = re.compile(r"[a-z][a-z0-9-]*\Z")


def quote(value: str) -> str:
    """Percent-encode a field value (UTF-8): spaces, '%', '=', '$', '*' and non-printables."""
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in value.encode("utf-8"))


def unquote(text: str) -> str:
    out = bytearray()
    i = 0
    raw = text.encode("ascii")
    while i < len(raw):
        if raw[i] == 0x25:  # %
            try:
                out.append(int(raw[i + 1 : i + 3], 16))
            except ValueError:
                raise ValueError(f"bad escape in {text!r}") from None
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", errors="replace")


def format_body(
    tag: int, verb: str, args: list[str] | tuple = (), fields: dict[str, object] | None = None
) -> str:
    if any(str(a) == "" for a in args):
        raise ValueError("empty positional argument")
    parts = [str(tag), verb, *(quote(str(a)) for a in args)]
    for k, v in (fields or {}).items():
        if not _KEY.match(k):
            raise ValueError(f"bad field name {k!r}")
        parts.append(f"{k}={quote(str(v))}")
    return " ".join(parts)


def parse_body(body: str) -> tuple[int, str, list[str], dict[str, str]]:
    """'TAG VERB arg... key=value...' -> (tag, verb, args, fields); ValueError if malformed."""
    parts = body.split(" ")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isalpha() or not parts[1].isupper():
        raise ValueError(f"malformed line {body[:40]!r}")
    tag, verb = int(parts[0]), parts[1]
    args: list[str] = []
    fields: dict[str, str] = {}
    for p in parts[2:]:
        if not p:
            raise ValueError(f"malformed line {body[:40]!r}")
        k, eq, v = p.partition("=")
        if eq:
            if not _KEY.match(k):
                raise ValueError(f"bad field name {k!r}")
            fields[k] = unquote(v)
        else:
            args.append(unquote(p))
    return tag, verb, args, fields


def reply_lines(tag: int, reply: Reply) -> list[str]:
    """The frame bodies of a reply, data lines first."""
    lines = [format_body(tag, it.verb, it.args, it.fields) for it in reply.items]
    lines.append(format_body(tag, "OK" if reply.ok else "ERR", (), reply.fields))
    return lines


# -- USB: packets -------------------------------------------------------------------------------------
#
# Command (bulk OUT):  "SIUC" tag:u32 opcode:u16 flags:u16 length:u32  payload[length]
# Response (bulk IN):  "SIUR" tag:u32 status:u16 count:u16 length:u32  payload[length]  crc32:u32
# The response's CRC-32 covers header and payload: a real device's firmware would compute it
# so that a host can tell a truncated or mangled transfer from a good one.

USB_CMD = struct.Struct("<4sIHHI")
USB_RSP = struct.Struct("<4sIHHI")
USB_CMD_SIG, USB_RSP_SIG = b"SIUC", b"SIUR"
OPCODES = {verb: i + 1 for i, verb in enumerate(COMMANDS)}
VERBS = {v: k for k, v in OPCODES.items()}
MAP_RECORD = struct.Struct("<QQc")  # pos, size, status letter
USB_MAX_PAYLOAD = 1 << 20


def _kv(fields: dict[str, object]) -> bytes:
    """Fields as NUL-separated UTF-8 key=value records."""
    return b"".join(f"{k}={v}".encode() + b"\0" for k, v in fields.items())


def _unkv(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for rec in data.split(b"\0"):
        if not rec:
            continue
        k, eq, v = rec.decode("utf-8", errors="replace").partition("=")
        if not eq:
            raise ValueError("bad key=value record")
        out[k] = v
    return out


def usb_encode_command(
    tag: int, verb: str, args: list[str] | tuple = (), fields: dict | None = None
) -> bytes:
    payload = dict(fields or {})
    for i, a in enumerate(args):
        payload[f"arg{i}"] = a
    body = _kv(payload)
    return USB_CMD.pack(USB_CMD_SIG, tag, OPCODES[verb], 0, len(body)) + body


def usb_decode_command(data: bytes) -> tuple[int, str, list[str], dict[str, str]]:
    if len(data) < USB_CMD.size:
        raise ValueError("short command block")
    sig, tag, op, _flags, n = USB_CMD.unpack_from(data)
    if sig != USB_CMD_SIG or op not in VERBS or len(data) != USB_CMD.size + n:
        raise ValueError("bad command block")
    fields = _unkv(data[USB_CMD.size :])
    args = [fields.pop(f"arg{i}") for i in range(len(fields)) if f"arg{i}" in fields]
    return tag, VERBS[op], args, fields


SEC_FIELDS, SEC_MAP, SEC_ITEM = 0, 1, 2
_SECTION = struct.Struct("<BI")  # type, length


def usb_encode_reply(tag: int, reply: Reply) -> bytes:
    """Typed sections: the final fields, MAP items as packed records, other items as key=value."""
    sections = [(SEC_FIELDS, _kv(reply.fields))]
    maps = [it.args for it in reply.items if it.verb == "MAP"]
    if maps:
        recs = b"".join(MAP_RECORD.pack(int(a[0], 16), int(a[1], 16), a[2].encode()) for a in maps)
        sections.append((SEC_MAP, recs))
    for it in reply.items:
        if it.verb != "MAP":
            sections.append((SEC_ITEM, _kv({"verb": it.verb, **it.fields})))
    body = b"".join(_SECTION.pack(t, len(p)) + p for t, p in sections)
    status = 0 if reply.ok else (reply.code or E_INTERNAL)
    head = USB_RSP.pack(USB_RSP_SIG, tag, status, len(sections), len(body))
    return head + body + struct.pack("<I", binascii.crc32(head + body))


def usb_response_length(head: bytes) -> int:
    """Total bytes of a response, from its first USB_RSP.size bytes (ValueError if not a header)."""
    sig, _tag, _status, _count, n = USB_RSP.unpack_from(head)
    if sig != USB_RSP_SIG or n > USB_MAX_PAYLOAD:
        raise ValueError("not a response header")
    return USB_RSP.size + n + 4


def usb_decode_reply(data: bytes) -> tuple[int, Reply]:
    if len(data) < USB_RSP.size + 4:
        raise ValueError("short response")
    sig, tag, status, count, n = USB_RSP.unpack_from(data)
    if sig != USB_RSP_SIG or len(data) != USB_RSP.size + n + 4:
        raise ValueError("bad response header")
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if crc != binascii.crc32(data[:-4]):
        raise ValueError("response checksum mismatch")
    body = bytes(data[USB_RSP.size : USB_RSP.size + n])
    reply = Reply(status == 0)
    off = seen = 0
    while off < len(body):
        kind, k = _SECTION.unpack_from(body, off)
        sec = body[off + _SECTION.size : off + _SECTION.size + k]
        off += _SECTION.size + k
        seen += 1
        if len(sec) != k:
            raise ValueError("truncated response section")
        if kind == SEC_FIELDS:
            reply.fields = _unkv(sec)
        elif kind == SEC_MAP:
            if k % MAP_RECORD.size:
                raise ValueError("bad map records")
            for pos, size, st in MAP_RECORD.iter_unpack(sec):
                reply.items.append(Item("MAP", [f"{pos:X}", f"{size:X}", st.decode("ascii", "replace")]))
        elif kind == SEC_ITEM:
            f = _unkv(sec)
            reply.items.append(Item(f.pop("verb", "?"), [], f))
        else:
            raise ValueError(f"unknown response section {kind}")
    if seen != count:
        raise ValueError("bad response section count")
    if not reply.ok and "code" not in reply.fields:
        reply.fields["code"] = str(status)
    return tag, reply

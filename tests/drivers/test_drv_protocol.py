"""The imager protocol's encodings: serial frames and fields, USB command/response blocks."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.imager_proto import (
    FrameReader,
    Item,
    Reply,
    crc16,
    encode_frame,
    format_body,
    parse_body,
    quote,
    reply_lines,
    unquote,
    usb_decode_command,
    usb_decode_reply,
    usb_encode_command,
    usb_encode_reply,
    usb_response_length,
)


def test_crc16_is_ccitt_false() -> None:
    assert crc16(b"123456789") == 0x29B1  # the catalogue's check value for CRC-16/CCITT-FALSE


def test_frame_layout() -> None:
    assert encode_frame("7 PING") == b"$7 PING*" + f"{crc16(b'7 PING'):04X}".encode() + b"\r\n"


@given(st.text(min_size=0, max_size=60))
def test_quote_round_trips_any_text(s: str) -> None:
    q = quote(s)
    assert " " not in q and "*" not in q and "$" not in q and "=" not in q
    assert all(0x21 <= ord(c) <= 0x7E for c in q)
    assert unquote(q) == s


@given(
    st.integers(0, 65535),
    st.lists(st.text(min_size=1, max_size=10), max_size=3),
    st.dictionaries(st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True), st.text(max_size=20), max_size=4),
)
def test_body_round_trips(tag: int, args: list[str], fields: dict[str, str]) -> None:
    body = format_body(tag, "START", args, fields)
    frames = FrameReader().feed(encode_frame(body))
    assert frames == [body]
    assert parse_body(body) == (tag, "START", args, fields)


def test_reader_skips_garbage_and_bad_frames_and_resyncs_on_dollar() -> None:
    good1, good2 = encode_frame("1 OK a=1"), encode_frame("2 OK b=2")
    corrupt = bytearray(encode_frame("3 OK c=3"))
    corrupt[3] ^= 0x01  # one flipped bit: the checksum catches it
    truncated = encode_frame("4 OK d=4")[:6]  # a frame cut short by a new one
    r = FrameReader()
    out = r.feed(b"\x00\xffnoise" + good1 + bytes(corrupt) + truncated)
    out += r.feed(good2[:5])
    out += r.feed(good2[5:])
    assert out == ["1 OK a=1", "2 OK b=2"]
    assert r.bad_frames == 2
    assert r.garbage >= 7


def test_reader_drops_overlong_lines() -> None:
    r = FrameReader()
    assert r.feed(b"$" + b"A" * 2000) == []
    assert r.bad_frames == 1
    assert r.feed(encode_frame("5 OK")) == ["5 OK"]


@pytest.mark.parametrize("body", ["", "x OK", "12", "12 ok", "12 OK =v", "12 OK K=v", "12  OK"])
def test_malformed_bodies_are_refused(body: str) -> None:
    with pytest.raises(ValueError):
        parse_body(body)


def test_reply_lines_put_data_first() -> None:
    r = Reply(True, {"next": "2"}, [Item("MAP", ["0", "200", "F"]), Item("MAP", ["200", "200", "B"])])
    assert reply_lines(9, r) == ["9 MAP 0 200 F", "9 MAP 200 200 B", "9 OK next=2"]
    assert reply_lines(9, Reply.error(4, "a job is running")) == ["9 ERR code=4 msg=a%20job%20is%20running"]


def test_usb_command_round_trip() -> None:
    data = usb_encode_command(513, "AREA", ["clear"], {"pos": "1F", "size": "200"})
    assert data[:4] == b"SIUC"
    assert usb_decode_command(data) == (513, "AREA", ["clear"], {"pos": "1F", "size": "200"})
    with pytest.raises(ValueError):
        usb_decode_command(data[:-1])


def test_usb_reply_round_trip_with_map_records_and_items() -> None:
    r = Reply(
        True,
        {"next": "3", "more": "0"},
        [Item("MAP", ["3D", "200", "F"]), Item("MAP", ["FFFF0000", "1", "T"])],
    )
    data = usb_encode_reply(77, r)
    assert usb_response_length(data) == len(data)
    tag, back = usb_decode_reply(data)
    assert tag == 77 and back == r
    logs = Reply(True, {"next": "1"}, [Item("LOG", [], {"n": "0", "text": "a=b c"})])
    assert usb_decode_reply(usb_encode_reply(5, logs))[1] == logs
    err = usb_decode_reply(usb_encode_reply(6, Reply.error(7, "resync")))[1]
    assert not err.ok and err.code == 7


def test_usb_reply_checksum_catches_corruption() -> None:
    data = bytearray(usb_encode_reply(1, Reply(True, {"a": "1"})))
    data[20] ^= 0x40
    with pytest.raises(ValueError, match="checksum"):
        usb_decode_reply(bytes(data))
    with pytest.raises((ValueError, struct.error)):
        usb_response_length(b"JUNKJUNKJUNKJUNK")

"""RFC 6455 framing, server side: handshake key, frames out, frames in, and every refusal."""

from __future__ import annotations

import contextlib
import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyter_rt.errors import ProtocolError
from jupyter_rt.protocol import websocket as ws
from jupyter_rt.protocol.websocket import Close, CloseCode, FrameError, FrameReader, Message, Ping


def client_frame(
    opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True, rsv: int = 0
) -> bytes:
    """A frame as a browser sends it: masked with a random key."""
    first = (0x80 if fin else 0) | rsv | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, (0x80 if mask else 0) | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, length)
    else:
        header = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, length)
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def test_accept_key_is_the_rfc_example() -> None:
    assert ws.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("key", ["", "not base64!", "c2hvcnQ=", "dGhlIHNhbXBsZSBub25jZQ"])
def test_a_malformed_key_is_refused(key: str) -> None:
    with pytest.raises(ProtocolError):
        ws.accept_key(key)


@pytest.mark.parametrize(("size", "header"), [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_server_frames_are_unmasked_with_the_shortest_length(size: int, header: int) -> None:
    frame = ws.binary_frame(b"x" * size)
    assert frame[0] == 0x82
    assert not frame[1] & 0x80
    assert len(frame) == header + size


def test_text_frames_carry_utf8_and_close_frames_their_code() -> None:
    assert ws.text_frame("é") == b"\x81\x02\xc3\xa9"
    assert ws.close_frame(1009) == b"\x88\x02\x03\xf1"


def test_a_message_split_anywhere_comes_out_whole() -> None:
    data = client_frame(0x1, "héllo".encode()) + client_frame(0x2, b"\x00\xff" * 100)
    reader = FrameReader(max_message=1000)
    events = [event for byte in data for event in reader.feed(bytes([byte]))]
    assert events == [Message("héllo"), Message(b"\x00\xff" * 100)]


def test_fragments_are_joined_and_control_frames_may_come_between() -> None:
    reader = FrameReader(max_message=1000)
    data = (
        client_frame(0x1, b"he", fin=False)
        + client_frame(0x9, b"are you there")
        + client_frame(0x0, b"ll", fin=False)
        + client_frame(0x0, b"o")
    )
    assert reader.feed(data) == [Ping(b"are you there"), Message("hello")]


def test_pongs_are_swallowed_and_close_frames_reported() -> None:
    reader = FrameReader(max_message=1000)
    data = client_frame(0xA, b"") + client_frame(0x8, struct.pack("!H", 1001) + b"bye")
    assert reader.feed(data) == [Close(1001, "bye")]
    assert FrameReader(max_message=10).feed(client_frame(0x8, b"")) == [Close(None, "")]


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([client_frame(0x1, b"hi", mask=False)], CloseCode.PROTOCOL_ERROR),
        ([client_frame(0x1, b"hi", rsv=0x40)], CloseCode.PROTOCOL_ERROR),  # deflate, never agreed
        ([client_frame(0x3, b"")], CloseCode.PROTOCOL_ERROR),
        ([client_frame(0xB, b"")], CloseCode.PROTOCOL_ERROR),
        ([client_frame(0x9, b"x" * 126)], CloseCode.PROTOCOL_ERROR),
        ([client_frame(0x9, b"", fin=False)], CloseCode.PROTOCOL_ERROR),
        ([client_frame(0x0, b"orphan")], CloseCode.PROTOCOL_ERROR),
        (
            [client_frame(0x1, b"a", fin=False), client_frame(0x1, b"b")],
            CloseCode.PROTOCOL_ERROR,
        ),
        ([client_frame(0x8, b"\x03")], CloseCode.PROTOCOL_ERROR),
        ([client_frame(0x8, struct.pack("!H", 1005))], CloseCode.PROTOCOL_ERROR),
        ([client_frame(0x8, struct.pack("!H", 999))], CloseCode.PROTOCOL_ERROR),
        ([client_frame(0x1, b"\xff\xfe")], CloseCode.INVALID_DATA),
        ([client_frame(0x8, struct.pack("!H", 1000) + b"\xff")], CloseCode.INVALID_DATA),
        ([client_frame(0x2, b"x" * 101)], CloseCode.MESSAGE_TOO_BIG),
        (
            [client_frame(0x2, b"x" * 60, fin=False), client_frame(0x0, b"x" * 60)],
            CloseCode.MESSAGE_TOO_BIG,
        ),
    ],
)
def test_broken_framing_is_refused_with_its_close_code(frames: list[bytes], code: int) -> None:
    reader = FrameReader(max_message=100)
    with pytest.raises(FrameError) as raised:
        for frame in frames:
            reader.feed(frame)
    assert raised.value.close_code == code


def test_an_oversized_frame_is_refused_from_its_header_before_its_data() -> None:
    header = struct.pack("!BBQ", 0x82, 0x80 | 127, 10**12)
    with pytest.raises(FrameError) as raised:
        FrameReader(max_message=1_000_000).feed(header)
    assert raised.value.close_code == CloseCode.MESSAGE_TOO_BIG


def test_endless_empty_fragments_are_refused() -> None:
    reader = FrameReader(max_message=1000, max_fragments=50)
    reader.feed(client_frame(0x1, b"", fin=False))
    with pytest.raises(FrameError) as raised:
        for _ in range(100):
            reader.feed(client_frame(0x0, b"", fin=False))
    assert raised.value.close_code == CloseCode.MESSAGE_TOO_BIG


@given(st.binary(max_size=300))
def test_any_bytes_give_events_or_a_frame_error(data: bytes) -> None:
    reader = FrameReader(max_message=200)
    with contextlib.suppress(FrameError):
        reader.feed(data)


@given(
    st.lists(st.one_of(st.text(max_size=40), st.binary(max_size=40)), max_size=5),
    st.integers(min_value=1, max_value=7),
    st.integers(min_value=1, max_value=30),
)
def test_messages_survive_any_fragmentation_and_chunking(
    messages: list[str | bytes], fragment: int, chunk: int
) -> None:
    data = b""
    for message in messages:
        payload = message.encode() if isinstance(message, str) else message
        pieces = [payload[i : i + fragment] for i in range(0, len(payload), fragment)] or [b""]
        for i, piece in enumerate(pieces):
            opcode = (0x1 if isinstance(message, str) else 0x2) if i == 0 else 0x0
            data += client_frame(opcode, piece, fin=i == len(pieces) - 1)
    reader = FrameReader(max_message=1000)
    events = [e for i in range(0, len(data), chunk) for e in reader.feed(data[i : i + chunk])]
    assert events == [Message(m) for m in messages]

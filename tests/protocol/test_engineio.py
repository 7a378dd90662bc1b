"""Engine.IO v4 packets, frames and polling payloads (jupyter_rt.protocol.engineio)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from jupyter_rt.errors import ProtocolError
from jupyter_rt.protocol import engineio
from jupyter_rt.protocol.engineio import Packet, PacketType

TEXT_TYPES = [t for t in PacketType]

# -- strategies ----------------------------------------------------------------------------------

text_packets = st.builds(Packet, st.sampled_from(TEXT_TYPES), st.text())
binary_packets = st.builds(Packet, st.just(PacketType.MESSAGE), st.binary())
packets = text_packets | binary_packets
# A polling payload cannot carry a record separator inside a text packet.
payload_text_packets = st.builds(
    Packet, st.sampled_from(TEXT_TYPES), st.text().filter(lambda s: "\x1e" not in s)
)
payload_packets = payload_text_packets | binary_packets

# Pieces that look almost right, joined by separators, to reach the decoder's corners.
chunks = st.one_of(
    st.text(max_size=8),
    st.sampled_from(
        ["", "b", "b=", "bAQID", "bAQIDBA==", "b!!", "b A", "bé", "7", "4", "0{}", "x"]
    ),
    st.builds(lambda d, s: str(d) + s, st.integers(0, 9), st.text(max_size=6)),
)
near_payloads = st.lists(chunks, min_size=1, max_size=6).map("\x1e".join)


# -- packets and frames --------------------------------------------------------------------------


def test_packet_types_are_the_wire_digits():
    assert [int(t) for t in PacketType] == [0, 1, 2, 3, 4, 5, 6]
    assert [t.name for t in PacketType] == [
        "OPEN",
        "CLOSE",
        "PING",
        "PONG",
        "MESSAGE",
        "UPGRADE",
        "NOOP",
    ]


def test_packets_are_frozen_values():
    packet = Packet(PacketType.MESSAGE, "hi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        packet.data = "other"  # type: ignore[misc]
    assert packet == Packet(PacketType.MESSAGE, "hi")
    assert Packet(PacketType.PING).data == ""


def test_constants():
    assert engineio.PROTOCOL_VERSION == "4"
    assert engineio.RECORD_SEPARATOR == "\x1e"
    assert engineio.encode_frame(engineio.CLOSE) == "1"
    assert engineio.encode_frame(engineio.PING) == "2"
    assert engineio.encode_frame(engineio.NOOP) == "6"
    assert engineio.encode_frame(engineio.PROBE_PONG) == "3probe"


@pytest.mark.parametrize(
    ("packet", "frame"),
    [
        (Packet(PacketType.MESSAGE, "hello"), "4hello"),
        (Packet(PacketType.MESSAGE, ""), "4"),
        (Packet(PacketType.PING, "probe"), "2probe"),
        (Packet(PacketType.PONG), "3"),
        (Packet(PacketType.UPGRADE), "5"),
        (Packet(PacketType.MESSAGE, "é\x1e☃"), "4é\x1e☃"),
        (Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04"), b"\x01\x02\x03\x04"),
        (Packet(PacketType.MESSAGE, b""), b""),
    ],
)
def test_encode_frame(packet, frame):
    assert engineio.encode_frame(packet) == frame
    assert type(engineio.encode_frame(packet)) is type(frame)


def test_message_frame():
    assert engineio.message_frame("hello") == "4hello"
    assert engineio.message_frame("") == "4"
    assert engineio.message_frame(b"\x00\xff") == b"\x00\xff"


@pytest.mark.parametrize(
    ("frame", "packet"),
    [
        ("4hello", Packet(PacketType.MESSAGE, "hello")),
        ("4", Packet(PacketType.MESSAGE, "")),
        ("2probe", Packet(PacketType.PING, "probe")),
        ("3", Packet(PacketType.PONG)),
        ("1", Packet(PacketType.CLOSE)),
        ("6", Packet(PacketType.NOOP)),
        ("5", Packet(PacketType.UPGRADE)),
        ("44/chat,", Packet(PacketType.MESSAGE, "4/chat,")),
        (b"\x01\x02", Packet(PacketType.MESSAGE, b"\x01\x02")),
        (b"", Packet(PacketType.MESSAGE, b"")),
        # forceBase64 clients send binary as "b" + base64 text frames on WebSocket too.
        ("bAQIDBA==", Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04")),
        ("b", Packet(PacketType.MESSAGE, b"")),
    ],
)
def test_decode_frame(frame, packet):
    assert engineio.decode_frame(frame) == packet


@pytest.mark.parametrize(
    "frame", ["", "7", "9hello", "abc", "hello", " 4", "-1", "b!", "bAQ", "bé", "٤x"]
)
def test_decode_frame_refuses_malformed_frames(frame):
    with pytest.raises(ProtocolError):
        engineio.decode_frame(frame)


@given(packets)
def test_frame_round_trip(packet):
    assert engineio.decode_frame(engineio.encode_frame(packet)) == packet


@given(st.text() | st.binary())
@example("")
@example("\x00")
@example("\ud800")
def test_decode_frame_raises_only_protocol_error(frame):
    try:
        packet = engineio.decode_frame(frame)
    except ProtocolError:
        return
    assert isinstance(packet, Packet)
    if isinstance(frame, str) and frame.startswith("b"):
        assert packet.type is PacketType.MESSAGE and isinstance(packet.data, bytes)
    else:
        assert engineio.encode_frame(packet) == frame


# -- polling payloads ----------------------------------------------------------------------------


def test_encode_payload_joins_with_record_separator():
    payload = engineio.encode_payload(
        [
            Packet(PacketType.MESSAGE, "test1"),
            Packet(PacketType.MESSAGE, "test2"),
            Packet(PacketType.MESSAGE, "test3"),
        ]
    )
    assert payload == "4test1\x1e4test2\x1e4test3"


def test_encode_payload_binary_as_b_base64():
    payload = engineio.encode_payload(
        [Packet(PacketType.MESSAGE, "hello"), Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04")]
    )
    assert payload == "4hello\x1ebAQIDBA=="


def test_encode_payload_single_and_empty():
    assert engineio.encode_payload([Packet(PacketType.PING)]) == "2"
    assert engineio.encode_payload([engineio.NOOP]) == "6"
    assert engineio.encode_payload([]) == ""
    assert engineio.encode_payload([Packet(PacketType.MESSAGE, b"")]) == "b"


def test_decode_payload_examples():
    assert engineio.decode_payload(b"4hello", max_bytes=100) == [
        Packet(PacketType.MESSAGE, "hello")
    ]
    assert engineio.decode_payload(b"4hello\x1ebAQIDBA==", max_bytes=100) == [
        Packet(PacketType.MESSAGE, "hello"),
        Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04"),
    ]
    assert engineio.decode_payload(b"3\x1e4a\x1e1", max_bytes=100) == [
        Packet(PacketType.PONG),
        Packet(PacketType.MESSAGE, "a"),
        Packet(PacketType.CLOSE),
    ]
    assert engineio.decode_payload("4é☃".encode(), max_bytes=100) == [
        Packet(PacketType.MESSAGE, "é☃")
    ]
    assert engineio.decode_payload(b"b", max_bytes=100) == [Packet(PacketType.MESSAGE, b"")]


def test_decode_payload_record_separator_splits_packets():
    # A literal \x1e always ends a packet: it can never hide inside one.
    assert engineio.decode_payload(b"4a\x1e4b", max_bytes=100) == [
        Packet(PacketType.MESSAGE, "a"),
        Packet(PacketType.MESSAGE, "b"),
    ]
    with pytest.raises(ProtocolError):
        engineio.decode_payload(b"4a\x1ezz", max_bytes=100)


def test_any_number_of_packets_in_one_payload():
    body = "\x1e".join(f"4m{i}" for i in range(1000)).encode()
    decoded = engineio.decode_payload(body, max_bytes=len(body))
    assert [p.data for p in decoded] == [f"m{i}" for i in range(1000)]


def test_decode_payload_size_limit_is_in_bytes():
    body = "4" + "é" * 10  # 21 bytes, 11 characters
    assert len(engineio.decode_payload(body.encode(), max_bytes=21)) == 1
    with pytest.raises(ProtocolError, match="limit"):
        engineio.decode_payload(body.encode(), max_bytes=20)


def test_decode_payload_checks_size_before_decoding():
    with pytest.raises(ProtocolError, match="limit"):
        engineio.decode_payload(b"\xff" * 11, max_bytes=10)


MALFORMED_PAYLOADS = [
    b"",
    b"abc",
    b"7",
    b"\x1e",
    b"4a\x1e",
    b"\x1e4a",
    b"4a\x1e\x1e4b",
    b"b!!!",
    b"bAQ=ID",
    b"bAQ ID",
    b"b\xc3\xa9",  # "bé"
    b"\xff\xfe",
    b"4\xed\xa0\x80",  # an encoded surrogate is not UTF-8
    b"4\xc3",
]


@pytest.mark.parametrize("body", MALFORMED_PAYLOADS)
def test_decode_payload_refuses_malformed(body):
    with pytest.raises(ProtocolError):
        engineio.decode_payload(body, max_bytes=1000)


@given(st.lists(payload_packets, min_size=1, max_size=40))
def test_payload_round_trip(packet_list):
    body = engineio.encode_payload(packet_list).encode("utf-8")
    assert engineio.decode_payload(body, max_bytes=len(body)) == packet_list


@given(st.binary(max_size=300))
@example(b"")
@example(b"b\x00")
@example(b"\x1e\x1e")
def test_decode_payload_raises_only_protocol_error(body):
    try:
        decoded = engineio.decode_payload(body, max_bytes=200)
    except ProtocolError:
        return
    assert len(body) <= 200
    assert decoded and all(isinstance(p, Packet) for p in decoded)


@given(near_payloads)
def test_decode_near_payloads_raises_only_protocol_error(text):
    body = text.encode("utf-8", "surrogatepass")
    try:
        decoded = engineio.decode_payload(body, max_bytes=10_000)
    except ProtocolError:
        return
    assert len(decoded) == text.count("\x1e") + 1
    for packet in decoded:
        assert isinstance(packet.type, PacketType)
        if isinstance(packet.data, bytes):
            assert packet.type is PacketType.MESSAGE


@given(st.binary())
def test_base64_binary_round_trip(data):
    payload = engineio.encode_payload([Packet(PacketType.MESSAGE, data)])
    assert payload.startswith("b")
    assert payload.isascii() and "\x1e" not in payload
    assert engineio.decode_payload(payload.encode(), max_bytes=len(payload)) == [
        Packet(PacketType.MESSAGE, data)
    ]


# -- handshake -----------------------------------------------------------------------------------


def _handshake(**overrides):
    options = {
        "upgrades": ["websocket"],
        "ping_interval": 25,
        "ping_timeout": 20,
        "max_payload": 1_000_000,
    } | overrides
    packet = engineio.open_packet("abc", **options)
    assert packet.type is PacketType.OPEN
    assert isinstance(packet.data, str)
    return packet


def test_handshake_exact_text():
    packet = _handshake()
    assert engineio.encode_frame(packet) == (
        '0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,'
        '"pingTimeout":20000,"maxPayload":1000000}'
    )


def test_handshake_has_exactly_the_five_keys():
    value = json.loads(_handshake(upgrades=[]).data)
    assert set(value) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert value["upgrades"] == []


@pytest.mark.parametrize(
    ("seconds", "ms"),
    [(0.3, 300), (0.2, 200), (0.1 + 0.2, 300), (25, 25000), (25.0, 25000), (0, 0), (1.5, 1500)],
)
def test_handshake_times_are_exact_integer_milliseconds(seconds, ms):
    packet = _handshake(ping_interval=seconds, ping_timeout=seconds)
    assert f'"pingInterval":{ms},' in packet.data
    assert f'"pingTimeout":{ms},' in packet.data
    value = json.loads(packet.data)
    assert type(value["pingInterval"]) is int and value["pingInterval"] == ms
    assert type(value["pingTimeout"]) is int and value["pingTimeout"] == ms


@given(
    st.integers(0, 10**7),
    st.integers(0, 10**7),
    st.integers(1, 10**9),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"),
)
def test_handshake_property(interval_ms, timeout_ms, max_payload, sid):
    packet = engineio.open_packet(
        sid,
        upgrades=["websocket"],
        ping_interval=interval_ms / 1000,
        ping_timeout=timeout_ms / 1000,
        max_payload=max_payload,
    )
    assert " " not in packet.data  # compact JSON
    assert json.loads(packet.data) == {
        "sid": sid,
        "upgrades": ["websocket"],
        "pingInterval": interval_ms,
        "pingTimeout": timeout_ms,
        "maxPayload": max_payload,
    }


# -- text on the wire ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("hello", b"hello"),
        ("é☃", "é☃".encode()),
        ("a\ud800b", "a\ufffdb".encode()),  # a lone surrogate cannot be UTF-8: U+FFFD, as Node
        ("\udc00", "\ufffd".encode()),
        ("\ud83d\ude00", "😀".encode()),  # a split pair is still one character
    ],
)
def test_utf8(text, wire):
    assert engineio.utf8(text) == wire


@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF)))
def test_utf8_never_fails(text):
    decoded = engineio.utf8(text).decode("utf-8")  # always valid UTF-8
    if not any("\ud800" <= c <= "\udfff" for c in text):
        assert decoded == text

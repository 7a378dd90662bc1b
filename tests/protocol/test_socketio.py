"""Socket.IO v5 packets: encoding, decoding, binary, limits, malformed input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_rt.errors import ProtocolError
from jupyter_rt.protocol.socketio import (
    RESERVED_EVENTS,
    Decoder,
    Packet,
    PacketType,
    encode,
    encode_fields,
)

T = PacketType


def decode_all(*frames: Any, **limits: Any) -> list[Packet]:
    decoder = Decoder(**limits)
    out = []
    for frame in frames:
        packet = decoder.feed(frame)
        if packet is not None:
            out.append(packet)
    return out


# -- encoding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("packet", "frames"),
    [
        (Packet(T.CONNECT), ["0"]),
        (Packet(T.CONNECT, "/", {"sid": "abc"}), ['0{"sid":"abc"}']),
        (Packet(T.CONNECT, "/admin", {"sid": "abc"}), ['0/admin,{"sid":"abc"}']),
        (Packet(T.DISCONNECT, "/admin"), ["1/admin,"]),
        (Packet(T.EVENT, "/", ["hello", 1]), ['2["hello",1]']),
        (
            Packet(T.EVENT, "/admin", ["a", {"b": [1, None]}], 12),
            ['2/admin,12["a",{"b":[1,null]}]'],
        ),
        (Packet(T.ACK, "/", [], 3), ["33[]"]),
        (Packet(T.ACK, "/x", ("a", True), 0), ['3/x,0["a",true]']),
        (
            Packet(T.CONNECT_ERROR, "/random", {"message": "Invalid namespace"}),
            ['4/random,{"message":"Invalid namespace"}'],
        ),
        (
            Packet(T.EVENT, "/", ["up", b"\x01\x02", {"k": bytearray(b"x")}], 7),
            [
                '52-7["up",{"_placeholder":true,"num":0},{"k":{"_placeholder":true,"num":1}}]',
                b"\x01\x02",
                b"x",
            ],
        ),
        (
            Packet(T.ACK, "/b", [memoryview(b"m")], 4),
            ['61-/b,4[{"_placeholder":true,"num":0}]', b"m"],
        ),
        (Packet(T.BINARY_EVENT, "/", ["no-bytes"]), ['2["no-bytes"]']),
    ],
)
def test_encode(packet: Packet, frames: list[str | bytes]) -> None:
    assert encode(packet) == frames


def test_encoding_is_compact_and_escapes_the_record_separator() -> None:
    [text] = encode(Packet(T.EVENT, "/", ["a\x1eb", "é ☃ \u2028", {"k": [1, 2]}]))
    assert text == '2["a\\u001eb","é ☃ \u2028",{"k":[1,2]}]'


def test_encode_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(ValueError):
        encode(Packet(T.EVENT, "/", ["x", float("nan")]))
    with pytest.raises(TypeError):
        encode(Packet(T.EVENT, "/", ["x", {1, 2}]))
    with pytest.raises(TypeError):
        encode(Packet(T.EVENT, "/", ["x", b"\x00", object()]))
    with pytest.raises(TypeError):
        encode(Packet(T.CONNECT, "/", {"b": b"\x00"}))


def test_encode_fields_matches_encode() -> None:
    assert encode_fields(2, "/n", ["e", b"z"], 5) == encode(Packet(T.EVENT, "/n", ["e", b"z"], 5))


# -- decoding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "packet"),
    [
        ("0", Packet(T.CONNECT)),
        ("0/custom,", Packet(T.CONNECT, "/custom")),
        ("0/custom", Packet(T.CONNECT, "/custom")),
        ('0/custom,{"token":"x"}', Packet(T.CONNECT, "/custom", {"token": "x"})),
        ('0{"token":"x"}', Packet(T.CONNECT, "/", {"token": "x"})),
        ("1", Packet(T.DISCONNECT)),
        ("1/admin,", Packet(T.DISCONNECT, "/admin")),
        ('2["hello",1]', Packet(T.EVENT, "/", ["hello", 1])),
        (
            '2/admin,456["project:delete",123]',
            Packet(T.EVENT, "/admin", ["project:delete", 123], 456),
        ),
        ("3/admin,456[]", Packet(T.ACK, "/admin", [], 456)),
        (
            '4{"message":"Not authorized"}',
            Packet(T.CONNECT_ERROR, "/", {"message": "Not authorized"}),
        ),
        ('2["x","\\ud83d\\ude00"]', Packet(T.EVENT, "/", ["x", "😀"])),
        ('2["error"]', Packet(T.EVENT, "/", ["error"])),
    ],
)
def test_decode(frame: str, packet: Packet) -> None:
    assert decode_all(frame) == [packet]


def test_decode_binary_event_across_frames() -> None:
    decoder = Decoder()
    assert (
        decoder.feed('52-/b,9["up",{"_placeholder":true,"num":1},[{"_placeholder":true,"num":0}]]')
        is None
    )
    assert decoder.awaiting_attachments == 2
    assert decoder.feed(b"first") is None
    packet = decoder.feed(b"second")
    assert packet == Packet(T.BINARY_EVENT, "/b", ["up", b"second", [b"first"]], 9)
    assert decoder.awaiting_attachments == 0
    assert decoder.feed('2["next"]') == Packet(T.EVENT, "/", ["next"])


def test_decode_binary_ack_and_zero_attachments() -> None:
    assert decode_all('61-3[{"_placeholder":true,"num":0}]', bytearray(b"ab")) == [
        Packet(T.BINARY_ACK, "/", [b"ab"], 3)
    ]
    assert decode_all('50-["e",1]') == [Packet(T.BINARY_EVENT, "/", ["e", 1])]


def test_placeholder_lookalikes_outside_binary_packets_stay_data() -> None:
    data = ["x", {"_placeholder": True, "num": 0}]
    assert decode_all("2" + json.dumps(data)) == [Packet(T.EVENT, "/", data)]


def test_reset_drops_a_partial_binary_packet() -> None:
    decoder = Decoder()
    decoder.feed('51-["e",{"_placeholder":true,"num":0}]')
    decoder.reset()
    assert decoder.feed('2["e"]') == Packet(T.EVENT, "/", ["e"])
    with pytest.raises(ProtocolError):
        decoder.feed(b"late attachment")


def test_attachment_limit_is_configurable() -> None:
    frames = ['53-["e"]', b"1", b"2", b"3"]
    assert len(decode_all(*frames, max_attachments=3)) == 1
    with pytest.raises(ProtocolError):
        decode_all(*frames, max_attachments=2)


def test_namespace_length_limit() -> None:
    assert decode_all("0/" + "n" * 9, max_name_length=10)
    with pytest.raises(ProtocolError):
        decode_all("0/" + "n" * 10, max_name_length=10)


# The malformed corpus: each frame sequence must raise ProtocolError (SECURITY_NOTES classes noted).
MALFORMED: list[tuple[str, list[Any]]] = [
    ("empty", [""]),
    ("unknown type", ["7"]),
    ("type not a digit", ["a"]),
    ("type is a unicode digit", ['٢["e"]']),
    ("event not an array", ['2{"a":1}']),
    ("event empty array", ["2[]"]),
    ("event name a number", ["2[1]"]),
    ("event name null", ["2[null]"]),
    ("CVE-2023-32695 event name an object", ['2[{"toString":"foo"}]']),
    ("event name an array", ['2[["x"]]']),
    *[(f"reserved event {name}", [f'2["{name}"]']) for name in sorted(RESERVED_EVENTS)],
    ("event without data", ["2"]),
    ("event with id, no data", ["212"]),
    ("truncated JSON", ['2["e",']),
    ("trailing garbage", ['2["e"]x']),
    ("NaN", ['2["e",NaN]']),
    ("Infinity", ['2["e",Infinity]']),
    ("-Infinity", ['2["e",-Infinity]']),
    ("float overflow", ['2["e",1e999]']),
    ("huge integer", ['2["e",' + "9" * 5000 + "]"]),
    ("deep nesting", ["2" + "[" * 100_000 + "]" * 100_000]),
    ("ack without id", ["3[]"]),
    ("ack not an array", ['31{"a":1}']),
    ("ack without data", ["31"]),
    ("ack id too long", ["3" + "1" * 16 + "[]"]),
    ("connect with array", ['0["x"]']),
    ("connect with string", ['0"auth"']),
    ("connect with id", ["01{}"]),
    ("disconnect with data", ['1{"a":1}']),
    ("disconnect with id", ["12"]),
    ("connect_error with array", ["4[1]"]),
    ("connect_error without data", ["4"]),
    ("namespace with space", ["0/a b,"]),
    ("namespace with control char", ["0/a\x00b,"]),
    ("binary without count", ['5["e"]']),
    ("binary count without dash", ['51["e"]']),
    ("binary count not digits", ['5x-["e"]']),
    ("binary count unicode digit", ['5١-["e"]']),
    ("binary count negative", ['5-1-["e"]']),
    ("CVE-2026-33151 too many attachments", ['511-["e"]']),
    ("attachment count huge", ["5" + "9" * 5000 + '-["e"]']),
    ("CVE-2022-2421 placeholder index too large", ['51-["e",{"_placeholder":true,"num":1}]', b"x"]),
    ("placeholder index negative", ['51-["e",{"_placeholder":true,"num":-1}]', b"x"]),
    ("placeholder index a string", ['51-["e",{"_placeholder":true,"num":"0"}]', b"x"]),
    ("placeholder index a float", ['51-["e",{"_placeholder":true,"num":0.0}]', b"x"]),
    ("placeholder index a bool", ['51-["e",{"_placeholder":true,"num":true}]', b"x"]),
    ("placeholder index missing", ['51-["e",{"_placeholder":true}]', b"x"]),
    ("placeholder index object", ['51-["e",{"_placeholder":true,"num":{"a":0}}]', b"x"]),
    ("placeholder without attachments", ['50-["e",{"_placeholder":true,"num":0}]']),
    ("nested bad placeholder", ['51-["e",[{"a":[{"_placeholder":true,"num":3}]}]]', b"x"]),
    ("binary event name not a string", ['51-[{"_placeholder":true,"num":0}]', b"x"]),
    ("bytes when none expected", [b"\x00\x01"]),
    ("bytes after a complete packet", ['2["e"]', b"x"]),
    ("text while attachments are expected", ['52-["e"]', b"x", '2["e"]']),
    ("not a frame", [None]),
    ("an int frame", [3]),
    ("a list frame", [["2"]]),
]


@pytest.mark.parametrize("frames", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_input_raises_protocol_error(frames: list[Any]) -> None:
    with pytest.raises(ProtocolError):
        decode_all(*frames)


# -- properties -----------------------------------------------------------------------------

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
data_value = st.recursive(
    json_leaf | st.binary(max_size=16),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
event_names = st.text(min_size=0, max_size=12).filter(lambda s: s not in RESERVED_EVENTS)
namespaces = st.just("/") | st.from_regex(r"/[a-zA-Z0-9_\-.~/]{1,20}", fullmatch=True)
ack_ids = st.none() | st.integers(min_value=0, max_value=10**15 - 1)


def count_bytes(value: Any) -> int:
    if isinstance(value, bytes):
        return 1
    if isinstance(value, list):
        return sum(count_bytes(v) for v in value)
    if isinstance(value, dict):
        return sum(count_bytes(v) for v in value.values())
    return 0


@settings(max_examples=300)
@given(namespaces, event_names, st.lists(data_value, max_size=4), ack_ids)
def test_event_round_trip(nsp: str, event: str, args: list[Any], ack_id: int | None) -> None:
    data = [event, *args]
    frames = encode(Packet(T.EVENT, nsp, data, ack_id))
    attachments = count_bytes(data)
    if attachments > 10:
        with pytest.raises(ProtocolError):
            decode_all(*frames)
        return
    assert len(frames) == 1 + attachments
    [packet] = decode_all(*frames)
    assert packet == Packet(T.BINARY_EVENT if attachments else T.EVENT, nsp, data, ack_id)


@settings(max_examples=200)
@given(namespaces, st.lists(data_value, max_size=4), st.integers(min_value=0, max_value=10**9))
def test_ack_round_trip(nsp: str, args: list[Any], ack_id: int) -> None:
    frames = encode(Packet(T.ACK, nsp, args, ack_id))
    if count_bytes(args) > 10:
        return
    [packet] = decode_all(*frames)
    assert packet.data == args and packet.id == ack_id and packet.nsp == nsp


@given(namespaces, st.none() | st.dictionaries(st.text(max_size=8), json_value, max_size=4))
def test_connect_round_trip(nsp: str, auth: dict[str, Any] | None) -> None:
    assert decode_all(*encode(Packet(T.CONNECT, nsp, auth))) == [Packet(T.CONNECT, nsp, auth)]


@given(st.lists(data_value, max_size=3))
def test_encoded_text_never_holds_a_record_separator(args: list[Any]) -> None:
    text = encode(Packet(T.EVENT, "/", ["e", *args]))[0]
    assert isinstance(text, str) and "\x1e" not in text
    text.encode("utf-8")  # lone surrogates travel as JSON escapes


@pytest.mark.parametrize("text", ["\ud83d", "cut emoji: \ud83d", "\udc00 low", "a\ud800b\udfff"])
def test_lone_surrogates_round_trip_as_json_escapes(text: str) -> None:
    # JS strings may hold them ("😀".slice(0, 1)); JSON.stringify sends them as \uXXXX escapes.
    frames = encode(Packet(T.EVENT, "/", ["e", text, {text: 1}, b"x"]))
    assert "\\u" in frames[0]
    frames[0].encode("utf-8")
    decoder = Decoder()
    assert decoder.feed(frames[0]) is None
    packet = decoder.feed(frames[1])
    assert packet is not None and packet.data == ["e", text, {text: 1}, b"x"]
    plain = encode(Packet(T.EVENT, "/", ["e", text]))
    assert Decoder().feed(plain[0]) == Packet(T.EVENT, "/", ["e", text])


def only_protocol_errors(frames: list[Any]) -> None:
    decoder = Decoder()
    for frame in frames:
        try:
            packet = decoder.feed(frame)
        except ProtocolError:
            decoder = Decoder()
            continue
        if packet is not None:
            assert isinstance(packet, Packet)


@settings(max_examples=1000)
@given(st.lists(st.text(max_size=40) | st.binary(max_size=8), max_size=6))
def test_arbitrary_frames_raise_only_protocol_error(frames: list[Any]) -> None:
    only_protocol_errors(frames)


packet_like = st.builds(
    lambda t, count, nsp, ack_id, body: f"{t}{count}{nsp}{ack_id}{body}",
    st.sampled_from("0123456789"),
    st.sampled_from(["", "0-", "1-", "2-", "11-", "-", "x-"]),
    st.sampled_from(["", "/", "/a,", "/a", "/,", "/a b,", "/é,"]),
    st.sampled_from(["", "0", "1", "007", "99999999999999999"]),
    st.one_of(
        json_value.map(lambda v: json.dumps(v)),
        st.lists(json_value | st.just({"_placeholder": True, "num": 0}), max_size=3).map(
            json.dumps
        ),
        st.lists(
            st.fixed_dictionaries({"_placeholder": st.just(True), "num": json_value}),
            max_size=2,
        ).map(lambda v: json.dumps(["e", *v])),
        st.text(max_size=20),
    ),
)


@settings(max_examples=1500)
@given(st.lists(packet_like | st.binary(max_size=4), min_size=1, max_size=5))
def test_packet_like_frames_raise_only_protocol_error(frames: list[Any]) -> None:
    only_protocol_errors(frames)


@settings(max_examples=500)
@given(
    st.lists(data_value, max_size=3),
    st.data(),
)
def test_mutated_valid_packets_raise_only_protocol_error(
    args: list[Any], data: st.DataObject
) -> None:
    frames: list[Any] = list(encode(Packet(T.EVENT, "/n", ["e", *args], 3)))
    text = frames[0]
    assert isinstance(text, str)
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    insert = data.draw(st.text(max_size=3))
    frames[0] = text[:cut] + insert + text[cut + data.draw(st.integers(0, 3)) :]
    if data.draw(st.booleans()) and len(frames) > 1:
        frames.pop()
    only_protocol_errors(frames)

"""``jupyter_rt.kernel.tunnel``: the tunnel's messages, checked without any I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyter_rt.engine import Handshake
from jupyter_rt.errors import ProtocolError
from jupyter_rt.kernel import tunnel
from jupyter_rt.protocol.socketio import Packet, PacketType, encode
from jupyter_rt.server import BroadcastFlags, BroadcastOptions


@given(st.text(min_size=1), st.lists(st.binary(max_size=300), max_size=12))
def test_packed_frames_come_back_as_they_were(text: str, attachments: list[bytes]) -> None:
    frames: list[str | bytes] = [text, *attachments]
    packed = tunnel.pack_frames(frames)
    assert len(packed) == (1 if not attachments else 2)  # one attachment at most on the tunnel
    assert tunnel.unpack_frames(packed) == frames


@pytest.mark.parametrize(
    "args",
    [
        [],
        [b"not text"],
        ["text", "not bytes"],
        ["text", b"\x00\x00\x00\x09short"],  # an attachment past the end
        ["text", b"\x00\x00"],  # a truncated length
        ["text", b"", b""],
    ],
)
def test_malformed_packed_frames_are_refused(args: list[Any]) -> None:
    with pytest.raises(tunnel.TunnelError):
        tunnel.unpack_frames(args)


def test_parse_checks_each_message_against_its_shape() -> None:
    assert tunnel.parse(tunnel.SHAPES, tunnel.K_ADD, ["/poll", "sid", "esid", ["a", "b"]]) == [
        "/poll",
        "sid",
        "esid",
        ["a", "b"],
    ]
    frames = tunnel.pack_frames(['2/poll,["x"]', b"\x01"])
    assert tunnel.parse(tunnel.SHAPES, tunnel.K_SEND, ["esid", *frames]) == [
        "esid",
        ['2/poll,["x"]', b"\x01"],
    ]
    for event, args in [
        ("nope", []),
        (tunnel.K_ADD, ["/poll", "sid", "esid"]),  # too few
        (tunnel.K_ADD, ["/poll", "sid", "esid", ["a"], "extra"]),  # too many
        (tunnel.K_ADD, ["/poll", "sid", "esid", "a"]),  # rooms must be a list
        (tunnel.K_ADD, ["/poll", "sid", "esid", [1]]),
        (tunnel.K_CLOSE, ["esid", "transport close", "yes"]),  # notify must be a bool
        (tunnel.K_BCAST_ACK, ["/poll", True, {}, '2["x"]']),  # req must be an int, not a bool
        (tunnel.K_SS_CALL, ["/poll", -1, '2["x"]']),
        (tunnel.K_BCAST, ["/poll", {"rooms": "a"}, '2["x"]']),
    ]:
        with pytest.raises(tunnel.TunnelError):
            tunnel.parse(tunnel.SHAPES, event, args)
    assert issubclass(tunnel.TunnelError, ProtocolError)


def test_broadcast_options_cross_the_tunnel() -> None:
    opts = BroadcastOptions(
        frozenset({"a", "b"}), frozenset({"c"}), BroadcastFlags(volatile=True, timeout=2.5)
    )
    assert tunnel.options_from_wire(tunnel.options_to_wire(opts)) == opts
    assert tunnel.options_from_wire({}) == BroadcastOptions()
    with pytest.raises(tunnel.TunnelError):
        tunnel.options_from_wire({"timeout": float("nan")})


def test_handshakes_cross_the_tunnel() -> None:
    handshake = Handshake(
        headers={"cookie": "c", "origin": "http://x"},
        query={"EIO": "4"},
        remote_address="127.0.0.1",
        url="/socket.io/?EIO=4",
        user={"username": "ada"},
        issued=1_700_000_000.5,
    )
    assert tunnel.handshake_from_wire(tunnel.handshake_to_wire(handshake, "polling")) == (
        handshake,
        "polling",
    )
    wire = tunnel.handshake_to_wire(handshake, "websocket")
    for key, bad in [("headers", {"a": 1}), ("issued", "now"), ("transport", "carrier pigeon")]:
        with pytest.raises(tunnel.TunnelError):
            tunnel.handshake_from_wire({**wire, key: bad})


def test_decode_packet_takes_exactly_one_packet() -> None:
    packet = Packet(PacketType.EVENT, "/poll", ["tally", {"yes": 1}, b"\x00" * 3])
    frames = encode(packet)
    assert tunnel.decode_packet(frames, 100) == Packet(
        PacketType.BINARY_EVENT, "/poll", ["tally", {"yes": 1}, b"\x00" * 3]
    )
    for bad in ([frames[0]], [*frames, '2["extra"]'], ["not a packet"]):
        with pytest.raises(tunnel.TunnelError):
            tunnel.decode_packet(bad, 100)
    many = encode(Packet(PacketType.EVENT, "/", ["bytes", *[b"x"] * 50]))
    assert len(tunnel.decode_packet(many, 100).data) == 51  # more than a client may send


def test_reasons_are_known_ones() -> None:
    assert tunnel.reason("ping timeout") == "ping timeout"
    assert tunnel.reason("made up") == "forced close"


def test_the_outbox_sends_what_one_turn_queued_as_few_messages() -> None:
    outbox = tunnel.Outbox(max_chars=100)
    assert outbox.add("send", ["a", "2x"]) is True
    assert outbox.add("send", ["b", "2y"]) is False
    outbox.add("send", ["c", "2z", b"\x00\x01"])  # bytes: alone
    outbox.add("send", ["d", "2" + "w" * 200])  # too long for a batch: alone
    outbox.add("add", ["/poll", "sid", "esid", ["room"]])
    outbox.add("del_all", ["/poll", "sid"])
    assert outbox.take() == [
        ("batch", [[["send", "a", "2x"], ["send", "b", "2y"]]]),
        ("send", ["c", "2z", b"\x00\x01"]),
        ("send", ["d", "2" + "w" * 200]),
        ("batch", [[["add", "/poll", "sid", "esid", ["room"]], ["del_all", "/poll", "sid"]]]),
    ]
    assert len(outbox) == 0 and outbox.take() == []
    outbox.add("send", ["a", "2x"])
    assert outbox.take() == [("send", ["a", "2x"])]  # one message goes as it is


def test_batches_stay_under_their_size() -> None:
    outbox = tunnel.Outbox(max_chars=100)
    for index in range(10):
        outbox.add("send", [str(index), "2" + "v" * 30])
    messages = outbox.take()
    assert {event for event, _ in messages} == {"batch"} and len(messages) > 1
    assert all(len(json.dumps(args[0])) <= 100 for _, args in messages)
    entries = [entry for _, args in messages for entry in args[0]]
    assert [entry[1] for entry in entries] == [str(index) for index in range(10)]  # in order


def test_batch_entries_are_checked() -> None:
    assert tunnel.batch_entries([["send", "a", "2x"]]) == [("send", ["a", "2x"])]
    for bad in ([[]], ["send"], [[1, "a"]], [["batch", []]]):
        with pytest.raises(tunnel.TunnelError):
            tunnel.batch_entries(bad)

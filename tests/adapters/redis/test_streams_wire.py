"""The Redis Streams format, pure: entries, messages, sessions, offsets, stream names."""

from __future__ import annotations

import base64
import json

import msgpack
import pytest

from jupyter_rt.adapters.redis.streams_wire import (
    ClusterMessage,
    MessageType,
    StoredSession,
    decode_entry,
    decode_message,
    decode_session,
    encode_entry,
    encode_message,
    encode_session,
    next_offset,
    parse_offset,
    response_message,
    response_of,
    seal,
    stream_for,
)
from jupyter_rt.adapters.redis.wire import RequestType, Response, SocketDetails, WireError
from jupyter_rt.protocol.socketio import Packet, PacketType
from jupyter_rt.server.adapter import BroadcastFlags, BroadcastOptions

LIMIT = 1 << 20


def as_read(fields: dict[str, bytes]) -> dict[bytes, bytes]:
    """Fields as redis-py reads them back."""
    return {k.encode(): v for k, v in fields.items()}


def test_a_broadcast_entry_is_json_as_node_writes_it():
    opts = BroadcastOptions(frozenset({"r"}), frozenset({"x"}), BroadcastFlags(volatile=True))
    packet = Packet(PacketType.EVENT, "/chat", ["ev", {"é": 1}, [None, True]])
    fields = encode_entry(ClusterMessage.broadcast("uid1", packet, opts))
    assert list(fields) == ["uid", "nsp", "type", "data"]
    assert fields["type"] == b"3" and fields["nsp"] == b"/chat"
    assert json.loads(fields["data"]) == {
        "packet": {"type": 2, "data": ["ev", {"é": 1}, [None, True]], "nsp": "/chat"},
        "opts": {"rooms": ["r"], "except": ["x"], "flags": {"volatile": True}},
    }
    message = decode_entry(as_read(fields), LIMIT)
    assert message.packet() == packet
    assert message.options() == opts


def test_binary_goes_as_base64_msgpack_both_ways():
    packet = Packet(PacketType.EVENT, "/", ["bin", b"\x00\xff", {"k": b"x"}])
    fields = encode_entry(ClusterMessage.broadcast("u", packet, BroadcastOptions()))
    assert not fields["data"].startswith(b"{")
    data = msgpack.unpackb(base64.b64decode(fields["data"]))
    assert data["packet"]["data"] == ["bin", b"\x00\xff", {"k": b"x"}]
    assert decode_entry(as_read(fields), LIMIT).packet() == packet


def test_a_node_packet_without_nsp_takes_the_entry_s():
    data = {"packet": {"type": 2, "data": ["ev"]}, "opts": {"rooms": [], "except": []}}
    fields = {b"uid": b"n", b"nsp": b"/x", b"type": b"3", b"data": json.dumps(data).encode()}
    assert decode_entry(fields, LIMIT).packet() == Packet(PacketType.EVENT, "/x", ["ev"])


@pytest.mark.parametrize(
    "fields",
    [
        {b"nsp": b"/", b"type": b"3"},
        {b"uid": b"u", b"nsp": b"/", b"type": b"x3"},
        {b"uid": b"u", b"nsp": b"/", b"type": b"99"},
        {b"uid": b"u", b"nsp": b"/", b"type": b"3", b"data": b"{nope"},
        {b"uid": b"u", b"nsp": b"/", b"type": b"3", b"data": b"!!!"},
        {b"uid": b"u", b"nsp": b"/", b"type": b"3", b"data": b"[" * 10_000},
        {b"uid": b"\xff", b"nsp": b"/", b"type": b"3"},
        {b"uid": b"u", b"nsp": b"/", b"type": b"3", b"data": b"{" + b" " * LIMIT + b"}"},
    ],
)
def test_malformed_entries_raise_wire_errors(fields):
    with pytest.raises(WireError):
        decode_entry(fields, LIMIT)


def test_requests_and_responses_over_pubsub():
    fetch = ClusterMessage.fetch("me", "/", BroadcastOptions(frozenset({"r"})), "rid")
    raw = msgpack.unpackb(encode_message(fetch))
    assert raw == {
        "uid": "me",
        "nsp": "/",
        "type": 7,
        "data": {"opts": {"rooms": ["r"], "except": []}, "requestId": "rid"},
    }
    assert decode_message(encode_message(fetch), LIMIT) == fetch
    details = SocketDetails("s1", {"address": "x"}, ("s1",), {"d": 1})
    answer = Response("rid", RequestType.REMOTE_FETCH, sockets=(details,))
    assert response_of(response_message("them", "/", answer)) == answer
    for rtype, kwargs in [
        (RequestType.BROADCAST_CLIENT_COUNT, {"client_count": 3}),
        (RequestType.BROADCAST_ACK, {"ack": ["a"]}),
        (RequestType.SERVER_SIDE_EMIT, {"ack": [1, 2]}),
    ]:
        response = Response("rid", rtype, **kwargs)
        assert (
            response_of(decode_message(encode_message(response_message("t", "/", response)), LIMIT))
            == response
        )
    # Node answers an ack with its first argument only, as "packet".
    node = ClusterMessage("n", "/", MessageType.BROADCAST_ACK, {"requestId": "r", "packet": 5})
    assert response_of(node) == Response("r", RequestType.BROADCAST_ACK, ack=[5])
    assert response_of(ClusterMessage("n", "/", MessageType.HEARTBEAT)) is None


def test_messages_past_the_limit_are_refused():
    with pytest.raises(WireError):
        decode_message(b"\xc4" + b"\x00" * 100, 50)


def test_sessions_as_node_reads_them_and_node_s_own():
    session = StoredSession("sid", "pid", ("sid", "r"), {"k": [1]}, "/chat", seal("user:a", "pid"))
    value = encode_session(session)
    node_view = msgpack.unpackb(base64.b64decode(value))
    assert {k: node_view[k] for k in ("sid", "pid", "rooms", "data")} == {
        "sid": "sid",
        "pid": "pid",
        "rooms": ["sid", "r"],
        "data": {"k": [1]},
    }
    assert decode_session(value, LIMIT) == session
    nodes = base64.b64encode(msgpack.packb({"sid": "s", "pid": "p", "rooms": ["s"], "data": {}}))
    assert decode_session(nodes, LIMIT) == StoredSession("s", "p", ("s",), {}, None, None)
    with pytest.raises(WireError):
        decode_session(value, 10)


def test_seal_is_salted_and_idempotent():
    sealed = seal("token:abc", "pid1")
    assert sealed is not None and "abc" not in sealed
    assert sealed != seal("token:abc", "pid2")
    assert seal(sealed, "pid1") == sealed
    assert seal(None, "pid") is None


def test_offsets_are_stream_ids():
    assert parse_offset("1700000000000-7") == (1700000000000, 7)
    for bad in ("", "-1", "1-", "a-1", "1-2-3", "1" * 21 + "-0", "abc:1"):
        assert parse_offset(bad) is None
    assert next_offset((5, 9)) == "5-10"


@pytest.mark.parametrize(
    ("nsp", "count", "expected"),
    [  # computed with the hash of @socket.io/redis-streams-adapter 0.3
        ("/", 1, "s"),
        ("/", 3, "s-2"),
        ("/chat", 7, "s-4"),
        ("/é😀", 7, "s-1"),
        ("/workspace/x", 3, "s--2"),
        ("/workspace/x", 7, "s--1"),
    ],
)
def test_namespaces_spread_over_streams_as_node_does(nsp, count, expected):
    assert stream_for(nsp, "s", count) == expected

"""The Redis wire format, without Redis: shapes, round trips, and what is refused.

The expected maps are those Node's ``@socket.io/redis-adapter`` 8 builds (``lib/index.ts``);
``test_node_interop.py`` checks the same against Node servers themselves.
"""

from __future__ import annotations

import contextlib
import datetime
import json

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_rt.adapters.redis.wire import (
    Channels,
    Request,
    RequestType,
    Response,
    SocketDetails,
    WireError,
    decode_broadcast,
    decode_request,
    decode_response,
    encode_broadcast,
    encode_request,
    encode_response,
    new_id,
    unpack,
)
from jupyter_rt.errors import ProtocolError
from jupyter_rt.protocol.socketio import Packet, PacketType
from jupyter_rt.server.adapter import BroadcastFlags, BroadcastOptions


def event(*data: object, nsp: str = "/") -> Packet:
    return Packet(PacketType.EVENT, nsp, list(data))


def opts(rooms=(), except_=(), **flags) -> BroadcastOptions:
    return BroadcastOptions(frozenset(rooms), frozenset(except_), BroadcastFlags(**flags))


# -- channels -------------------------------------------------------------------------------


def test_channel_names_match_node():
    ch = Channels("socket.io", "/")
    assert ch.broadcast == "socket.io#/#"
    assert ch.room("lobby") == "socket.io#/#lobby#"
    assert ch.request == "socket.io-request#/#"
    assert ch.response == "socket.io-response#/#"
    assert ch.response_for("abc123") == "socket.io-response#/#abc123#"
    assert ch.pattern == "socket.io#/#*"
    chat = Channels("my-app", "/chat")
    assert chat.broadcast == "my-app#/chat#"
    assert chat.request == "my-app-request#/chat#"


def test_broadcast_channel_is_the_room_channel_for_exactly_one_room():
    ch = Channels("socket.io", "/")
    assert ch.for_rooms(frozenset()) == "socket.io#/#"
    assert ch.for_rooms(frozenset({"a"})) == "socket.io#/#a#"
    assert ch.for_rooms(frozenset({"a", "b"})) == "socket.io#/#"


def test_room_of_channel():
    ch = Channels("socket.io", "/")
    assert ch.room_of("socket.io#/#") == ""
    assert ch.room_of("socket.io#/#lobby#") == "lobby"
    assert ch.room_of("socket.io#/#a#b#") == "a#b"
    assert ch.room_of("socket.io#/chat#") is None
    assert ch.room_of("other#/#") is None


def test_pattern_escapes_glob_characters():
    ch = Channels("app*", "/n[1]?")
    assert ch.pattern == "app\\*#/n\\[1\\]\\?#*"


def test_ids_are_short_and_random():
    ids = {new_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 6 and i.isalnum() for i in ids)


# -- broadcasts -----------------------------------------------------------------------------


def test_broadcast_message_shape():
    raw = encode_broadcast(
        "uid123", event("chat", {"text": "hi"}, b"\x00\x01"), opts(["r1"], ["s1"], volatile=True)
    )
    uid, packet, options = msgpack.unpackb(raw, raw=False)
    assert uid == "uid123"
    assert packet == {"type": 2, "data": ["chat", {"text": "hi"}, b"\x00\x01"], "nsp": "/"}
    assert options == {"rooms": ["r1"], "except": ["s1"], "flags": {"volatile": True}}


def test_broadcast_binary_type_is_sent_as_event():
    packet = Packet(PacketType.BINARY_EVENT, "/x", ["b", b"1"])
    _, wire_packet, _ = msgpack.unpackb(encode_broadcast("u", packet, opts()), raw=False)
    assert wire_packet["type"] == 2
    assert wire_packet["nsp"] == "/x"


def test_broadcast_timeout_flag_is_in_milliseconds():
    raw = encode_broadcast("u", event("e"), opts(timeout=1.5))
    assert msgpack.unpackb(raw, raw=False)[2]["flags"] == {"timeout": 1500}
    decoded = decode_broadcast(raw)
    assert decoded.opts.flags.timeout == 1.5


def test_broadcast_round_trip():
    original = opts(["a", "b"], ["c"], volatile=True)
    message = decode_broadcast(encode_broadcast("u1", event("ev", 1, [2.5, None]), original))
    assert message.uid == "u1"
    assert message.packet == event("ev", 1, [2.5, None])
    assert message.opts == original


def test_broadcast_from_node_without_flags_or_nsp():
    raw = msgpack.packb(["n0de", {"type": 2, "data": ["x"]}, {"rooms": [], "except": []}])
    message = decode_broadcast(raw)
    assert message.packet.nsp == "/"
    assert message.opts == BroadcastOptions()


def test_numeric_room_names_become_strings():
    raw = msgpack.packb(
        ["n", {"type": 2, "data": ["x"], "nsp": "/"}, {"rooms": [42], "except": []}]
    )
    assert decode_broadcast(raw).opts.rooms == frozenset({"42"})


def test_binary_event_type_from_older_servers_is_accepted():
    raw = msgpack.packb(["n", {"type": 5, "data": ["x", b"\x01"], "nsp": "/"}, {}])
    message = decode_broadcast(raw)
    assert message.packet.type == PacketType.EVENT
    assert message.packet.data == ["x", b"\x01"]


def test_node_dates_become_iso_strings():
    # notepack.io writes a Date as a msgpack timestamp.
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=datetime.timezone.utc)
    raw = msgpack.packb(
        ["n", {"type": 2, "data": ["t", when, {"at": [when]}], "nsp": "/"}, {}], datetime=True
    )
    data = decode_broadcast(raw).packet.data
    assert data == ["t", "2024-05-06T07:08:09.123Z", {"at": ["2024-05-06T07:08:09.123Z"]}]


def test_notepack_undefined_becomes_none():
    undefined = msgpack.ExtType(0, b"\x00")
    raw = msgpack.packb(["n", {"type": 2, "data": ["u", undefined], "nsp": "/"}, {}])
    assert decode_broadcast(raw).packet.data == ["u", None]


def test_other_extension_types_become_type_and_bytes():
    assert unpack(msgpack.packb([msgpack.ExtType(5, b"ab")])) == [[5, b"ab"]]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xc1",  # never used in msgpack
        b"{not json",
        msgpack.packb({"a": 1}),
        msgpack.packb(["uid"]),
        msgpack.packb([1, {"type": 2, "data": ["x"]}, {}]),
        msgpack.packb(["u", {"type": 3, "data": ["x"]}, {}]),
        msgpack.packb(["u", {"type": 2, "data": []}, {}]),
        msgpack.packb(["u", {"type": 2, "data": [7]}, {}]),
        msgpack.packb(["u", {"type": 2, "data": ["connect"]}, {}]),
        msgpack.packb(["u", {"type": 2, "data": ["disconnect"]}, {}]),
        msgpack.packb(["u", {"type": 2, "data": ["x"], "nsp": 5}, {}]),
        msgpack.packb(["u", {"type": 2, "data": ["x"]}, {"rooms": "abc"}]),
        msgpack.packb(["u", {"type": 2, "data": ["x"]}, {"rooms": [None]}]),
        msgpack.packb(["u", {"type": 2, "data": ["x"]}, {"flags": 3}]),
        msgpack.packb(["u", {"type": True, "data": ["x"]}, {}]),
        b"\xa3\xff\xfe\xfd",  # a str that is not UTF-8
        b"\x80\x03(cos\nsystem\n",  # a pickle is just garbage here
    ],
)
def test_malformed_broadcasts_raise_wire_error(raw):
    with pytest.raises(WireError):
        decode_broadcast(raw)


def test_wire_error_is_a_protocol_error():
    assert issubclass(WireError, ProtocolError)


def test_unpackable_arguments_raise_type_error():
    with pytest.raises(TypeError):
        encode_broadcast("u", event("e", object()), opts())
    with pytest.raises(TypeError):
        encode_broadcast("u", event("e", 2**70), opts())


_json_leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
_values = st.recursive(
    _json_leaf | st.binary(max_size=20) | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(deadline=None)
@given(
    args=st.lists(_values, max_size=5),
    rooms=st.frozensets(st.text(max_size=10), max_size=3),
    except_=st.frozensets(st.text(max_size=10), max_size=3),
    volatile=st.booleans(),
)
def test_any_broadcast_round_trips(args, rooms, except_, volatile):
    packet = event("ev", *args)
    options = BroadcastOptions(rooms, except_, BroadcastFlags(volatile=volatile))
    message = decode_broadcast(encode_broadcast("uid", packet, options))
    assert message.packet == packet
    assert message.opts == options


@settings(deadline=None)
@given(st.binary(max_size=200))
def test_decoders_only_ever_raise_wire_error(raw):
    for decode in (decode_broadcast, decode_request, decode_response):
        with contextlib.suppress(WireError):
            decode(raw)


# -- requests -------------------------------------------------------------------------------


def test_remote_join_request_shape():
    raw = encode_request(
        Request(RequestType.REMOTE_JOIN, uid="me", opts=opts(["a"], ["b"]), rooms=("r1", "r2"))
    )
    assert msgpack.unpackb(raw, raw=False) == {
        "type": 2,
        "uid": "me",
        "opts": {"rooms": ["a"], "except": ["b"]},
        "rooms": ["r1", "r2"],
    }


def test_remote_disconnect_request_shape():
    raw = encode_request(Request(RequestType.REMOTE_DISCONNECT, uid="me", opts=opts(), close=True))
    assert msgpack.unpackb(raw, raw=False) == {
        "type": 4,
        "uid": "me",
        "opts": {"rooms": [], "except": []},
        "close": True,
    }


def test_fetch_request_shape():
    raw = encode_request(
        Request(RequestType.REMOTE_FETCH, uid="me", request_id="r1", opts=opts(["x"]))
    )
    assert msgpack.unpackb(raw, raw=False) == {
        "type": 5,
        "uid": "me",
        "requestId": "r1",
        "opts": {"rooms": ["x"], "except": []},
    }


def test_broadcast_with_ack_request_shape():
    raw = encode_request(
        Request(
            RequestType.BROADCAST,
            uid="me",
            request_id="r1",
            opts=opts(["x"], timeout=2),
            packet=event("q", 1),
        )
    )
    assert msgpack.unpackb(raw, raw=False) == {
        "type": 7,
        "uid": "me",
        "requestId": "r1",
        "opts": {"rooms": ["x"], "except": [], "flags": {"timeout": 2000}},
        "packet": {"type": 2, "data": ["q", 1], "nsp": "/"},
    }


def test_server_side_emit_request_shape():
    raw = encode_request(Request(RequestType.SERVER_SIDE_EMIT, uid="me", data=["hello", 1]))
    assert msgpack.unpackb(raw, raw=False) == {"type": 6, "uid": "me", "data": ["hello", 1]}


def test_requests_round_trip():
    for request in (
        Request(RequestType.SOCKETS, uid="u", request_id="r", rooms=("a",)),
        Request(RequestType.ALL_ROOMS, uid="u", request_id="r"),
        Request(RequestType.REMOTE_JOIN, uid="u", opts=opts(["a"]), rooms=("b",)),
        Request(RequestType.REMOTE_LEAVE, uid="u", opts=opts(except_=["a"]), rooms=("b",)),
        Request(RequestType.REMOTE_DISCONNECT, uid="u", opts=opts(["a"]), close=True),
        Request(RequestType.REMOTE_FETCH, uid="u", request_id="r", opts=opts(["a"])),
        Request(RequestType.SERVER_SIDE_EMIT, uid="u", request_id="r", data=["e", {"k": 1}]),
        Request(RequestType.BROADCAST, uid="u", request_id="r", opts=opts(), packet=event("e")),
        Request(RequestType.REMOTE_JOIN, uid="u", request_id="r", sid="s1", room="lobby"),
    ):
        assert decode_request(encode_request(request)) == request


def test_json_requests_from_node_are_read():
    # Node's adapter sends these as JSON.stringify(...)
    raw = json.dumps(
        {"uid": "n0de", "type": 2, "opts": {"rooms": ["a"], "except": []}, "rooms": ["b"]}
    ).encode()
    assert decode_request(raw) == Request(
        RequestType.REMOTE_JOIN, uid="n0de", opts=opts(["a"]), rooms=("b",)
    )
    raw = json.dumps({"uid": "n", "requestId": "q", "type": 6, "data": ["ping", 1]}).encode()
    assert decode_request(raw).data == ["ping", 1]


def test_emitter_requests_without_uid_are_read():
    raw = json.dumps({"type": 4, "opts": {"rooms": [], "except": ["x"]}, "close": False}).encode()
    request = decode_request(raw)
    assert request.uid is None
    assert request.opts == opts(except_=["x"])


@pytest.mark.parametrize(
    "obj",
    [
        [],
        {"type": "2"},
        {"type": 99},
        {"type": 8, "requestId": "r"},  # a response type
        {"type": 6, "data": []},
        {"type": 6, "data": [1]},
        {"type": 7, "requestId": "r", "opts": {}, "packet": {"type": 2, "data": []}},
        {"type": 7, "requestId": "r", "packet": {"type": 2, "data": ["x"]}},
        {"type": 5, "requestId": "r"},
        {"type": 2, "uid": 5, "opts": {}},
        {"type": 2, "room": ["x"], "sid": "s"},
    ],
)
def test_malformed_requests_raise_wire_error(obj):
    with pytest.raises(WireError):
        decode_request(msgpack.packb(obj))
    with pytest.raises(WireError):
        decode_request(json.dumps(obj).encode())


def test_json_with_nan_is_refused():
    with pytest.raises(WireError):
        decode_request(b'{"type": 6, "data": ["x", NaN]}')


# -- responses ------------------------------------------------------------------------------


def test_fetch_response_shape_and_round_trip():
    details = SocketDetails("sid1", {"address": "1.2.3.4", "query": {}}, ("sid1", "r"), {"k": 1})
    raw = encode_response(Response("req", sockets=(details,)))
    assert msgpack.unpackb(raw, raw=False) == {
        "requestId": "req",
        "sockets": [
            {
                "id": "sid1",
                "handshake": {"address": "1.2.3.4", "query": {}},
                "rooms": ["sid1", "r"],
                "data": {"k": 1},
            }
        ],
    }
    assert decode_response(raw).sockets == (details,)


def test_json_fetch_response_from_node():
    raw = json.dumps(
        {
            "requestId": "q",
            "sockets": [{"id": "a", "handshake": {"time": "x"}, "rooms": ["a"], "data": None}],
        }
    ).encode()
    (details,) = decode_response(raw).sockets or ()
    assert details == SocketDetails("a", {"time": "x"}, ("a",), None)


def test_client_count_and_ack_responses():
    raw = encode_response(Response("q", RequestType.BROADCAST_CLIENT_COUNT, client_count=3))
    assert msgpack.unpackb(raw, raw=False) == {"requestId": "q", "type": 8, "clientCount": 3}
    assert decode_response(raw).client_count == 3
    raw = encode_response(Response("q", RequestType.BROADCAST_ACK, ack=["pong"]))
    assert msgpack.unpackb(raw, raw=False) == {"requestId": "q", "type": 9, "packet": "pong"}
    assert decode_response(raw).ack == ["pong"]


def test_ack_with_several_or_no_arguments_keeps_them():
    raw = encode_response(Response("q", RequestType.BROADCAST_ACK, ack=[1, 2]))
    assert msgpack.unpackb(raw, raw=False) == {
        "requestId": "q",
        "type": 9,
        "packet": 1,
        "args": [1, 2],
    }
    assert decode_response(raw).ack == [1, 2]
    raw = encode_response(Response("q", RequestType.BROADCAST_ACK, ack=[]))
    assert decode_response(raw).ack == []


def test_server_side_emit_answer():
    raw = encode_response(Response("q", RequestType.SERVER_SIDE_EMIT, ack=["pong"]))
    assert msgpack.unpackb(raw, raw=False) == {"requestId": "q", "type": 6, "data": "pong"}
    assert decode_response(raw).ack == ["pong"]
    # Node: JSON.stringify({type: 6, requestId, data: arg})
    assert decode_response(b'{"type":6,"requestId":"q","data":{"ok":1}}').ack == [{"ok": 1}]
    assert decode_response(b'{"type":6,"requestId":"q"}').ack == []


def test_rooms_and_sids_responses_from_node():
    assert decode_response(b'{"requestId":"q","rooms":["a","b"]}').rooms == ("a", "b")
    assert decode_response(b'{"requestId":"q","sockets":["s1","s2"]}').sockets == ("s1", "s2")
    assert decode_response(b'{"requestId":"q"}') == Response("q")


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"requestId": 5},
        {"requestId": "q", "type": "x"},
        {"requestId": "q", "type": 42},
        {"requestId": "q", "sockets": "abc"},
        {"requestId": "q", "sockets": [{"handshake": {}}]},
        {"requestId": "q", "rooms": [[1]]},
        {"requestId": "q", "clientCount": -1},
        {"requestId": "q", "clientCount": "3"},
    ],
)
def test_malformed_responses_raise_wire_error(obj):
    with pytest.raises(WireError):
        decode_response(msgpack.packb(obj))

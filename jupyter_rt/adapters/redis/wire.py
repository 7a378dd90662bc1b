"""The Redis wire format of Node's ``@socket.io/redis-adapter`` 8 and ``@socket.io/redis-emitter``.

Pure functions and frozen dataclasses: no I/O, no clock. The adapter
(:mod:`~jupyter_rt.adapters.redis.adapter`) and the emitter
(:mod:`~jupyter_rt.adapters.redis.emitter`) build their messages here, so a jupyter_rt server, a
Node ``socket.io`` server and an emitter share one cluster.

Channels, for a ``prefix`` (default ``socket.io``) and a namespace ``nsp``::

    <prefix>#<nsp>#               broadcast to the namespace     msgpack [uid, packet, opts]
    <prefix>#<nsp>#<room>#        broadcast to exactly one room  (same message)
    <prefix>-request#<nsp>#       requests between servers       msgpack map (Node: often JSON)
    <prefix>-response#<nsp>#      responses to requests          msgpack or JSON map
    <prefix>-response#<nsp>#<uid>#  responses for one server (publishOnSpecificResponseChannel)

A broadcast's ``packet`` is ``{"type": 2, "data": [event, *args], "nsp": nsp}`` with ``bytes``
left in place (msgpack ``bin``), and ``opts`` is ``{"rooms": [...], "except": [...], "flags":
{...}}``; ``flags.timeout`` is in milliseconds. Requests are maps with ``uid`` (the sending
server), ``requestId`` (when a response is expected), ``type`` (:class:`RequestType`) and the
type's own fields; responses are maps with ``requestId``.

jupyter_rt publishes msgpack only. It reads msgpack, and JSON on the request and response
channels because Node's adapter publishes most requests and responses as JSON. Both are plain
data: nothing is ever unpickled or evaluated. Anything that does not fit raises
:class:`WireError`; the caller drops the message.
"""

from __future__ import annotations

import datetime
import json
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Final

import msgpack

from jupyter_rt.errors import ProtocolError
from jupyter_rt.protocol.events import check_event_name
from jupyter_rt.protocol.socketio import Packet, PacketType
from jupyter_rt.server.adapter import BroadcastFlags, BroadcastOptions

__all__ = [
    "DEFAULT_PREFIX",
    "EMITTER_UID",
    "BroadcastMessage",
    "Channels",
    "Request",
    "RequestType",
    "Response",
    "SocketDetails",
    "WireError",
    "decode_broadcast",
    "decode_options",
    "decode_packet",
    "decode_request",
    "decode_response",
    "encode_broadcast",
    "encode_options",
    "encode_packet",
    "encode_request",
    "encode_response",
    "new_id",
    "pack",
    "room_list",
    "unpack",
]

DEFAULT_PREFIX: Final = "socket.io"
EMITTER_UID: Final = "emitter"
"""The ``uid`` that ``@socket.io/redis-emitter`` and :class:`jupyter_rt.adapters.redis.Emitter`
send."""

_ID_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class WireError(ProtocolError):
    """A message on a Redis channel is malformed or not in this format."""


class RequestType(IntEnum):
    """Request and response types between servers (numbers as in Node's adapter)."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


def new_id(length: int = 6) -> str:
    """A random server uid or request id (like Node's ``uid2(6)``)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


# -- channels -------------------------------------------------------------------------------


def _glob_escape(text: str) -> str:
    """``text`` as a literal inside a Redis glob pattern."""
    out = []
    for char in text:
        if char in "\\*?[]":
            out.append("\\")
        out.append(char)
    return "".join(out)


class Channels:
    """The channel names of one namespace under one prefix."""

    __slots__ = ("broadcast", "nsp", "pattern", "prefix", "request", "response")

    def __init__(self, prefix: str, nsp: str) -> None:
        self.prefix = prefix
        self.nsp = nsp
        self.broadcast = f"{prefix}#{nsp}#"
        """Broadcasts to the whole namespace (and the prefix of the room channels)."""
        self.request = f"{prefix}-request#{nsp}#"
        self.response = f"{prefix}-response#{nsp}#"
        self.pattern = _glob_escape(self.broadcast) + "*"
        """The PSUBSCRIBE pattern covering the namespace channel and its room channels."""

    def __repr__(self) -> str:
        return f"<Channels {self.broadcast}>"

    def room(self, room: str) -> str:
        """The channel of broadcasts to exactly ``room``."""
        return f"{self.broadcast}{room}#"

    def response_for(self, uid: str) -> str:
        """The response channel of one server (``publishOnSpecificResponseChannel``)."""
        return f"{self.response}{uid}#"

    def for_rooms(self, rooms: Collection[str]) -> str:
        """Where a broadcast to ``rooms`` is published: the room channel for exactly one room."""
        if len(rooms) == 1:
            for room in rooms:
                return self.room(room)
        return self.broadcast

    def room_of(self, channel: str) -> str | None:
        """``""`` for the namespace channel, the room for a room channel, ``None`` if foreign."""
        if channel == self.broadcast:
            return ""
        if channel.startswith(self.broadcast) and channel.endswith("#"):
            return channel[len(self.broadcast) : -1]
        return None


# -- msgpack --------------------------------------------------------------------------------


def _ext_hook(code: int, data: bytes) -> Any:
    # notepack.io (Node's msgpack) writes ``undefined`` as fixext 1 of type 0, and used to write
    # ArrayBuffers as ext type 0; other extension types come out as [type, bytes], as there.
    if code == 0:
        return None if len(data) == 1 else bytes(data)
    return [code, bytes(data)]


# notepack.io writes a JavaScript Date as a msgpack timestamp (ext -1): 32, 64 or 96 bit.
_TIMESTAMP_MARKERS: Final = (b"\xd6\xff", b"\xd7\xff", b"\xc7\x0c\xff")


def _js_iso(value: datetime.datetime) -> str:
    """A datetime as JavaScript's ``Date.toJSON()`` writes it (what Node's clients get)."""
    value = value.astimezone(datetime.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _replace_datetimes(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return _js_iso(value)
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, (list, dict, datetime.datetime)):
                value[index] = _replace_datetimes(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (list, dict, datetime.datetime)):
                value[key] = _replace_datetimes(item)
    return value


def unpack(data: bytes) -> Any:
    """Decode one msgpack value as Node's notepack.io wrote it; raises :class:`WireError`.

    Dates become ISO 8601 strings (as JSON carries them to clients), ``undefined`` becomes
    ``None``, ``bin`` stays ``bytes``.
    """
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=False,
            ext_hook=_ext_hook,
            timestamp=3,
        )
    except Exception as exc:  # msgpack raises several types, all mean "not msgpack"
        raise WireError(f"not msgpack: {exc}") from None
    if any(marker in data for marker in _TIMESTAMP_MARKERS):
        value = _replace_datetimes(value)
    return value


def pack(value: Any) -> bytes:
    """Encode ``value`` as msgpack (``bytes`` as ``bin``, ``str`` as ``str``).

    Raises ``TypeError`` for what msgpack cannot carry (it is the caller's data).
    """
    try:
        return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"cannot send through Redis: {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unpack_map(data: bytes) -> dict[Any, Any]:
    """A request or response: JSON if it starts with ``{`` (as Node sends most), else msgpack."""
    if data[:1] == b"{":
        try:
            value = json.loads(data, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise WireError(f"invalid JSON: {exc}") from None
    else:
        value = unpack(data)
    if not isinstance(value, dict):
        raise WireError(f"expected a map, got {type(value).__name__}")
    return value


# -- fields ---------------------------------------------------------------------------------


def room_list(value: Any, what: str) -> tuple[str, ...]:
    """Room names read from a message (``what`` names the field in errors); raises
    :class:`WireError`. Node allows numbers as room names; they become strings."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise WireError(f"{what} must be an array")
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            out.append(str(item))
        else:
            raise WireError(f"{what} must hold strings")
    return tuple(out)


def _optional_str(obj: Mapping[Any, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise WireError(f"{key} must be a string")
    return value


def encode_packet(packet: Packet) -> dict[str, Any]:
    """An EVENT as Node's adapters carry it: ``{"type": 2, "data": [...], "nsp": ...}``."""
    if packet.type not in (PacketType.EVENT, PacketType.BINARY_EVENT):
        raise ValueError(f"only events cross servers, not {packet.type.name}")
    return {"type": int(PacketType.EVENT), "data": packet.data, "nsp": packet.nsp}


def decode_packet(value: Any, default_nsp: str = "/") -> Packet:
    """An EVENT read from a message (of ``default_nsp`` if it names none); raises
    :class:`WireError`."""
    if not isinstance(value, dict):
        raise WireError("packet must be a map")
    ptype = value.get("type")
    if ptype not in (PacketType.EVENT, PacketType.BINARY_EVENT) or isinstance(ptype, bool):
        raise WireError(f"packet type {ptype!r} is not an event")
    data = value.get("data")
    if not isinstance(data, list) or not data:
        raise WireError("an event must be a non-empty array")
    try:
        check_event_name(data[0])
    except ValueError as exc:  # EventNameTypeError included
        raise WireError(str(exc)) from None
    nsp = value.get("nsp", default_nsp)
    if nsp is None:
        nsp = "/"
    if not isinstance(nsp, str):
        raise WireError("packet nsp must be a string")
    return Packet(PacketType.EVENT, nsp, data)


def encode_options(opts: BroadcastOptions, *, flags: bool) -> dict[str, Any]:
    """``{"rooms", "except"}`` and, with ``flags``, ``"flags"`` (``timeout`` in ms)."""
    out: dict[str, Any] = {"rooms": list(opts.rooms), "except": list(opts.except_)}
    if flags:
        wire_flags: dict[str, Any] = {}
        if opts.flags.volatile:
            wire_flags["volatile"] = True
        if opts.flags.timeout is not None:
            wire_flags["timeout"] = round(opts.flags.timeout * 1000)
        out["flags"] = wire_flags
    return out


def decode_options(value: Any) -> BroadcastOptions:
    """Options read from a message; raises :class:`WireError`."""
    if not isinstance(value, dict):
        raise WireError("opts must be a map")
    rooms = frozenset(room_list(value.get("rooms"), "opts.rooms"))
    except_ = frozenset(room_list(value.get("except"), "opts.except"))
    flags = value.get("flags")
    if flags is None:
        return BroadcastOptions(rooms, except_)
    if not isinstance(flags, dict):
        raise WireError("opts.flags must be a map")
    timeout = flags.get("timeout")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        timeout = None
    volatile = flags.get("volatile") is True
    if not volatile and timeout is None:
        return BroadcastOptions(rooms, except_)
    seconds = None if timeout is None else timeout / 1000
    return BroadcastOptions(rooms, except_, BroadcastFlags(volatile=volatile, timeout=seconds))


# -- broadcasts -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BroadcastMessage:
    """A broadcast from server (or emitter) ``uid``: ``packet`` to the sockets ``opts`` selects."""

    uid: str
    packet: Packet
    opts: BroadcastOptions


def encode_broadcast(uid: str, packet: Packet, opts: BroadcastOptions) -> bytes:
    """The message to publish on :meth:`Channels.for_rooms` of ``opts.rooms``.

    Raises ``TypeError`` if the event's arguments cannot be carried.
    """
    return pack([uid, encode_packet(packet), encode_options(opts, flags=True)])


def decode_broadcast(data: bytes) -> BroadcastMessage:
    """Parse a message from a broadcast channel; raises :class:`WireError`."""
    value = unpack(data)
    if not isinstance(value, list) or len(value) < 3:
        raise WireError("a broadcast must be [uid, packet, opts]")
    uid = value[0]
    if not isinstance(uid, str):
        raise WireError("uid must be a string")
    return BroadcastMessage(uid, decode_packet(value[1]), decode_options(value[2]))


# -- requests -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """A request on the request channel.

    ``opts`` selects sockets (REMOTE_JOIN/LEAVE/DISCONNECT/FETCH, BROADCAST, SOCKETS's rooms are
    in ``rooms``); ``rooms`` are the rooms to join or leave; ``close`` is for REMOTE_DISCONNECT;
    ``sid`` and ``room`` are the single-socket form older servers send; ``data`` is
    ``[event, *args]`` for SERVER_SIDE_EMIT; ``packet`` is the event of a BROADCAST with acks.
    A ``request_id`` means the sender waits for responses.
    """

    type: RequestType
    uid: str | None = None
    request_id: str | None = None
    opts: BroadcastOptions | None = None
    rooms: tuple[str, ...] = ()
    close: bool = False
    sid: str | None = None
    room: str | None = None
    data: list[Any] | None = None
    packet: Packet | None = None


def encode_request(request: Request) -> bytes:
    """The msgpack message for ``request`` (Node reads msgpack and JSON alike)."""
    rtype = request.type
    out: dict[str, Any] = {"type": int(rtype)}
    if request.uid is not None:
        out["uid"] = request.uid
    if request.request_id is not None:
        out["requestId"] = request.request_id
    if request.opts is not None:
        out["opts"] = encode_options(request.opts, flags=rtype == RequestType.BROADCAST)
    if rtype == RequestType.SOCKETS or (
        request.opts is not None and rtype in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE)
    ):
        out["rooms"] = list(request.rooms)
    if rtype == RequestType.REMOTE_DISCONNECT:
        out["close"] = request.close
    if request.sid is not None:
        out["sid"] = request.sid
    if request.room is not None:
        out["room"] = request.room
    if request.data is not None:
        out["data"] = list(request.data)
    if request.packet is not None:
        out["packet"] = encode_packet(request.packet)
    return pack(out)


def decode_request(data: bytes) -> Request:
    """Parse a message from the request channel; raises :class:`WireError`.

    A request of an unknown type raises too (a newer peer's; it is dropped).
    """
    obj = _unpack_map(data)
    raw_type = obj.get("type")
    if isinstance(raw_type, bool) or not isinstance(raw_type, int):
        raise WireError("request type must be a number")
    try:
        rtype = RequestType(raw_type)
    except ValueError:
        raise WireError(f"unknown request type {raw_type}") from None
    if rtype in (RequestType.BROADCAST_CLIENT_COUNT, RequestType.BROADCAST_ACK):
        raise WireError(f"{rtype.name} is a response, not a request")
    raw_opts = obj.get("opts")
    opts = None if raw_opts is None else decode_options(raw_opts)
    rooms = room_list(obj.get("rooms"), "rooms")
    payload: list[Any] | None = None
    packet = None
    if rtype == RequestType.SERVER_SIDE_EMIT:
        payload = obj.get("data")
        if not isinstance(payload, list) or not payload or not isinstance(payload[0], str):
            raise WireError("a server-side emit must carry [event, *args]")
    elif rtype == RequestType.BROADCAST:
        packet = decode_packet(obj.get("packet"))
        if opts is None:
            raise WireError("a broadcast request needs opts")
    elif rtype == RequestType.REMOTE_FETCH and opts is None:
        raise WireError("a fetch request needs opts")
    room = obj.get("room")
    if isinstance(room, int) and not isinstance(room, bool):
        room = str(room)
    if room is not None and not isinstance(room, str):
        raise WireError("room must be a string")
    return Request(
        type=rtype,
        uid=_optional_str(obj, "uid"),
        request_id=_optional_str(obj, "requestId"),
        opts=opts,
        rooms=rooms,
        close=obj.get("close") is True,
        sid=_optional_str(obj, "sid"),
        room=room,
        data=payload,
        packet=packet,
    )


# -- responses ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SocketDetails:
    """A socket as a REMOTE_FETCH response describes it (Node's ``RemoteSocket`` details)."""

    id: str
    handshake: dict[str, Any]
    rooms: tuple[str, ...]
    data: Any = None

    def to_wire(self) -> dict[str, Any]:
        """The map a REMOTE_FETCH response carries."""
        return {
            "id": self.id,
            "handshake": self.handshake,
            "rooms": list(self.rooms),
            "data": self.data,
        }

    @classmethod
    def from_wire(cls, value: Any) -> SocketDetails:
        """Parse one entry of a REMOTE_FETCH response; raises :class:`WireError`."""
        if not isinstance(value, dict):
            raise WireError("a fetched socket must be a map")
        sid = value.get("id")
        if not isinstance(sid, str):
            raise WireError("a fetched socket needs a string id")
        handshake = value.get("handshake")
        if not isinstance(handshake, dict):
            handshake = {}
        return cls(sid, handshake, room_list(value.get("rooms"), "rooms"), value.get("data"))


@dataclass(frozen=True, slots=True)
class Response:
    """A message on a response channel, for request ``request_id``.

    ``type`` is set for SERVER_SIDE_EMIT, BROADCAST_CLIENT_COUNT and BROADCAST_ACK responses
    (Node leaves it out of the others). ``sockets`` holds socket ids (SOCKETS) or
    :class:`SocketDetails` (REMOTE_FETCH); ``ack`` holds the arguments of an acknowledgement.
    """

    request_id: str
    type: RequestType | None = None
    sockets: tuple[str | SocketDetails, ...] | None = None
    rooms: tuple[str, ...] | None = None
    client_count: int | None = None
    ack: list[Any] = field(default_factory=list)


def encode_response(response: Response) -> bytes:
    """The msgpack message for ``response``."""
    out: dict[str, Any] = {"requestId": response.request_id}
    rtype = response.type
    if rtype is not None:
        out["type"] = int(rtype)
    if response.sockets is not None:
        out["sockets"] = [
            s.to_wire() if isinstance(s, SocketDetails) else s for s in response.sockets
        ]
    if response.rooms is not None:
        out["rooms"] = list(response.rooms)
    if response.client_count is not None:
        out["clientCount"] = response.client_count
    ack = response.ack
    if rtype == RequestType.BROADCAST_ACK:
        # Node passes on the first argument only; the whole list rides along for jupyter_rt.
        if ack:
            out["packet"] = ack[0]
        if len(ack) != 1:
            out["args"] = list(ack)
    elif rtype == RequestType.SERVER_SIDE_EMIT and ack:
        out["data"] = ack[0] if len(ack) == 1 else list(ack)
    return pack(out)


def decode_response(data: bytes) -> Response:
    """Parse a message from a response channel; raises :class:`WireError`."""
    obj = _unpack_map(data)
    request_id = obj.get("requestId")
    if not isinstance(request_id, str):
        raise WireError("a response needs a string requestId")
    raw_type = obj.get("type")
    rtype: RequestType | None = None
    if raw_type is not None:
        if isinstance(raw_type, bool) or not isinstance(raw_type, int):
            raise WireError("response type must be a number")
        try:
            rtype = RequestType(raw_type)
        except ValueError:
            raise WireError(f"unknown response type {raw_type}") from None
    sockets: tuple[str | SocketDetails, ...] | None = None
    raw_sockets = obj.get("sockets")
    if raw_sockets is not None:
        if not isinstance(raw_sockets, list):
            raise WireError("sockets must be an array")
        sockets = tuple(
            s if isinstance(s, str) else SocketDetails.from_wire(s) for s in raw_sockets
        )
    rooms = None if obj.get("rooms") is None else room_list(obj.get("rooms"), "rooms")
    count = obj.get("clientCount")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise WireError("clientCount must be a count")
    ack: list[Any] = []
    if rtype == RequestType.BROADCAST_ACK:
        args = obj.get("args")
        if isinstance(args, list):
            ack = args
        elif "packet" in obj:
            ack = [obj["packet"]]
    elif rtype == RequestType.SERVER_SIDE_EMIT and "data" in obj:
        ack = [obj["data"]]
    return Response(request_id, rtype, sockets, rooms, count, ack)

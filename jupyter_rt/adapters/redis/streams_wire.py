"""The Redis format of Node's ``@socket.io/redis-streams-adapter`` 0.3: stream entries, pub/sub
messages and stored sessions. Pure functions and frozen dataclasses: no I/O, no clock.

Messages are those of ``socket.io-adapter``'s ``ClusterAdapter`` (:class:`MessageType`): maps
``{uid, nsp, type, data}``, ``uid`` being the sending adapter (one per namespace and server).

- What must reach every server in order goes into one Redis stream (``XADD <stream> MAXLEN ~ N
  * uid U nsp N type T data D``, ``T`` a decimal string): broadcasts without acks, and the
  joins, leaves and disconnects of remote sockets (:data:`STREAMED`). ``D`` is JSON, or, when it
  holds binary, base64 of msgpack. A broadcast's offset (what a recovering client sends back)
  is its entry id, ``<ms>-<seq>``.
- What needs answers goes on pub/sub as msgpack: requests on ``<prefix>#<nsp>#`` (fetching
  sockets, server-side emits, broadcasts with acks), responses on ``<prefix>#<nsp>#<uid>#``.
- A disconnected session is a key ``<session prefix><pid>`` whose value is base64 of msgpack
  ``{sid, pid, rooms, data}`` with a TTL, which Node servers read too. jupyter_rt adds ``jrt``:
  ``{"nsp": ..., "owner": ...}``, the namespace and a salted digest of the credentials that
  opened it (:func:`seal`); Node servers ignore it.

Everything read is size-checked before it is decoded (``max_bytes``) and is plain data, never
code. What does not fit raises :class:`~jupyter_rt.adapters.redis.wire.WireError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from jupyter_rt.adapters.redis.wire import (
    RequestType,
    Response,
    SocketDetails,
    WireError,
    decode_options,
    decode_packet,
    encode_options,
    encode_packet,
    pack,
    room_list,
    unpack,
)
from jupyter_rt.protocol.socketio import Packet
from jupyter_rt.server.adapter import BroadcastOptions

__all__ = [
    "DEFAULT_SESSION_KEY_PREFIX",
    "REQUEST_TYPES",
    "STREAMED",
    "ClusterMessage",
    "MessageType",
    "StoredSession",
    "decode_entry",
    "decode_message",
    "decode_session",
    "encode_entry",
    "encode_message",
    "encode_session",
    "is_sealed",
    "new_uid",
    "next_offset",
    "parse_offset",
    "response_message",
    "response_of",
    "seal",
    "stream_for",
]

DEFAULT_SESSION_KEY_PREFIX: Final = "sio:session:"


class MessageType(IntEnum):
    """Message types of Node's ``ClusterAdapter`` (``socket.io-adapter`` 2.5)."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


STREAMED: Final = frozenset(
    {
        MessageType.BROADCAST,
        MessageType.SOCKETS_JOIN,
        MessageType.SOCKETS_LEAVE,
        MessageType.DISCONNECT_SOCKETS,
    }
)
"""What goes through the stream (a BROADCAST only without acks); the rest is pub/sub."""


def new_uid() -> str:
    """A random adapter uid (16 hex digits, as Node's)."""
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class ClusterMessage:
    """One message between servers; ``data`` is the type's map (``None`` for heartbeats)."""

    uid: str
    nsp: str
    type: MessageType
    data: dict[str, Any] | None = None

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def broadcast(
        cls,
        uid: str,
        packet: Packet,
        opts: BroadcastOptions,
        request_id: str | None = None,
    ) -> ClusterMessage:
        """A broadcast (with acks when ``request_id`` is given)."""
        data: dict[str, Any] = {
            "packet": encode_packet(packet),
            "opts": encode_options(opts, flags=True),
        }
        if request_id is not None:
            data["requestId"] = request_id
        return cls(uid, packet.nsp, MessageType.BROADCAST, data)

    @classmethod
    def sockets_op(
        cls,
        uid: str,
        nsp: str,
        mtype: MessageType,
        opts: BroadcastOptions,
        rooms: tuple[str, ...] = (),
        close: bool = False,
    ) -> ClusterMessage:
        """SOCKETS_JOIN or SOCKETS_LEAVE (``rooms``), or DISCONNECT_SOCKETS (``close``)."""
        data: dict[str, Any] = {"opts": encode_options(opts, flags=False)}
        if mtype == MessageType.DISCONNECT_SOCKETS:
            data["close"] = close
        else:
            data["rooms"] = list(rooms)
        return cls(uid, nsp, mtype, data)

    @classmethod
    def fetch(
        cls, uid: str, nsp: str, opts: BroadcastOptions, request_id: str | None
    ) -> ClusterMessage:
        """FETCH_SOCKETS: the sockets ``opts`` selects, answered to ``uid``."""
        data = {"opts": encode_options(opts, flags=False), "requestId": request_id}
        return cls(uid, nsp, MessageType.FETCH_SOCKETS, data)

    @classmethod
    def server_side(
        cls, uid: str, nsp: str, event: list[Any], request_id: str | None = None
    ) -> ClusterMessage:
        """SERVER_SIDE_EMIT of ``[event, *args]`` (answered when ``request_id`` is given)."""
        data: dict[str, Any] = {"packet": event}
        if request_id is not None:
            data["requestId"] = request_id
        return cls(uid, nsp, MessageType.SERVER_SIDE_EMIT, data)

    # -- reading ----------------------------------------------------------------------------

    @property
    def request_id(self) -> str | None:
        """The ``requestId`` of a request or response (``None`` when it has none)."""
        value = (self.data or {}).get("requestId")
        if value is None:
            return None
        if not isinstance(value, str):
            raise WireError("requestId must be a string")
        return value

    def packet(self) -> Packet:
        """The event of a BROADCAST; raises :class:`WireError`."""
        return decode_packet(self._data().get("packet"), self.nsp)

    def options(self) -> BroadcastOptions:
        """The socket selection of a BROADCAST, SOCKETS_* or FETCH_SOCKETS message."""
        return decode_options(self._data().get("opts"))

    def rooms(self) -> tuple[str, ...]:
        """The rooms to join or leave of a SOCKETS_JOIN or SOCKETS_LEAVE."""
        return room_list(self._data().get("rooms"), "rooms")

    def close(self) -> bool:
        """Whether a DISCONNECT_SOCKETS closes the whole connections."""
        return self._data().get("close") is True

    def event(self) -> list[Any]:
        """``[event, *args]`` of a SERVER_SIDE_EMIT."""
        value = self._data().get("packet")
        if not isinstance(value, list) or not value or not isinstance(value[0], str):
            raise WireError("a server-side emit must carry [event, *args]")
        return value

    def _data(self) -> dict[str, Any]:
        if self.data is None:
            raise WireError(f"a {self.type.name} message needs data")
        return self.data


def _has_binary(value: Any) -> bool:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_binary(v) for v in value)
    if isinstance(value, dict):
        return any(_has_binary(v) for v in value.values())
    return False


def _encode_data(data: dict[str, Any]) -> bytes:
    """JSON, or base64 of msgpack when ``data`` holds binary (as Node). Raises TypeError."""
    if _has_binary(data):
        return base64.b64encode(pack(data))
    try:
        return json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
    except ValueError as exc:  # NaN or infinity
        raise TypeError(f"cannot send through Redis: {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode_data(raw: bytes) -> dict[str, Any]:
    if raw[:1] == b"{":
        try:
            value = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise WireError(f"invalid JSON: {exc}") from None
    else:
        try:
            value = unpack(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise WireError(f"invalid base64: {exc}") from None
    if not isinstance(value, dict):
        raise WireError("message data must be a map")
    return value


def _message_type(value: Any) -> MessageType:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError("message type must be a number")
    try:
        return MessageType(value)
    except ValueError:
        raise WireError(f"unknown message type {value}") from None


def encode_entry(message: ClusterMessage) -> dict[str, bytes]:
    """The fields of the stream entry for ``message`` (in Node's order). Raises TypeError if
    its data cannot be carried."""
    fields = {
        "uid": message.uid.encode(),
        "nsp": message.nsp.encode(),
        "type": str(int(message.type)).encode(),
    }
    if message.data is not None:
        fields["data"] = _encode_data(message.data)
    return fields


def decode_entry(fields: Mapping[bytes, bytes], max_bytes: int) -> ClusterMessage:
    """Parse a stream entry's fields; raises :class:`WireError` (also past ``max_bytes``)."""
    size = sum(len(k) + len(v) for k, v in fields.items())
    if size > max_bytes:
        raise WireError(f"a stream entry of {size} bytes (the limit is {max_bytes})")
    try:
        uid = fields[b"uid"].decode()
        nsp = fields[b"nsp"].decode()
        raw_type = fields[b"type"].decode()
    except (KeyError, UnicodeDecodeError) as exc:
        raise WireError(f"a stream entry needs uid, nsp and type: {exc!r}") from None
    if not (raw_type.isascii() and raw_type.isdigit() and len(raw_type) <= 3):
        raise WireError(f"message type {raw_type!r} is not a number")
    raw = fields.get(b"data")
    data = None if not raw else _decode_data(raw)
    return ClusterMessage(uid, nsp, _message_type(int(raw_type)), data)


def encode_message(message: ClusterMessage) -> bytes:
    """The msgpack message to publish. Raises TypeError if its data cannot be carried."""
    out: dict[str, Any] = {"uid": message.uid, "nsp": message.nsp, "type": int(message.type)}
    if message.data is not None:
        out["data"] = message.data
    return pack(out)


def decode_message(payload: bytes, max_bytes: int) -> ClusterMessage:
    """Parse a pub/sub message; raises :class:`WireError` (also past ``max_bytes``)."""
    if len(payload) > max_bytes:
        raise WireError(f"a message of {len(payload)} bytes (the limit is {max_bytes})")
    value = unpack(payload)
    if not isinstance(value, dict):
        raise WireError("a message must be a map")
    uid, nsp, data = value.get("uid"), value.get("nsp"), value.get("data")
    if not isinstance(uid, str) or not isinstance(nsp, str):
        raise WireError("a message needs a string uid and nsp")
    if data is not None and not isinstance(data, dict):
        raise WireError("message data must be a map")
    return ClusterMessage(uid, nsp, _message_type(value.get("type")), data)


_RESPONSE_TYPES: Final = {
    MessageType.FETCH_SOCKETS_RESPONSE: RequestType.REMOTE_FETCH,
    MessageType.SERVER_SIDE_EMIT_RESPONSE: RequestType.SERVER_SIDE_EMIT,
    MessageType.BROADCAST_CLIENT_COUNT: RequestType.BROADCAST_CLIENT_COUNT,
    MessageType.BROADCAST_ACK: RequestType.BROADCAST_ACK,
}

REQUEST_TYPES: Final = {
    RequestType.REMOTE_FETCH: MessageType.FETCH_SOCKETS,
    RequestType.SERVER_SIDE_EMIT: MessageType.SERVER_SIDE_EMIT,
    RequestType.BROADCAST: MessageType.BROADCAST,
}
"""The requests that wait for answers, as :class:`~jupyter_rt.adapters.redis.requests.Requests`
names them, and their message types here."""


def response_of(message: ClusterMessage) -> Response | None:
    """``message`` as a :class:`Response` if it is one (``None`` for requests); raises
    :class:`WireError` if it is malformed."""
    rtype = _RESPONSE_TYPES.get(message.type)
    if rtype is None:
        return None
    request_id = message.request_id
    if request_id is None:
        raise WireError("a response needs a requestId")
    data = message.data or {}
    if rtype == RequestType.REMOTE_FETCH:
        raw = data.get("sockets")
        if not isinstance(raw, list):
            raise WireError("sockets must be an array")
        sockets = tuple(SocketDetails.from_wire(s) for s in raw)
        return Response(request_id, rtype, sockets=sockets)
    if rtype == RequestType.BROADCAST_CLIENT_COUNT:
        count = data.get("clientCount")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise WireError("clientCount must be a count")
        return Response(request_id, rtype, client_count=count)
    args = data.get("args")
    ack = args if isinstance(args, list) else [data.get("packet")]
    return Response(request_id, rtype, ack=ack)


def response_message(uid: str, nsp: str, response: Response) -> ClusterMessage:
    """The message answering a request with ``response`` (Node's ``ClusterResponse``)."""
    data: dict[str, Any] = {"requestId": response.request_id}
    mtype: MessageType
    if response.type == RequestType.BROADCAST_CLIENT_COUNT:
        mtype = MessageType.BROADCAST_CLIENT_COUNT
        data["clientCount"] = response.client_count or 0
    elif response.type == RequestType.REMOTE_FETCH:
        mtype = MessageType.FETCH_SOCKETS_RESPONSE
        data["sockets"] = [
            s.to_wire() for s in response.sockets or () if isinstance(s, SocketDetails)
        ]
    elif response.type in (RequestType.BROADCAST_ACK, RequestType.SERVER_SIDE_EMIT):
        mtype = (
            MessageType.BROADCAST_ACK
            if response.type == RequestType.BROADCAST_ACK
            else MessageType.SERVER_SIDE_EMIT_RESPONSE
        )
        ack = response.ack
        data["packet"] = ack[0] if ack else None  # Node passes on the first argument only
        if len(ack) != 1:
            data["args"] = list(ack)
    else:
        raise ValueError(f"no response of type {response.type!r}")
    return ClusterMessage(uid, nsp, mtype, data)


# -- offsets ----------------------------------------------------------------------------------

_OFFSET = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


def parse_offset(offset: str) -> tuple[int, int] | None:
    """A stream id ``<ms>-<seq>`` as a comparable pair, or ``None`` if it is not one."""
    if not _OFFSET.fullmatch(offset):
        return None
    ms, _, seq = offset.partition("-")
    return int(ms), int(seq)


def next_offset(position: tuple[int, int]) -> str:
    """The smallest stream id after ``position`` (an exclusive start for ``XRANGE``)."""
    return f"{position[0]}-{position[1] + 1}"


def stream_for(nsp: str, name: str, count: int) -> str:
    """The stream of namespace ``nsp``: ``name``, or with ``count`` > 1 streams, Node's choice
    ``<name>-<i>`` (a 32-bit Java-style string hash, kept signed as in JavaScript)."""
    if count == 1:
        return name
    value = 0
    data = nsp.encode("utf-16-le", "surrogatepass")  # UTF-16 code units, as JavaScript hashes
    for index in range(0, len(data), 2):
        value = (value * 31 + int.from_bytes(data[index : index + 2], "little")) & 0xFFFFFFFF
    signed = value - (1 << 32) if value >= 1 << 31 else value
    remainder = abs(signed) % count
    return f"{name}-{-remainder if signed < 0 else remainder}"


# -- sessions ---------------------------------------------------------------------------------

_SEALED: Final = "sealed-sha256:"


def seal(credential: str | None, pid: str) -> str | None:
    """What is stored of ``credential`` beside session ``pid``: a digest salted with the pid
    (``None`` stays ``None``: a session opened without credentials)."""
    if credential is None or is_sealed(credential):
        return credential
    digest = hashlib.sha256(f"{pid}\0{credential}".encode("utf-8", "surrogatepass"))
    return _SEALED + digest.hexdigest()


def is_sealed(credential: str) -> bool:
    """Whether ``credential`` is already :func:`seal`'s output."""
    return credential.startswith(_SEALED)


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A session as kept in Redis. ``nsp`` and ``owner`` are ``None`` when a Node server
    stored it."""

    sid: str
    pid: str
    rooms: tuple[str, ...]
    data: Any
    nsp: str | None = None
    owner: str | None = None


def encode_session(session: StoredSession) -> bytes:
    """The value to store. Raises TypeError if ``session.data`` cannot be carried."""
    out: dict[str, Any] = {
        "sid": session.sid,
        "pid": session.pid,
        "rooms": list(session.rooms),
        "data": session.data,
        "jrt": {"nsp": session.nsp, "owner": session.owner},
    }
    return base64.b64encode(pack(out))


def decode_session(raw: bytes, max_bytes: int) -> StoredSession:
    """Parse a stored session; raises :class:`WireError` (also past ``max_bytes``)."""
    if len(raw) > max_bytes:
        raise WireError(f"a session of {len(raw)} bytes (the limit is {max_bytes})")
    try:
        value = unpack(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise WireError(f"invalid base64: {exc}") from None
    if not isinstance(value, dict):
        raise WireError("a session must be a map")
    sid, pid = value.get("sid"), value.get("pid")
    if not isinstance(sid, str) or not isinstance(pid, str):
        raise WireError("a session needs a string sid and pid")
    ours = value.get("jrt")
    nsp = owner = None
    if isinstance(ours, dict):
        nsp, owner = ours.get("nsp"), ours.get("owner")
        if not isinstance(nsp, (str, type(None))) or not isinstance(owner, (str, type(None))):
            raise WireError("a session's nsp and owner must be strings")
    rooms = room_list(value.get("rooms"), "rooms")
    return StoredSession(sid, pid, rooms, value.get("data"), nsp, owner)

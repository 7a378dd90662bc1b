"""Engine.IO v4 packets, WebSocket frames and HTTP long-polling payloads.

A packet is one type digit and its data. On a WebSocket each packet is one frame: a text frame
``"4hello"`` or a binary frame holding a binary MESSAGE's bytes as they are. A polling payload
joins packets with the record separator ``\\x1e``; binary data travels as ``"b"`` + base64.

Every decoder raises :class:`~jupyter_rt.errors.ProtocolError` for malformed input and nothing else.
"""

from __future__ import annotations

import binascii
import json
from base64 import b64decode, b64encode
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum

from jupyter_rt.errors import ProtocolError

PROTOCOL_VERSION = "4"
RECORD_SEPARATOR = "\x1e"


class PacketType(IntEnum):
    """Engine.IO packet types, as sent on the wire (one ASCII digit)."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


_TYPE_BY_CHAR = {str(int(t)): t for t in PacketType}


class ErrorCode(IntEnum):
    """The codes of engine.io's HTTP error bodies (``{"code": 1, "message": "Session ID
    unknown"}``); the official clients show the body to their apps."""

    UNKNOWN_TRANSPORT = 0
    UNKNOWN_SID = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5


ERROR_MESSAGES = {
    ErrorCode.UNKNOWN_TRANSPORT: "Transport unknown",
    ErrorCode.UNKNOWN_SID: "Session ID unknown",
    ErrorCode.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    ErrorCode.BAD_REQUEST: "Bad request",
    ErrorCode.FORBIDDEN: "Forbidden",
    ErrorCode.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}
"""engine.io's message for each :class:`ErrorCode` (an ``allow_request`` refusal brings its own)."""


def error_body(code: ErrorCode, message: str) -> str:
    """The JSON body of an HTTP error answer, compact as engine.io writes it."""
    return json.dumps({"code": int(code), "message": message}, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Packet:
    """One Engine.IO packet. Only a MESSAGE may carry ``bytes``."""

    type: PacketType
    data: str | bytes = ""


CLOSE = Packet(PacketType.CLOSE)
PING = Packet(PacketType.PING)
NOOP = Packet(PacketType.NOOP)
PROBE_PONG = Packet(PacketType.PONG, "probe")


def open_packet(
    sid: str,
    *,
    upgrades: Sequence[str],
    ping_interval: float,
    ping_timeout: float,
    max_payload: int,
) -> Packet:
    """The handshake packet. Times are in seconds and go out as exact integer milliseconds."""
    handshake = {
        "sid": sid,
        "upgrades": list(upgrades),
        "pingInterval": round(ping_interval * 1000),
        "pingTimeout": round(ping_timeout * 1000),
        "maxPayload": max_payload,
    }
    return Packet(PacketType.OPEN, json.dumps(handshake, separators=(",", ":")))


def encode_frame(packet: Packet) -> str | bytes:
    """One WebSocket frame: text for text packets, the raw bytes for a binary MESSAGE."""
    if isinstance(packet.data, bytes):
        return packet.data
    return _CHAR_BY_TYPE[packet.type] + packet.data


_CHAR_BY_TYPE = {t: str(int(t)) for t in PacketType}


def message_frame(data: str | bytes) -> str | bytes:
    """The WebSocket frame of a MESSAGE packet carrying ``data`` (the hot path of every send)."""
    if isinstance(data, str):
        return "4" + data
    return data


def decode_frame(frame: str | bytes) -> Packet:
    """Decode one WebSocket frame. A binary frame is a binary MESSAGE, and so is a text frame
    ``"b"`` + base64 (what clients with ``forceBase64`` send)."""
    if isinstance(frame, bytes):
        return Packet(PacketType.MESSAGE, frame)
    if frame.startswith("b"):
        return _decode_base64_packet(frame)
    if not frame:
        raise ProtocolError("empty Engine.IO packet")
    packet_type = _TYPE_BY_CHAR.get(frame[0])
    if packet_type is None:
        raise ProtocolError(f"unknown Engine.IO packet type {frame[0]!r}")
    return Packet(packet_type, frame[1:])


def utf8(text: str) -> bytes:
    """``text`` as UTF-8 for the wire. A lone surrogate, which UTF-8 cannot carry, becomes
    U+FFFD (as in Node.js) rather than failing the whole frame or polling response."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")


def encode_payload(packets: Iterable[Packet]) -> str:
    """A polling response body: packets joined by ``\\x1e``, binary as ``b`` + base64."""
    return RECORD_SEPARATOR.join(_encode_polling_packet(p) for p in packets)


def _encode_polling_packet(packet: Packet) -> str:
    if isinstance(packet.data, bytes):
        return "b" + b64encode(packet.data).decode("ascii")
    return _CHAR_BY_TYPE[packet.type] + packet.data


def decode_payload(body: bytes, *, max_bytes: int) -> list[Packet]:
    """Decode a polling request body of at most ``max_bytes`` bytes into its packets."""
    return [decode_frame(chunk) for chunk in split_payload(body, max_bytes=max_bytes)]


def split_payload(body: bytes, *, max_bytes: int) -> Iterator[str]:
    """The encoded packets of a polling request body, one at a time (pass each to
    :func:`decode_frame`), so that a caller can stop or pause anywhere in a body of many packets.

    The size and the UTF-8 of the whole body are checked at once: :class:`ProtocolError` is
    raised by this call, not by the iterator.
    """
    if len(body) > max_bytes:
        raise ProtocolError(f"payload of {len(body)} bytes is over the limit of {max_bytes}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("payload is not valid UTF-8") from exc
    return _split(text)


def _split(text: str) -> Iterator[str]:
    find = text.find
    start = 0
    while (end := find(RECORD_SEPARATOR, start)) >= 0:
        yield text[start:end]
        start = end + 1
    yield text[start:]


def _decode_base64_packet(text: str) -> Packet:
    try:
        data = b64decode(text[1:], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("invalid base64 in binary packet") from exc
    return Packet(PacketType.MESSAGE, data)

"""Socket.IO v5 packets: encoding, decoding, binary attachments.

A packet on the wire is one text frame, followed by its binary attachments when it carries
``bytes``::

    <type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]
    452-/chat,7["ev",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]  + 2 binary frames

:func:`encode` turns a :class:`Packet` into frames (``bytes`` anywhere in the data become
placeholders and attachments); a :class:`Decoder` turns frames back into packets, one connection at
a time. Nothing here does I/O or reads a clock. Every malformed or over-limit input raises
:class:`~jupyter_rt.errors.ProtocolError` and nothing else.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from jupyter_rt.errors import ProtocolError
from jupyter_rt.protocol.events import RESERVED_EVENTS, check_event_name

__all__ = [
    "ACK",
    "BINARY_ACK",
    "BINARY_EVENT",
    "CONNECT",
    "CONNECT_ERROR",
    "DEFAULT_MAX_ATTACHMENTS",
    "DEFAULT_MAX_NAME_LENGTH",
    "DISCONNECT",
    "EVENT",
    "RESERVED_EVENTS",
    "Decoder",
    "Packet",
    "PacketType",
    "encode",
    "encode_fields",
]


class PacketType(IntEnum):
    """Socket.IO v5 packet types."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = tuple(PacketType)
"""The types as module globals, for the hot paths: ``PacketType.EVENT`` is looked up through
the enum's metaclass, about 0.1 µs on Python 3.11, several times per packet."""
_EVENTS, _ACKS, _BINARY_TYPES = (EVENT, BINARY_EVENT), (ACK, BINARY_ACK), (BINARY_EVENT, BINARY_ACK)

DEFAULT_MAX_ATTACHMENTS: Final = 10
DEFAULT_MAX_NAME_LENGTH: Final = 1024
_MAX_ID_DIGITS: Final = 15  # stays an exact integer in JavaScript (< 2**53)


@dataclass(frozen=True, slots=True)
class Packet:
    """One Socket.IO packet.

    ``data`` is what the type carries: ``[event, *args]`` for events, ``[*args]`` for acks, an
    optional ``dict`` for CONNECT (the auth object, or ``{"sid": ...}`` in the reply), a ``dict``
    for CONNECT_ERROR, ``None`` for DISCONNECT. ``id`` is the ack id. When encoding, EVENT and ACK
    become BINARY_EVENT and BINARY_ACK by themselves if ``data`` holds ``bytes``; decoded binary
    packets keep their BINARY type, with the ``bytes`` put back in place.
    """

    type: PacketType
    nsp: str = "/"
    data: Any = None
    id: int | None = None


_set_type, _set_nsp, _set_data, _set_id = (
    Packet.__dict__[field].__set__ for field in ("type", "nsp", "data", "id")
)


def _new_packet(ptype: PacketType, nsp: str, data: Any, id: int | None) -> Packet:
    """``Packet(ptype, nsp, data, id)`` for the decoder's hot path: a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``, twice as slow as this."""
    packet = object.__new__(Packet)
    _set_type(packet, ptype)
    _set_nsp(packet, nsp)
    _set_data(packet, data)
    _set_id(packet, id)
    return packet


# -- encoding -------------------------------------------------------------------------------


def _not_serializable(value: object) -> object:
    raise TypeError(f"Object of type {_type_name(value)} is not JSON serializable")


def _make_json_encoder() -> Callable[[Any], str]:
    """Compact JSON, non-ASCII kept, NaN refused; the C encoder built once when available."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    encode_string = json.encoder.encode_basestring
    iterencode = make(None, _not_serializable, encode_string, None, ":", ",", False, False, False)

    def encode_json(value: Any) -> str:
        return _escape_lone_surrogates("".join(iterencode(value, 0)))

    return encode_json


# Python strings hold lone surrogates (from JSON escapes, or "😀"[:1]-style slicing in JS
# clients); UTF-8 cannot carry them, so they travel as JSON escapes, as JSON.stringify sends them.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_lone_surrogates(text: str) -> str:
    if text.isascii() or _LONE_SURROGATE.search(text) is None:
        return text
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_encode_json = _make_json_encoder()
# BINARY_EVENT and BINARY_ACK without bytes go out as EVENT and ACK.
_PREFIX: Final = ("0", "1", "2", "3", "4", "2", "3")


def encode(packet: Packet) -> list[str | bytes]:
    """Encode ``packet``: one text frame, then one ``bytes`` frame per attachment.

    Raises ``TypeError`` or ``ValueError`` (not ``ProtocolError``: it is the caller's data) when
    ``data`` holds something JSON cannot carry (other than ``bytes``), or NaN/infinity.
    """
    return encode_fields(packet.type, packet.nsp, packet.data, packet.id)


def encode_fields(ptype: int, nsp: str, data: Any, id: int | None = None) -> list[str | bytes]:
    """:func:`encode` without building a :class:`Packet` first (for hot paths).

    ``data=None`` leaves the data out (CONNECT without auth, DISCONNECT).
    """
    head = _PREFIX[ptype]
    if nsp != "/":
        head += nsp + ","
    if id is not None:
        head += str(id)
    if data is None:
        return [head]
    try:
        return [head + _encode_json(data)]
    except TypeError:
        pass
    attachments: list[str | bytes] = []

    def placeholder(value: object) -> object:
        if isinstance(value, (bytes, bytearray, memoryview)):
            attachments.append(bytes(value))
            return {"_placeholder": True, "num": len(attachments) - 1}
        return _not_serializable(value)

    text = json.JSONEncoder(
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
        check_circular=False,
        default=placeholder,
    ).encode(data)
    text = _escape_lone_surrogates(text)
    if ptype == PacketType.EVENT or ptype == PacketType.BINARY_EVENT:
        binary = "5"
    elif ptype == PacketType.ACK or ptype == PacketType.BINARY_ACK:
        binary = "6"
    else:
        raise TypeError(f"a {PacketType(ptype).name} packet cannot carry binary data")
    head = f"{binary}{len(attachments)}-{head[1:]}"
    return [head + text, *attachments]


def _type_name(value: object) -> str:
    return type(value).__name__


# -- decoding -------------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")
_TYPES: Final = tuple(PacketType)
_BAD_NAME_CHAR = re.compile(r"[\x00-\x20\x7f,]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


_decoder = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_parse_float)
_JSON_SPACE = " \t\n\r"


def _load_json(text: str, start: int = 0) -> Any:
    """The JSON document that is ``text[start:]`` (read in place, with no copy of the text)."""
    try:
        if text[start] in _JSON_SPACE:
            return _decoder.decode(text[start:])
        data, end = _decoder.raw_decode(text, start)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"invalid JSON in packet: {exc}") from None
    if end != len(text) and text[end:].strip(_JSON_SPACE):
        raise ProtocolError(f"invalid JSON in packet: extra data at {end - start}")
    return data


def _check_payload(ptype: PacketType, data: Any, id: int | None) -> None:
    if ptype in _EVENTS:
        if not isinstance(data, list) or not data:
            raise ProtocolError("an event must be a non-empty array")
        name = data[0]
        if name.__class__ is str and name not in RESERVED_EVENTS:
            return  # the common case, without the call below
        try:
            check_event_name(name)
        except ValueError as exc:  # EventNameTypeError is a ValueError too
            raise ProtocolError(str(exc)) from None
        return
    if ptype in _ACKS:
        if not isinstance(data, list):
            raise ProtocolError("an ack must carry an array")
        if id is None:
            raise ProtocolError("an ack needs an id")
        return
    if id is not None:
        raise ProtocolError(f"a {ptype.name} packet cannot have an ack id")
    if ptype == CONNECT:
        if data is not None and not isinstance(data, dict):
            raise ProtocolError("CONNECT data must be an object")
    elif ptype == DISCONNECT:
        if data is not None:
            raise ProtocolError("DISCONNECT carries no data")
    elif not isinstance(data, (dict, str)):  # CONNECT_ERROR
        raise ProtocolError("CONNECT_ERROR data must be an object or a string")


def decode_text(
    text: str,
    *,
    max_attachments: int = DEFAULT_MAX_ATTACHMENTS,
    max_name_length: int = DEFAULT_MAX_NAME_LENGTH,
) -> tuple[Packet, int]:
    """Decode one text frame into a packet and the number of attachments that must follow.

    Binary placeholders are left as they are; :class:`Decoder` puts the attachments in.
    """
    if not isinstance(text, str):
        raise ProtocolError(f"expected a text frame, got {_type_name(text)}")
    if not text or text[0] not in "0123456":
        raise ProtocolError("unknown packet type")
    ptype = _TYPES[ord(text[0]) - 48]
    end = len(text)
    i = 1
    attachments = 0
    if ptype in _BINARY_TYPES:
        match = _DIGITS.match(text, 1)
        if match is None or match.end() >= end or text[match.end()] != "-":
            raise ProtocolError("a binary packet must declare its attachment count")
        digits = match.group()
        if len(digits) > 6 or int(digits) > max_attachments:
            raise ProtocolError(f"too many attachments (at most {max_attachments})")
        attachments = int(digits)
        i = match.end() + 1
    nsp = "/"
    if i < end and text[i] == "/":
        comma = text.find(",", i)
        if comma == -1:
            comma = end
        nsp = text[i:comma]
        if len(nsp) > max_name_length:
            raise ProtocolError("namespace name too long")
        if _BAD_NAME_CHAR.search(nsp):
            raise ProtocolError("invalid namespace name")
        i = comma + 1
    id = None
    if i < end and "0" <= text[i] <= "9":
        match = _DIGITS.match(text, i)
        assert match is not None
        if len(match.group()) > _MAX_ID_DIGITS:
            raise ProtocolError("ack id too large")
        id = int(match.group())
        i = match.end()
    data = _load_json(text, i) if i < end else None
    _check_payload(ptype, data, id)
    return _new_packet(ptype, nsp, data, id), attachments


def _reconstruct(data: Any, buffers: list[bytes]) -> None:
    """Replace placeholders in ``data`` (a list) by the attachments, in place."""
    stack: list[Any] = [data]
    count = len(buffers)
    while stack:
        node = stack.pop()
        items = enumerate(node) if isinstance(node, list) else node.items()
        for key, value in items:
            if isinstance(value, dict):
                if value.get("_placeholder") is True:
                    num = value.get("num")
                    if type(num) is not int or not 0 <= num < count:
                        raise ProtocolError("invalid attachment placeholder")
                    node[key] = buffers[num]
                else:
                    stack.append(value)
            elif isinstance(value, list):
                stack.append(value)


class Decoder:
    """Decodes one connection's frames into packets.

    Feed every Engine.IO message in order to :meth:`feed`; it returns a packet once one is
    complete (a binary packet completes with its last attachment), else ``None``. After a
    :class:`ProtocolError` the connection must be closed. Call :meth:`reset` on disconnect to drop
    a partial binary packet.
    """

    __slots__ = ("_buffers", "_expected", "_partial", "max_attachments", "max_name_length")

    def __init__(
        self,
        *,
        max_attachments: int = DEFAULT_MAX_ATTACHMENTS,
        max_name_length: int = DEFAULT_MAX_NAME_LENGTH,
    ) -> None:
        self.max_attachments = max_attachments
        self.max_name_length = max_name_length
        self._partial: Packet | None = None
        self._buffers: list[bytes] = []
        self._expected = 0

    @property
    def awaiting_attachments(self) -> int:
        """How many binary frames the current partial packet still needs."""
        return self._expected - len(self._buffers) if self._partial is not None else 0

    def reset(self) -> None:
        """Drop a partially received binary packet."""
        self._partial = None
        self._buffers = []
        self._expected = 0

    def feed(self, frame: str | bytes) -> Packet | None:
        """Take one frame; return the packet it completes, or ``None`` if more frames must come."""
        if isinstance(frame, str):
            if self._partial is not None:
                raise ProtocolError("text frame while binary attachments were expected")
            packet, attachments = decode_text(
                frame,
                max_attachments=self.max_attachments,
                max_name_length=self.max_name_length,
            )
            if attachments == 0:
                if packet.type >= BINARY_EVENT:
                    _reconstruct(packet.data, [])
                return packet
            self._partial = packet
            self._expected = attachments
            return None
        if not isinstance(frame, (bytes, bytearray, memoryview)):
            raise ProtocolError(f"unexpected frame type {_type_name(frame)}")
        partial = self._partial
        if partial is None:
            raise ProtocolError("binary frame without a packet expecting it")
        self._buffers.append(bytes(frame))
        if len(self._buffers) < self._expected:
            return None
        buffers = self._buffers
        self.reset()
        _reconstruct(partial.data, buffers)
        return partial

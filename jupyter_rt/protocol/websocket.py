"""The server side of RFC 6455 WebSocket framing, with no I/O: the handshake key, frames out,
frames in.

The I/O layer feeds received bytes to a :class:`FrameReader` and gets whole messages and control
frames back; it sends what :func:`text_frame`, :func:`binary_frame` and friends return. No
extension is negotiated (permessage-deflate costs memory per connection and opens the door to
compression bombs), so every frame must have its RSV bits clear.

A peer that breaks the framing rules gets a :class:`~jupyter_rt.errors.ProtocolError` whose
``close_code`` says which close code to answer with.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from enum import IntEnum

from jupyter_rt.errors import ProtocolError
from jupyter_rt.protocol.engineio import utf8

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009


class FrameError(ProtocolError):
    """The peer broke the WebSocket framing rules; answer with ``close_code`` and close."""

    def __init__(self, message: str, close_code: CloseCode = CloseCode.PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.close_code = close_code


@dataclass(frozen=True, slots=True)
class Message:
    """A whole data message: ``str`` for text, ``bytes`` for binary."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class Ping:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """The peer started (or answered) the closing handshake."""

    code: int | None
    reason: str


Event = Message | Ping | Close


def accept_key(client_key: str) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key``; raises ProtocolError if malformed."""
    try:
        nonce = base64.b64decode(client_key.strip(), validate=True)
    except ValueError as exc:
        raise ProtocolError("Sec-WebSocket-Key is not base64") from exc
    if len(nonce) != 16:
        raise ProtocolError("Sec-WebSocket-Key is not 16 bytes")
    digest = hashlib.sha1(client_key.strip().encode("ascii") + _GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def frame(opcode: Opcode, payload: bytes) -> bytes:
    """One unmasked, final frame (servers never mask)."""
    length = len(payload)
    first = 0x80 | opcode
    if length < 126:
        header = struct.pack("!BB", first, length)
    elif length < 65536:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + payload


def text_frame(text: str) -> bytes:
    return frame(_TEXT_OPCODE, utf8(text))


def binary_frame(data: bytes) -> bytes:
    return frame(_BINARY_OPCODE, data)


_TEXT_OPCODE, _BINARY_OPCODE = Opcode.TEXT, Opcode.BINARY  # read once, not through the enum


def close_frame(code: int = CloseCode.NORMAL, reason: str = "") -> bytes:
    return frame(Opcode.CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[:123])


def pong_frame(payload: bytes) -> bytes:
    return frame(Opcode.PONG, payload)


def _unmask(mask: bytes, payload: bytes | bytearray | memoryview) -> bytes:
    n = len(payload)
    if not n:
        return b""
    key = int.from_bytes(mask * (n // 4 + 1), "little") & ((1 << (8 * n)) - 1)
    return (int.from_bytes(payload, "little") ^ key).to_bytes(n, "little")


_BINARY = int(Opcode.BINARY)
_DATA_OPCODES = (int(Opcode.TEXT), _BINARY)


class FrameReader:
    """Turns the bytes a client sends into :data:`Event` values.

    ``max_message`` bounds one whole message (after reassembly of fragments) and
    ``max_fragments`` the frames it may come in; more raises a :class:`FrameError` with close
    code 1009 before the data is kept.
    """

    __slots__ = (
        "_buffer",
        "_fragment_bytes",
        "_fragment_opcode",
        "_fragments",
        "max_fragments",
        "max_message",
    )

    def __init__(self, max_message: int, max_fragments: int = 10_000) -> None:
        self.max_message = max_message
        self.max_fragments = max_fragments
        self._buffer = bytearray()
        """The start of a frame not complete yet (empty between whole frames)."""
        self._fragments: list[bytes] = []
        self._fragment_bytes = 0
        self._fragment_opcode: Opcode | None = None

    def feed(self, data: bytes | memoryview, max_events: int | None = None) -> list[Event]:
        """Parse ``data`` (appended to what came before); returns the complete events in it.

        With ``max_events``, parsing stops after that many events and the rest waits in the
        reader: when that many came back, call ``feed(b"", max_events)`` again for more.
        ``data`` is not kept: the caller may reuse its buffer at once.
        """
        buffer = self._buffer
        view: bytes | bytearray | memoryview = data
        if buffer:  # else parsed where it is, and only an incomplete frame is copied
            buffer += data
            view = buffer
        events: list[Event] = []
        offset = 0
        end = len(view)
        limit = end if max_events is None else max_events
        while end - offset >= 2 and len(events) < limit:
            first, second = view[offset], view[offset + 1]
            if first & 0x70:
                raise FrameError("RSV bits set without a negotiated extension")
            if not second & 0x80:
                raise FrameError("client frames must be masked")
            length = second & 0x7F
            header = 2
            if length == 126:
                if end - offset < 4:
                    break
                (length,) = struct.unpack_from("!H", view, offset + 2)
                header = 4
            elif length == 127:
                if end - offset < 10:
                    break
                (length,) = struct.unpack_from("!Q", view, offset + 2)
                header = 10
            opcode = first & 0x0F
            whole = first & 0x80 and opcode in _DATA_OPCODES
            if whole and self._fragment_opcode is None and length <= self.max_message:
                pass  # a whole message, the common case: nothing more to check
            else:
                self._check_frame(opcode, bool(first & 0x80), length)
            start = offset + header + 4
            if end < start + length:
                break
            payload = _unmask(bytes(view[start - 4 : start]), view[start : start + length])
            offset = start + length
            if whole and self._fragment_opcode is None:
                events.append(Message(payload if opcode == _BINARY else _text(payload)))
                continue
            event = self._frame(Opcode(opcode), bool(first & 0x80), payload)
            if event is not None:
                events.append(event)
        if view is buffer:
            del buffer[:offset]
        elif offset < end:
            buffer += view[offset:]
        return events

    def _check_frame(self, opcode: int, final: bool, length: int) -> None:
        if opcode >= 0x8:
            if opcode not in (Opcode.CLOSE, Opcode.PING, Opcode.PONG):
                raise FrameError(f"unknown control opcode {opcode:#x}")
            if not final or length > 125:
                raise FrameError("control frames must be final and at most 125 bytes")
            return
        if opcode not in (Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY):
            raise FrameError(f"unknown data opcode {opcode:#x}")
        if (opcode == Opcode.CONTINUATION) != (self._fragment_opcode is not None):
            raise FrameError("bad fragmentation sequence")
        if len(self._fragments) >= self.max_fragments:
            raise FrameError(
                f"message in over {self.max_fragments} fragments", CloseCode.MESSAGE_TOO_BIG
            )
        if self._fragment_bytes + length > self.max_message:
            raise FrameError(f"message over {self.max_message} bytes", CloseCode.MESSAGE_TOO_BIG)

    def _frame(self, opcode: Opcode, final: bool, payload: bytes) -> Event | None:
        if opcode is Opcode.PING:
            return Ping(payload)
        if opcode is Opcode.PONG:
            return None
        if opcode is Opcode.CLOSE:
            return _close_event(payload)
        if not final:
            if opcode is not Opcode.CONTINUATION:
                self._fragment_opcode = opcode
            self._fragments.append(payload)
            self._fragment_bytes += len(payload)
            return None
        if opcode is Opcode.CONTINUATION:
            assert self._fragment_opcode is not None
            opcode = self._fragment_opcode
            self._fragments.append(payload)
            payload = b"".join(self._fragments)
            self._fragments.clear()
            self._fragment_bytes = 0
            self._fragment_opcode = None
        if opcode is Opcode.BINARY:
            return Message(payload)
        return Message(_text(payload))


def _text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrameError("text message is not valid UTF-8", CloseCode.INVALID_DATA) from exc


def _close_event(payload: bytes) -> Close:
    if not payload:
        return Close(None, "")
    if len(payload) == 1:
        raise FrameError("close frame with a 1-byte payload")
    (code,) = struct.unpack_from("!H", payload)
    if code < 1000 or code in (1004, 1005, 1006, 1015) or 1016 <= code < 3000 or code >= 5000:
        raise FrameError(f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrameError("close reason is not valid UTF-8", CloseCode.INVALID_DATA) from exc
    return Close(code, reason)

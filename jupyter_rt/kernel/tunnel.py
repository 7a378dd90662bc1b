"""The tunnel between a kernel and its Jupyter server: message names and shapes, both sides.

A kernel that hosts namespaces keeps one Socket.IO connection to the Jupyter server's reserved
namespace :data:`NAMESPACE`. Each message is a Socket.IO event whose arguments are plain values;
requests that need an answer use the event's ack. Nothing here does I/O. :func:`parse` checks a
received message against its shape and raises :class:`TunnelError` (a
:class:`~jupyter_rt.errors.ProtocolError`) when it does not fit.

Frames (the Socket.IO packet of a client, or one the kernel sends) travel *packed*: the text
frame as a string, then, if the packet has binary attachments, all of them in one ``bytes``
argument (:func:`pack_frames`), so a message has at most one attachment whatever it carries.

kernel → Jupyter (``K_*``):

=============  =========================================  =====================================
``hello``      ``()``                                     ack: the server's limits
``claim``      ``(name, kernel_id)``                      ack: ``{"ok": true}`` or an error
``release``    ``(name)``                                 ack: ``true``
``send``       ``(esid, *frames)``                        write a packet to that session
``close``      ``(esid, reason, notify)``                 close that session
``add``        ``(name, sid, esid, rooms)``               join (the first makes the socket)
``del``        ``(name, sid, rooms)``                     leave
``del_all``    ``(name, sid)``                            the socket is gone
``bcast``      ``(name, opts, *frames)``                  broadcast a packet
``bcast_ack``  ``(name, req, opts, *frames)``             broadcast asking for acks
``add_sockets`` / ``del_sockets``  ``(name, opts, rooms)``  remote join / leave
``disconnect_sockets``  ``(name, opts, close)``
``fetch``      ``(name, opts)``                           ack: socket details
``all_rooms`` / ``server_count``  ``(name)``              ack: the answer
``ss_emit``    ``(name, *frames)``                        server-side emit (an EVENT packet)
``ss_call``    ``(name, timeout, *frames)``               ack: the other servers' answers
=============  =========================================  =====================================

Both ways, ``batch(entries)``: several messages in one, each entry ``[event, *args]`` (see
:class:`Outbox`); what one loop turn sends crosses the tunnel as one frame.

Jupyter → kernel (``J_*``): ``open(esid, handshake)``, ``msg(esid, *frames)``,
``transport(esid, name)``, ``closed(esid, reason)``, ``joined(name, sid, rooms)``,
``left(name, sid, rooms)``, ``drop(name, sid, close)``, ``ack_count(req, count)``,
``ack(req, args)``, ``ss_emit(name, *frames)``, ``ss_call(name, *frames)`` (ack: the first
handler's answer, packed as an event ``["answer", value]``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final, get_args

from jupyter_rt.engine import Handshake
from jupyter_rt.errors import ProtocolError
from jupyter_rt.protocol.events import Reason
from jupyter_rt.protocol.socketio import Decoder, Packet, encode
from jupyter_rt.server.adapter import BroadcastFlags, BroadcastOptions

__all__ = [
    "BATCH",
    "LOCAL_ACK_BASE",
    "NAMESPACE",
    "REQUESTS",
    "RESERVED",
    "Frames",
    "Outbox",
    "TunnelError",
    "batch_entries",
    "decode_packet",
    "handshake_from_wire",
    "handshake_to_wire",
    "options_from_wire",
    "options_to_wire",
    "pack_frames",
    "packet_frames",
    "parse",
    "reason",
    "unpack_frames",
]

NAMESPACE: Final = "/jupyter/tunnel"
"""The Jupyter server's namespace for kernel tunnels."""

RESERVED: Final = ("/", "/admin", "/jupyter")
"""Names no kernel may host (with every name under ``/admin/`` and ``/jupyter/``)."""

LOCAL_ACK_BASE: Final = 2**40
"""Ack ids the Jupyter side allocates (broadcasts with acks) start here; a kernel's stay below,
so a client's ACK is answered where its id was given."""

MAX_ATTACHMENTS: Final = 10_000
"""Attachments one packed message may carry (the client's own limit was checked before)."""

Frames = list[str | bytes]

BATCH: Final = "batch"
"""Several messages in one (both ways)."""

BATCH_BYTES: Final = 64 * 1024
"""Text (in characters) one batch carries at most; a longer message goes alone."""

# -- kernel → Jupyter ---------------------------------------------------------------------------
K_HELLO: Final = "hello"
K_CLAIM: Final = "claim"
K_RELEASE: Final = "release"
K_SEND: Final = "send"
K_CLOSE: Final = "close"
K_ADD: Final = "add"
K_DEL: Final = "del"
K_DEL_ALL: Final = "del_all"
K_BCAST: Final = "bcast"
K_BCAST_ACK: Final = "bcast_ack"
K_ADD_SOCKETS: Final = "add_sockets"
K_DEL_SOCKETS: Final = "del_sockets"
K_DISCONNECT_SOCKETS: Final = "disconnect_sockets"
K_FETCH: Final = "fetch"
K_ALL_ROOMS: Final = "all_rooms"
K_SERVER_COUNT: Final = "server_count"
K_SS_EMIT: Final = "ss_emit"
K_SS_CALL: Final = "ss_call"

# -- Jupyter → kernel ---------------------------------------------------------------------------
J_OPEN: Final = "open"
J_MSG: Final = "msg"
J_TRANSPORT: Final = "transport"
J_CLOSED: Final = "closed"
J_JOINED: Final = "joined"
J_LEFT: Final = "left"
J_DROP: Final = "drop"
J_ACK_COUNT: Final = "ack_count"
J_ACK: Final = "ack"
J_SS_EMIT: Final = "ss_emit"
J_SS_CALL: Final = "ss_call"


class TunnelError(ProtocolError):
    """A tunnel message that does not have its shape (a bug on the other side)."""


# What each message's arguments are: a type per position; FRAMES takes the rest (packed frames).
FRAMES: Final = "frames"
_ROOMS: Final = "rooms"  # a list of str
_OPTS: Final = "opts"  # BroadcastOptions on the wire
_NUMBER: Final = "number"

REQUESTS: Final = frozenset(
    {K_HELLO, K_CLAIM, K_RELEASE, K_FETCH, K_ALL_ROOMS, K_SERVER_COUNT, K_SS_CALL, J_SS_CALL}
)
"""Messages sent with an ack (answered): never in a batch."""

SHAPES: Final[Mapping[str, tuple[object, ...]]] = {
    BATCH: (list,),
    K_HELLO: (),
    K_CLAIM: (str, str),
    K_RELEASE: (str,),
    K_SEND: (str, FRAMES),
    K_CLOSE: (str, str, bool),
    K_ADD: (str, str, str, _ROOMS),
    K_DEL: (str, str, _ROOMS),
    K_DEL_ALL: (str, str),
    K_BCAST: (str, _OPTS, FRAMES),
    K_BCAST_ACK: (str, int, _OPTS, FRAMES),
    K_ADD_SOCKETS: (str, _OPTS, _ROOMS),
    K_DEL_SOCKETS: (str, _OPTS, _ROOMS),
    K_DISCONNECT_SOCKETS: (str, _OPTS, bool),
    K_FETCH: (str, _OPTS),
    K_ALL_ROOMS: (str,),
    K_SERVER_COUNT: (str,),
    K_SS_EMIT: (str, FRAMES),
    K_SS_CALL: (str, _NUMBER, FRAMES),
}
"""Kernel → Jupyter messages and their arguments."""

KERNEL_SHAPES: Final[Mapping[str, tuple[object, ...]]] = {
    BATCH: (list,),
    J_OPEN: (str, dict),
    J_MSG: (str, FRAMES),
    J_TRANSPORT: (str, str),
    J_CLOSED: (str, str),
    J_JOINED: (str, str, _ROOMS),
    J_LEFT: (str, str, _ROOMS),
    J_DROP: (str, str, bool),
    J_ACK_COUNT: (int, int),
    J_ACK: (int, list),
    J_SS_EMIT: (str, FRAMES),
    J_SS_CALL: (str, FRAMES),
}
"""Jupyter → kernel messages and their arguments."""

_REASONS: Final = frozenset(get_args(Reason))


def parse(shapes: Mapping[str, tuple[object, ...]], event: str, args: Sequence[Any]) -> list[Any]:
    """The arguments of message ``event``, checked against its shape in ``shapes``; the
    packed frames (if the shape has them) come last, unpacked. Raises :class:`TunnelError`."""
    shape = shapes.get(event)
    if shape is None:
        raise TunnelError(f"unknown tunnel message {event!r}")
    out: list[Any] = []
    for index, kind in enumerate(shape):
        if kind == FRAMES:
            out.append(unpack_frames(args[index:]))
            return out
        if index >= len(args):
            raise TunnelError(f"{event}: {len(args)} arguments, {len(shape)} expected")
        out.append(_checked(event, kind, args[index]))
    if len(args) != len(shape):
        raise TunnelError(f"{event}: {len(args)} arguments, {len(shape)} expected")
    return out


def _checked(event: str, kind: object, value: Any) -> Any:
    if kind == _ROOMS:
        if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
            raise TunnelError(f"{event}: rooms must be a list of strings")
        return value
    if kind == _OPTS:
        return options_from_wire(value)
    if kind == _NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise TunnelError(f"{event}: expected a number of seconds")
        return float(value)
    assert isinstance(kind, type)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TunnelError(f"{event}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def batch_entries(entries: list[Any]) -> list[tuple[str, list[Any]]]:
    """The ``(event, args)`` of a batch's entries; raises :class:`TunnelError`."""
    out = []
    for entry in entries:
        if not isinstance(entry, list) or not entry or not isinstance(entry[0], str):
            raise TunnelError("a batch entry must be [event, *args]")
        if entry[0] == BATCH:
            raise TunnelError("a batch in a batch")
        out.append((entry[0], entry[1:]))
    return out


class Outbox:
    """Messages waiting to be sent, in order, so that those of one loop turn go as one.

    :meth:`add` a message (it returns ``True`` when the outbox was empty: schedule a flush);
    :meth:`take` the messages to send now: consecutive small text messages grouped into
    ``batch`` messages, and each message with ``bytes`` (or over :data:`BATCH_BYTES`) alone, so
    a message carries at most one attachment and stays small.
    """

    __slots__ = ("_entries", "max_chars")

    def __init__(self, max_chars: int = BATCH_BYTES) -> None:
        self._entries: list[list[Any]] = []
        self.max_chars = max_chars

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, event: str, args: Sequence[Any]) -> bool:
        """Queue ``event(*args)``; ``True`` if it is the first since the last :meth:`take`."""
        self._entries.append([event, *args])
        return len(self._entries) == 1

    def take(self) -> list[tuple[str, list[Any]]]:
        """Everything queued, as the messages to send (in order); the outbox is then empty."""
        entries, self._entries = self._entries, []
        if len(entries) == 1:
            return [(entries[0][0], entries[0][1:])]
        out: list[tuple[str, list[Any]]] = []
        group: list[list[Any]] = []
        size = 0

        def close_group() -> None:
            if len(group) == 1:
                out.append((group[0][0], group[0][1:]))
            elif group:
                out.append((BATCH, [list(group)]))
            group.clear()

        for entry in entries:
            chars = _chars(entry)
            if chars < 0 or chars > self.max_chars:
                close_group()
                size = 0
                out.append((entry[0], entry[1:]))
                continue
            if size + chars > self.max_chars:
                close_group()
                size = 0
            group.append(entry)
            size += chars
        close_group()
        return out


def _chars(value: Any) -> int:
    """About how many characters ``value`` takes in JSON; ``-1`` if it holds ``bytes``."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, (bytes, bytearray, memoryview)):
        return -1
    if isinstance(value, (list, tuple)):
        items: Any = value
    elif isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    else:
        return 24
    total = 2
    for item in items:
        size = _chars(item)
        if size < 0:
            return -1
        total += size + 1
    return total


def reason(value: str) -> Reason:
    """``value`` as a disconnect reason; an unknown one is ``"forced close"``."""
    return value if value in _REASONS else "forced close"  # type: ignore[return-value]


# -- frames -------------------------------------------------------------------------------------


def pack_frames(frames: Sequence[str | bytes]) -> Frames:
    """A packet's frames as message arguments: the text, then the attachments in one ``bytes``
    (each preceded by its length, 4 bytes big-endian)."""
    if len(frames) == 1:
        return [frames[0]]
    parts = bytearray()
    for frame in frames[1:]:
        assert isinstance(frame, bytes), "attachments are bytes"
        parts += len(frame).to_bytes(4, "big")
        parts += frame
    return [frames[0], bytes(parts)]


def unpack_frames(args: Sequence[Any]) -> Frames:
    """The frames :func:`pack_frames` packed; raises :class:`TunnelError`."""
    if not args or not isinstance(args[0], str):
        raise TunnelError("packed frames must start with a text frame")
    if len(args) == 1:
        return [args[0]]
    if len(args) != 2 or not isinstance(args[1], bytes):
        raise TunnelError("packed frames: one text frame, then one bytes argument")
    blob = args[1]
    out: Frames = [args[0]]
    view = memoryview(blob)
    offset = 0
    while offset < len(blob):
        if offset + 4 > len(blob) or len(out) > MAX_ATTACHMENTS:
            raise TunnelError("packed frames: truncated or too many attachments")
        size = int.from_bytes(view[offset : offset + 4], "big")
        offset += 4
        if offset + size > len(blob):
            raise TunnelError("packed frames: an attachment runs past the end")
        out.append(bytes(view[offset : offset + size]))
        offset += size
    return out


def packet_frames(packet: Packet) -> Frames:
    """``packet`` encoded and packed (raises ``TypeError``/``ValueError`` for data JSON cannot
    carry, as :func:`~jupyter_rt.protocol.socketio.encode` does)."""
    return pack_frames(encode(packet))


def decode_packet(frames: Sequence[str | bytes], max_name_length: int) -> Packet:
    """The one packet ``frames`` encode; raises :class:`TunnelError` otherwise."""
    decoder = Decoder(max_attachments=MAX_ATTACHMENTS, max_name_length=max_name_length)
    packet = None
    try:
        for index, frame in enumerate(frames):
            packet = decoder.feed(frame)
            if packet is not None and index != len(frames) - 1:
                raise TunnelError("frames hold more than one packet")
    except TunnelError:
        raise
    except ProtocolError as exc:
        raise TunnelError(f"a tunnelled packet is malformed: {exc}") from None
    if packet is None:
        raise TunnelError("frames end before their packet")
    return packet


# -- broadcast options --------------------------------------------------------------------------


def options_to_wire(opts: BroadcastOptions) -> dict[str, Any]:
    """``opts`` as a message argument."""
    flags = opts.flags
    return {
        "rooms": sorted(opts.rooms),
        "except": sorted(opts.except_),
        "volatile": flags.volatile,
        "local": flags.local,
        "timeout": flags.timeout,
    }


def options_from_wire(value: Any) -> BroadcastOptions:
    """What :func:`options_to_wire` made; raises :class:`TunnelError`."""
    if not isinstance(value, dict):
        raise TunnelError("broadcast options must be an object")
    rooms, except_ = value.get("rooms", []), value.get("except", [])
    for names in (rooms, except_):
        if not isinstance(names, list) or not all(isinstance(r, str) for r in names):
            raise TunnelError("broadcast options: rooms must be lists of strings")
    timeout = value.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
    ):
        raise TunnelError("broadcast options: timeout must be a number")
    flags = BroadcastFlags(
        volatile=value.get("volatile") is True,
        local=value.get("local") is True,
        timeout=None if timeout is None else float(timeout),
    )
    return BroadcastOptions(frozenset(rooms), frozenset(except_), flags)


# -- handshakes ---------------------------------------------------------------------------------


def handshake_to_wire(handshake: Any, transport: str) -> dict[str, Any]:
    """What the kernel needs of a session's handshake (an engine ``Handshake`` or any
    :class:`~jupyter_rt.server.ConnectionHandshake`), with its transport. Credentials pass
    through: the kernel holds the server's own; never log this."""
    user = handshake.user
    return {
        "headers": dict(handshake.headers),
        "query": dict(handshake.query),
        "address": handshake.remote_address,
        "url": handshake.url,
        "user": dict(user) if user is not None else None,
        "issued": handshake.issued,
        "transport": transport,
    }


def handshake_from_wire(value: Mapping[str, Any]) -> tuple[Handshake, str]:
    """The engine handshake and transport :func:`handshake_to_wire` sent; raises
    :class:`TunnelError`."""

    def strings(key: str) -> dict[str, str]:
        items = value.get(key)
        if not isinstance(items, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in items.items()
        ):
            raise TunnelError(f"handshake: {key} must map strings to strings")
        return items

    user = value.get("user")
    issued = value.get("issued")
    address, url, transport = value.get("address"), value.get("url"), value.get("transport")
    if user is not None and not isinstance(user, dict):
        raise TunnelError("handshake: user must be an object")
    if not isinstance(issued, (int, float)) or isinstance(issued, bool):
        raise TunnelError("handshake: issued must be a number")
    if not isinstance(address, str) or not isinstance(url, str):
        raise TunnelError("handshake: address and url must be strings")
    if transport not in ("polling", "websocket"):
        raise TunnelError("handshake: unknown transport")
    handshake = Handshake(
        headers=strings("headers"),
        query=strings("query"),
        remote_address=address,
        url=url,
        user=user,
        issued=float(issued),
    )
    return handshake, transport

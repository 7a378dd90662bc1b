"""``/hub``: rooms driven by clients, so widgets and scripts need no server code of their own.

Every event is acknowledged with ``{"ok": true, …}`` or ``{"ok": false, "error": why}``:

- ``join room`` → ``{"ok": true, "room": room}``;
- ``leave room`` → ``{"ok": true, "room": room}``;
- ``publish room event *args`` → everyone else in ``room`` gets ``event(*args)``;
  ``{"ok": true, "room": room}``. Pass ``{"room": room, "self": true}`` as the first argument
  to include the sender;
- ``members room`` → ``{"ok": true, "room": room, "members": [{"id": …, "name": …}, …]}``;
- ``rooms`` → ``{"ok": true, "rooms": {namespace: {room: member count}}}`` for every namespace
  of the server (sockets' own id rooms left out).

Room and event names are 1 to 64 printable characters; event names must not be reserved, and a
socket id is not a room a client may join or leave. A server limit hit (a ``join`` past
``max_rooms_per_socket``: :class:`~jupyter_rt.errors.LimitExceeded`) is left to the server, which
answers ``{"ok": false, "error": why}`` too and logs it at most once a minute.
"""

from __future__ import annotations

from typing import Any

from jupyter_rt.protocol.events import check_event_name
from jupyter_rt.server import Server, Socket

NAMESPACE = "/hub"
MAX_NAME = 64

Reply = dict[str, Any]


class BadRequest(ValueError):
    """A hub request with a bad argument; its message goes back to the client."""


def setup(io: Server) -> None:
    """Serve client-driven rooms on ``/hub``."""
    hub = io.of(NAMESPACE)

    @hub.on("connection")
    def on_connection(socket: Socket) -> None:
        @socket.on("join")
        def join(room: object = None) -> Reply:
            return _answer(lambda: _join(socket, room))

        @socket.on("leave")
        def leave(room: object = None) -> Reply:
            return _answer(lambda: _leave(socket, room))

        @socket.on("publish")
        async def publish(target: object = None, event: object = None, *args: object) -> Reply:
            try:
                room, include_self = _target(target)
                name = _event_name(event)
            except BadRequest as exc:
                return {"ok": False, "error": str(exc)}
            sender = hub if include_self else socket.broadcast
            await sender.to(room).emit(name, *args)
            return {"ok": True, "room": room}

        @socket.on("members")
        async def members(room: object = None) -> Reply:
            try:
                name = _room_name(room)
            except BadRequest as exc:
                return {"ok": False, "error": str(exc)}
            sockets = await hub.in_(name).fetch_sockets()
            return {
                "ok": True,
                "room": name,
                "members": [{"id": s.id, "name": _display_name(s)} for s in sockets],
            }

        @socket.on("rooms")
        def rooms() -> Reply:
            return {"ok": True, "rooms": room_counts(io)}


def room_counts(io: Server) -> dict[str, dict[str, int]]:
    """Member counts of every named room, by namespace (the sockets' own rooms left out)."""
    counts: dict[str, dict[str, int]] = {}
    for name, namespace in io.namespaces.items():
        sids = set(namespace.sockets)
        counts[name] = {
            room: len(members)
            for room, members in namespace.adapter.rooms.items()
            if room not in sids
        }
    return counts


def _answer(action: Any) -> Reply:
    try:
        room: str = action()
    except BadRequest as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "room": room}


def _join(socket: Socket, room: object) -> str:
    name = _own_room_name(socket, room)
    socket.join(name)
    return name


def _leave(socket: Socket, room: object) -> str:
    name = _own_room_name(socket, room)
    socket.leave(name)
    return name


def _own_room_name(socket: Socket, room: object) -> str:
    """A room a client may join or leave: not a socket's own room (its id), which would let it
    receive what is sent to another socket, or stop receiving what is sent to itself."""
    name = _room_name(room)
    if name in socket.nsp.sockets:
        raise BadRequest("a room name cannot be a socket id")
    return name


def _target(target: object) -> tuple[str, bool]:
    if isinstance(target, dict):
        return _room_name(target.get("room")), bool(target.get("self", False))
    return _room_name(target), False


def _room_name(room: object) -> str:
    if not isinstance(room, str) or not 1 <= len(room) <= MAX_NAME or not room.isprintable():
        raise BadRequest(f"a room name is a string of 1 to {MAX_NAME} printable characters")
    return room


def _event_name(event: object) -> str:
    if not isinstance(event, str) or not 1 <= len(event) <= MAX_NAME or not event.isprintable():
        raise BadRequest(f"an event name is a string of 1 to {MAX_NAME} printable characters")
    try:
        return check_event_name(event)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def _display_name(socket: Any) -> str:
    user = socket.handshake.user or {}
    return str(user.get("display_name") or user.get("username") or socket.id)

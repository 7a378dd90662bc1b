"""``/chat``: the multi-room chat, with nicknames, rooms and announcements.

A new socket gets a nickname (the Jupyter user's display name when nobody else has it, else
``Guest1``, ``Guest2``…) and joins ``Lobby``. Events, client → server:

- ``nameAttempt name`` → ``nameResult {"success": true, "name": name}`` or
  ``{"success": false, "message": why}`` (names starting with ``Guest`` or in use are refused);
- ``join {"newRoom": room}`` → leaves the current room, ``joinResult {"room": room}``; a room
  name over 40 characters is refused with the ack ``{"ok": false, "error": why}``;
- ``message {"room": room, "text": text}`` → everyone else in that room gets
  ``message {"text": "<nick>: <text>"}``;
- ``rooms`` → acknowledged with the sorted list of rooms that have people in them.

Joins, leaves and nickname changes are announced to the room as ``message {"text": …}``.

A socket's nickname and room are also in ``socket.data`` (``"nickname"``, ``"room"``). With
connection state recovery on, a socket that lost its connection keeps them while it may come
back: a recovered socket is not greeted, named or announced again (it gets the lines it missed
instead); one that has not come back within ``max_disconnection_duration`` is announced as gone
then.
"""

from __future__ import annotations

import itertools

from jupyter_rt.clock import Timer
from jupyter_rt.errors import LimitExceeded
from jupyter_rt.server import Server, Socket
from jupyter_rt.server.recovery import RECOVERABLE_REASONS

NAMESPACE = "/chat"
LOBBY = "Lobby"
MAX_NAME = 40
MAX_TEXT = 4000
AWAY_GRACE = 1.0
"""Seconds past ``max_disconnection_duration`` before an away socket is announced as gone (its
session is surely expired by then, so it cannot come back to a chat that forgot it)."""


def setup(io: Server) -> None:
    """Serve the chat demo on ``/chat``."""
    chat = io.of(NAMESPACE)
    nicknames: dict[str, str] = {}  # socket id -> nickname
    current_room: dict[str, str] = {}
    guest_numbers = itertools.count(1)
    departures: dict[str, Timer] = {}  # socket id -> its announced departure, while it is away

    def pick_nickname(socket: Socket) -> str:
        user = socket.handshake.user or {}
        display_name = str(user.get("display_name") or "")[:MAX_NAME]
        if (
            display_name
            and not display_name.startswith("Guest")
            and (display_name not in nicknames.values())
        ):
            return display_name
        return f"Guest{next(guest_numbers)}"

    def rename(socket: Socket, name: str) -> None:
        nicknames[socket.id] = socket.data["nickname"] = name

    async def enter(socket: Socket, room: str) -> None:
        socket.join(room)
        current_room[socket.id] = socket.data["room"] = room
        await socket.emit("joinResult", {"room": room})
        await socket.broadcast.to(room).emit(
            "message", {"text": f"{nicknames[socket.id]} has joined {room}."}
        )

    async def leave(socket: Socket) -> None:
        room = current_room.pop(socket.id, None)
        if room is not None:
            socket.leave(room)
            await socket.broadcast.to(room).emit(
                "message", {"text": f"{nicknames[socket.id]} has left {room}."}
            )

    async def depart(socket: Socket) -> None:
        departures.pop(socket.id, None)
        await leave(socket)
        nicknames.pop(socket.id, None)

    def resume(socket: Socket) -> bool:
        """Take a recovered socket back as it was (``socket.data``); ``False`` if it is new to
        this chat (not recovered, or its state was lost: it leaves its old rooms)."""
        departure = departures.pop(socket.id, None)
        if departure is not None:
            departure.cancel()
        if not socket.recovered:
            return False
        nickname, room = socket.data.get("nickname"), socket.data.get("room")
        if isinstance(nickname, str) and isinstance(room, str) and room in socket.rooms:
            nicknames[socket.id], current_room[socket.id] = nickname, room
            return True
        socket.leave(socket.rooms - {socket.id})
        return False

    @chat.on("connection")
    async def on_connection(socket: Socket) -> None:
        resumed = resume(socket)
        if not resumed:
            rename(socket, pick_nickname(socket))

        @socket.on("nameAttempt")
        async def on_name_attempt(name: object) -> None:
            if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
                result = {"success": False, "message": f"Names are 1 to {MAX_NAME} characters."}
            elif name.startswith("Guest"):
                result = {"success": False, "message": 'Names cannot begin with "Guest".'}
            elif name in nicknames.values():
                result = {"success": False, "message": "That name is already in use."}
            else:
                old = nicknames[socket.id]
                rename(socket, name)
                result = {"success": True, "name": name}
                room = current_room.get(socket.id)
                if room is not None:
                    await socket.broadcast.to(room).emit(
                        "message", {"text": f"{old} is now known as {name}."}
                    )
            await socket.emit("nameResult", result)

        @socket.on("join")
        async def on_join(request: object) -> None:
            room = request.get("newRoom") if isinstance(request, dict) else None
            if not isinstance(room, str) or not room.strip():
                return
            if len(room) > MAX_NAME:  # the server acks {"ok": false, "error": …}, logs it rarely
                raise LimitExceeded(f"room names are at most {MAX_NAME} characters", "chat room")
            await leave(socket)
            await enter(socket, room)

        @socket.on("message")
        async def on_message(message: object) -> None:
            if not isinstance(message, dict):
                return
            room, text = message.get("room"), message.get("text")
            if not isinstance(room, str) or not isinstance(text, str) or room not in socket.rooms:
                return
            await socket.broadcast.to(room).emit(
                "message", {"text": f"{nicknames[socket.id]}: {text[:MAX_TEXT]}"}
            )

        @socket.on("rooms")
        def on_rooms() -> list[str]:
            return sorted(set(current_room.values()))

        @socket.on("disconnect")
        async def on_disconnect(reason: str) -> None:
            recovery = io.recovery
            if (
                recovery is None
                or socket.pid is None
                or not chat.adapter.recovers_sessions  # it will come back as a new socket
                or reason not in RECOVERABLE_REASONS
            ):
                await depart(socket)
                return
            # It may come back with its name and room: announce it gone only if it does not.
            when = io.clock.now() + recovery.max_disconnection_duration + AWAY_GRACE
            departures[socket.id] = io.clock.call_at(when, gone)

        def gone() -> None:
            io.tasks.spawn(depart(socket))

        if not resumed:
            await socket.emit("nameResult", {"success": True, "name": nicknames[socket.id]})
            await enter(socket, LOBBY)

"""``RealtimeClient``: a Socket.IO client in the page, driven from the kernel.

By default it connects to ``/hub``, the built-in app whose acknowledged events give any
client rooms with no server code: ``join(room)``, ``leave(room)``,
``publish(room, event, *args)``, ``members(room)`` and ``rooms()``. Its view is a status
line, the joined rooms and a compact live log of what went in and out (capped at
``log_limit`` lines).

::

    client = RealtimeClient(rooms=["demo"])

    @client.on("greeting")
    def greeted(who):
        print("hello from", who)

    client.publish("demo", "greeting", "Ada")
    client
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from traitlets import List, Unicode

from ..errors import RealtimeError
from ..protocol.events import check_event_name
from ._base import Handler, SocketWidget

__all__ = ["RealtimeClient", "hub_error"]


def hub_error(args: Iterable[object]) -> str | None:
    """The error in a ``/hub`` ack, or ``None`` when it is a success.

    An ack is a failure when its first value is an object with a truthy ``error`` (a
    string, or an object with a ``message``) or with ``ok`` false.
    """
    first = next(iter(args), None)
    if not isinstance(first, dict):
        return None
    error = first.get("error")
    if error:
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
        return str(error)
    if first.get("ok") is False:
        return str(first.get("message") or first.get("reason") or "refused")
    return None


class RealtimeClient(SocketWidget):
    """A live Socket.IO client on ``namespace`` (``/hub`` by default).

    ``rooms`` lists the rooms this client is in: the browser joins them after every
    (re)connect, and :meth:`join` / :meth:`leave` keep it up to date.
    """

    _model_name = Unicode("RealtimeClientModel").tag(sync=True)
    _view_name = Unicode("RealtimeClientView").tag(sync=True)

    namespace = Unicode("/hub", help="The namespace to connect to.").tag(sync=True)
    rooms = List(Unicode(), help="The rooms this client is in (joined on every connect).").tag(
        sync=True
    )

    def __init__(
        self,
        namespace: str = "/hub",
        rooms: Iterable[str] = (),
        transports: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            namespace=namespace,
            rooms=list(dict.fromkeys(rooms)),
            transports=None if transports is None else list(transports),
            **kwargs,
        )

    # ---------------------------------------------------------------- /hub helpers

    def join(
        self,
        room: str,
        callback: Handler | None = None,
        *,
        on_error: Callable[[RealtimeError], object] | None = None,
    ) -> None:
        """Join ``room`` through the hub; ``callback(*ack)`` gets the hub's answer."""

        def joined(*args: object) -> None:
            if hub_error(args) is None and room not in self.rooms:
                self.rooms = [*self.rooms, room]
            if callback is not None:
                callback(*args)

        self.emit("join", room, callback=joined, on_error=on_error)

    def leave(
        self,
        room: str,
        callback: Handler | None = None,
        *,
        on_error: Callable[[RealtimeError], object] | None = None,
    ) -> None:
        """Leave ``room`` through the hub; ``callback(*ack)`` gets the hub's answer."""

        def left(*args: object) -> None:
            if hub_error(args) is None:
                self.rooms = [r for r in self.rooms if r != room]
            if callback is not None:
                callback(*args)

        self.emit("leave", room, callback=left, on_error=on_error)

    def publish(
        self,
        room: str,
        event: str,
        *args: object,
        include_self: bool = False,
        callback: Handler | None = None,
        on_error: Callable[[RealtimeError], object] | None = None,
    ) -> None:
        """Have the hub emit ``event`` with ``args`` to everyone else in ``room``.

        With ``include_self`` this client gets it too. ``callback(*ack)`` gets the hub's
        answer (``{"ok": True, "room": room}`` or ``{"ok": False, "error": why}``).
        """
        check_event_name(event, allow_empty=False, allow_reserved=True)  # the hub checks the rest
        target: object = {"room": room, "self": True} if include_self else room
        self.emit("publish", target, event, *args, callback=callback or _ignore, on_error=on_error)

    def members(
        self,
        room: str,
        callback: Handler,
        *,
        on_error: Callable[[RealtimeError], object] | None = None,
    ) -> None:
        """Ask the hub who is in ``room``; ``callback(*ack)`` gets the answer."""
        self.emit("members", room, callback=callback, on_error=on_error)

    def list_rooms(
        self,
        callback: Handler,
        *,
        on_error: Callable[[RealtimeError], object] | None = None,
    ) -> None:
        """Ask the hub for its rooms (``rooms()``); ``callback(*ack)`` gets the answer."""
        self.emit("rooms", callback=callback, on_error=on_error)


def _ignore(*_args: object) -> None:
    """An ack callback that only asks for the ack."""

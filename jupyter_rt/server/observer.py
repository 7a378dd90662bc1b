"""Watching a server from outside: :class:`Observer` hooks, told what the server does.

``io.add_observer(observer)`` (an :class:`Observer` subclass overriding the hooks it needs)
tells it about Engine.IO sessions, sockets connecting (or refused) and disconnecting, room joins
and leaves, events received and sent, broadcasts, acks that timed out and how long handlers
ran, in every namespace. The Admin UI (:mod:`jupyter_rt.admin`) is one; the Prometheus metrics
(:mod:`jupyter_rt.metrics`) another. A server nobody observes pays one ``None`` check per
operation.

Hooks run synchronously, on the event loop, in the middle of the server's work:

- keep them short (count, copy, queue);
- never act on the server from inside one (emit, join, disconnect...): queue that work and do it
  later (``loop.call_soon``), when the server's state is whole again;
- what a hook raises is logged (once a minute per hook) and dropped; the server goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_rt._throttle import LogThrottle
    from jupyter_rt.protocol.events import Reason
    from jupyter_rt.server.connection import Connection
    from jupyter_rt.server.namespace import Namespace
    from jupyter_rt.server.socket import Socket

__all__ = ["Observer", "Observers"]


class Observer:
    """What a server tells its observers; every hook does nothing here. Subclass it.

    ``data`` in the event hooks is ``[event, *args]`` as the application sees it (``bytes`` for
    binary attachments); treat it as read-only.
    """

    def session_opened(self, session: Connection) -> None:
        """A client opened an Engine.IO session (before any namespace CONNECT)."""

    def session_closed(self, session: Connection, reason: Reason) -> None:
        """The session is closed, for ``reason``; its sockets were told first."""

    def message_received(self, session: Connection, data: str | bytes) -> None:
        """The session sent an Engine.IO message (a Socket.IO packet or one of its binary
        attachments); called before the server reads it."""

    def socket_connected(self, socket: Socket) -> None:
        """``socket`` is connected (its CONNECT answered), in its own room, before its
        connection handlers run."""

    def socket_disconnected(self, socket: Socket, reason: Reason) -> None:
        """``socket`` disconnected, after it left its rooms (:meth:`room_left` for each)."""

    def room_joined(self, nsp: Namespace, room: str, sid: str) -> None:
        """Socket ``sid`` of ``nsp`` joined ``room`` (its own room too, named ``sid``)."""

    def room_left(self, nsp: Namespace, room: str, sid: str) -> None:
        """Socket ``sid`` of ``nsp`` left ``room``."""

    def event_received(self, socket: Socket, data: list[Any]) -> None:
        """``socket`` sent the event ``data``; called as it is dispatched to the handlers."""

    def event_sent(
        self,
        nsp: Namespace,
        data: list[Any],
        frames: Sequence[str | bytes],
        recipients: Sequence[Socket],
    ) -> None:
        """The event ``data``, encoded as ``frames`` (one text frame, then binary attachments),
        was sent to ``recipients``, local sockets of ``nsp`` (one for an emit, the local members
        for a broadcast; volatile ones may have dropped it). The other servers of a cluster
        tell their own observers."""

    def broadcast_sent(
        self,
        nsp: Namespace,
        data: list[Any],
        frames: Sequence[str | bytes],
        recipients: Sequence[Socket],
    ) -> None:
        """A broadcast (``io.to(room).emit``..., or one from another server of the cluster)
        reached ``recipients``, the local sockets it selected (never empty). The event was
        sent: by default this calls :meth:`event_sent`, which is not called otherwise."""
        self.event_sent(nsp, data, frames, recipients)

    def connect_refused(self, nsp: Namespace | None, reason: str) -> None:
        """A client's CONNECT was refused: ``reason`` is ``"invalid_namespace"`` (``nsp`` is
        then ``None``: the name was the client's), ``"too_many_namespaces"`` (``nsp`` ``None``
        too), ``"refused"`` (a middleware raised ``ConnectionRefused``) or
        ``"middleware_error"`` (a middleware raised something else)."""

    def ack_timed_out(self, nsp: Namespace) -> None:
        """A ``call`` in ``nsp`` (to a socket, or a broadcast's) got no (or not every) ack
        within its timeout; it raises :class:`~jupyter_rt.errors.AckTimeout`."""

    def handler_finished(self, nsp: str, what: str, seconds: float) -> None:
        """App code of the namespace named ``nsp`` ran ``seconds``: an async one from its call
        to its end (its awaits included). ``what`` says which code: ``"handler"`` (an event
        handler), ``"catch-all handler"``, ``"ack callback"``, ``"disconnect handler"``...
        Called for the code the server calls per event, not for middleware or connection
        handlers."""


class Observers(Observer):
    """The observers of one server, called in turn; what one raises is logged and dropped.

    The server keeps one while somebody observes (``Server.observer``), ``None`` otherwise.
    Each hook is written out rather than dispatched by name: some run once per message.
    """

    __slots__ = ("_all", "_throttle")

    def __init__(self, observers: Sequence[Observer], throttle: LogThrottle) -> None:
        self._all = tuple(observers)
        self._throttle = throttle

    @property
    def members(self) -> tuple[Observer, ...]:
        """The observers, in the order they are called."""
        return self._all

    def _failed(self, observer: Observer, hook: str) -> None:
        name = f"{type(observer).__name__}.{hook}"
        message = "Observer hook %s raised; ignored"
        self._throttle.log(logging.ERROR, ("observer", name), message, name, exc_info=True)

    def session_opened(self, session: Connection) -> None:
        for observer in self._all:
            try:
                observer.session_opened(session)
            except Exception:
                self._failed(observer, "session_opened")

    def session_closed(self, session: Connection, reason: Reason) -> None:
        for observer in self._all:
            try:
                observer.session_closed(session, reason)
            except Exception:
                self._failed(observer, "session_closed")

    def message_received(self, session: Connection, data: str | bytes) -> None:
        for observer in self._all:
            try:
                observer.message_received(session, data)
            except Exception:
                self._failed(observer, "message_received")

    def socket_connected(self, socket: Socket) -> None:
        for observer in self._all:
            try:
                observer.socket_connected(socket)
            except Exception:
                self._failed(observer, "socket_connected")

    def socket_disconnected(self, socket: Socket, reason: Reason) -> None:
        for observer in self._all:
            try:
                observer.socket_disconnected(socket, reason)
            except Exception:
                self._failed(observer, "socket_disconnected")

    def room_joined(self, nsp: Namespace, room: str, sid: str) -> None:
        for observer in self._all:
            try:
                observer.room_joined(nsp, room, sid)
            except Exception:
                self._failed(observer, "room_joined")

    def room_left(self, nsp: Namespace, room: str, sid: str) -> None:
        for observer in self._all:
            try:
                observer.room_left(nsp, room, sid)
            except Exception:
                self._failed(observer, "room_left")

    def event_received(self, socket: Socket, data: list[Any]) -> None:
        for observer in self._all:
            try:
                observer.event_received(socket, data)
            except Exception:
                self._failed(observer, "event_received")

    def event_sent(
        self,
        nsp: Namespace,
        data: list[Any],
        frames: Sequence[str | bytes],
        recipients: Sequence[Socket],
    ) -> None:
        for observer in self._all:
            try:
                observer.event_sent(nsp, data, frames, recipients)
            except Exception:
                self._failed(observer, "event_sent")

    def broadcast_sent(
        self,
        nsp: Namespace,
        data: list[Any],
        frames: Sequence[str | bytes],
        recipients: Sequence[Socket],
    ) -> None:
        for observer in self._all:
            try:
                observer.broadcast_sent(nsp, data, frames, recipients)
            except Exception:
                self._failed(observer, "broadcast_sent")

    def connect_refused(self, nsp: Namespace | None, reason: str) -> None:
        for observer in self._all:
            try:
                observer.connect_refused(nsp, reason)
            except Exception:
                self._failed(observer, "connect_refused")

    def ack_timed_out(self, nsp: Namespace) -> None:
        for observer in self._all:
            try:
                observer.ack_timed_out(nsp)
            except Exception:
                self._failed(observer, "ack_timed_out")

    def handler_finished(self, nsp: str, what: str, seconds: float) -> None:
        for observer in self._all:
            try:
                observer.handler_finished(nsp, what, seconds)
            except Exception:
                self._failed(observer, "handler_finished")

"""The monitor namespace: a live view of one server for the JupyterLab "Realtime" panel."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from jupyter_rt.errors import ConnectionRefused
from jupyter_rt.server import Middleware, Namespace, Observer, Server, Socket

if TYPE_CHECKING:
    from jupyter_rt.clock import Timer
    from jupyter_rt.protocol.events import Reason

__all__ = ["MONITOR_NAMESPACE", "Monitor", "watch"]

log = logging.getLogger("jupyter_rt.monitor")

MONITOR_NAMESPACE = "/jupyter/monitor"
MAX_NAMESPACES = 100
"""Namespaces described in a view; the others are only counted (``namespaceCount``)."""
MAX_LISTED = 100
"""Sockets, and rooms, listed per namespace; the others are only counted."""
MAX_NAME = 64
"""Characters kept of a user's name."""
HISTORY = 600
"""Samples kept for the chart (five minutes of updates at two a second)."""


def watch(
    io: Server,
    *,
    auth: Middleware | Literal[False],
    namespace: str = MONITOR_NAMESPACE,
    interval: float = 0.5,
) -> Monitor:
    """Serve a live view of ``io`` on ``namespace`` (``/jupyter/monitor``).

    ``auth`` is the namespace's middleware deciding who may watch (raise
    :class:`~jupyter_rt.errors.ConnectionRefused` to refuse; the Jupyter extension admits the
    server's own credentials only), or ``False`` for anyone. A watcher gets ``snapshot`` when
    it connects, then ``update`` at most once per ``interval`` seconds (on ``io.clock``), only
    when something changed. Nothing is counted while nobody watches. See the package docstring
    for the payloads.
    """
    return Monitor(io, auth=auth, namespace=namespace, interval=interval)


class Monitor:
    """The live view of one server (made by :func:`watch`); :meth:`close` stops it."""

    def __init__(
        self,
        io: Server,
        *,
        auth: Middleware | Literal[False],
        namespace: str,
        interval: float,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.io = io
        self.interval = interval
        self.namespace: Namespace = io.of(namespace)
        """The monitor namespace (``/jupyter/monitor``)."""
        self._counter = _Counter(self.namespace)
        self._watchers: set[str] = set()
        self._timer: Timer | None = None
        self._history: deque[list[float]] = deque(maxlen=HISTORY)
        self._closed = False
        self.namespace.use(self._refuse_when_closed)
        if auth is False:
            log.warning("Realtime monitor on %s without access control", namespace)
        else:
            self.namespace.use(auth)
        self.namespace.on("connection", self._on_watcher)

    def __repr__(self) -> str:
        return f"<Monitor {self.namespace.name} watchers={len(self._watchers)}>"

    @property
    def watched(self) -> bool:
        """Whether somebody watches (then the server's work is counted)."""
        return bool(self._watchers)

    def close(self) -> None:
        """Stop counting and disconnect the watchers; later ones are refused."""
        if self._closed:
            return
        self._closed = True
        self._stop()
        for watcher in list(self.namespace.sockets.values()):
            watcher.disconnect()

    def _refuse_when_closed(self, socket: Socket) -> None:
        if self._closed:
            raise ConnectionRefused("the realtime monitor is closed")

    # -- watchers -------------------------------------------------------------------------------

    def _on_watcher(self, watcher: Socket) -> None:
        if not self._watchers:
            self._counter.reset(self._known_polling())
            self.io.add_observer(self._counter)
            clock = self.io.clock
            self._timer = clock.call_at(clock.now() + self.interval, self._tick)
        self._watchers.add(watcher.id)
        watcher.on("disconnect", lambda *_: self._on_watcher_gone(watcher.id))
        log.info("Realtime monitor: socket %s watches", watcher.id)
        watcher.emit("snapshot", self.snapshot())

    def _on_watcher_gone(self, sid: str) -> None:
        self._watchers.discard(sid)
        if not self._watchers:
            self._stop()

    def _stop(self) -> None:
        self._watchers.clear()
        self.io.remove_observer(self._counter)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._history.clear()

    def _known_polling(self) -> list[Socket]:
        return [
            socket
            for nsp in self._observed()
            for socket in nsp.sockets.values()
            if socket.transport == "polling"
        ]

    # -- what watchers get ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What a watcher gets first: the current view, ``interval``, and the chart's samples
        since somebody started watching (``[time, received, sent, sockets]`` each)."""
        view = self._view()
        view["interval"] = self.interval
        view["history"] = list(self._history)
        return view

    def _tick(self) -> None:
        clock = self.io.clock
        self._timer = clock.call_at(clock.now() + self.interval, self._tick)
        counter = self._counter
        changed = counter.take_changed()
        received, sent = counter.take_counts()
        if not (changed or received or sent):
            return
        update = self._view() if changed else self._counts()
        update["received"] = received
        update["sent"] = sent
        self._history.append([update["time"], received, sent, update["sockets"]])
        self.namespace.local.emit("update", update)

    def _observed(self) -> list[Namespace]:
        return [
            nsp for name, nsp in sorted(self.io.namespaces.items()) if nsp is not self.namespace
        ]

    def _counts(self) -> dict[str, Any]:
        sockets = sum(len(nsp.sockets) for nsp in self._observed())
        return {"time": self.io.clock.now(), "sockets": sockets}

    def _view(self) -> dict[str, Any]:
        observed = self._observed()
        return {
            "time": self.io.clock.now(),
            "clients": len(self.io.sessions),
            "sockets": sum(len(nsp.sockets) for nsp in observed),
            "namespaceCount": len(observed),
            "namespaces": [describe_namespace(nsp) for nsp in observed[:MAX_NAMESPACES]],
        }


def describe_namespace(nsp: Namespace) -> dict[str, Any]:
    """``{name, socketCount, roomCount, sockets: [{id, transport, user}], rooms: [{name,
    members}]}``: this server's sockets of ``nsp`` and their rooms (not the sockets' own),
    the largest first; at most :data:`MAX_LISTED` of each. No handshake: no header, query,
    cookie, token or CONNECT payload."""
    own = nsp.adapter.sids
    rooms = [(room, len(members)) for room, members in nsp.adapter.rooms.items() if room not in own]
    rooms.sort(key=lambda item: (-item[1], item[0]))
    sockets = list(nsp.sockets.values())
    return {
        "name": nsp.name,
        "socketCount": len(sockets),
        "roomCount": len(rooms),
        "sockets": [describe_socket(socket) for socket in sockets[:MAX_LISTED]],
        "rooms": [{"name": room, "members": count} for room, count in rooms[:MAX_LISTED]],
    }


def describe_socket(socket: Socket) -> dict[str, Any]:
    """``{id, transport, user}``: ``user`` the Jupyter user's display name, or ``None``."""
    user = socket.handshake.user or {}
    name = user.get("display_name") or user.get("name") or user.get("username")
    return {
        "id": socket.id,
        "transport": socket.transport,
        "user": str(name)[:MAX_NAME] if name else None,
    }


class _Counter(Observer):
    """While somebody watches: events in and out, and whether the view changed (a socket came,
    went, joined, left, or moved from polling to WebSocket). Ignores the monitor namespace."""

    def __init__(self, own: Namespace) -> None:
        self._own = own
        self._received = 0
        self._sent = 0
        self._changed = False
        self._polling: dict[int, Socket] = {}

    def reset(self, polling: Sequence[Socket]) -> None:
        self._received = self._sent = 0
        self._changed = False
        self._polling = {id(socket): socket for socket in polling}

    def take_counts(self) -> tuple[int, int]:
        """Events received and sent (once per recipient) since the last call."""
        counts = self._received, self._sent
        self._received = self._sent = 0
        return counts

    def take_changed(self) -> bool:
        """Whether the view changed since the last call."""
        for key, socket in list(self._polling.items()):
            if not socket.connected or socket.transport != "polling":
                del self._polling[key]
                self._changed = True
        changed, self._changed = self._changed, False
        return changed

    def socket_connected(self, socket: Socket) -> None:
        if socket.nsp is not self._own:
            self._changed = True
            if socket.transport == "polling":
                self._polling[id(socket)] = socket

    def socket_disconnected(self, socket: Socket, reason: Reason) -> None:
        if socket.nsp is not self._own:
            self._changed = True
            self._polling.pop(id(socket), None)

    def room_joined(self, nsp: Namespace, room: str, sid: str) -> None:
        if nsp is not self._own:
            self._changed = True

    def room_left(self, nsp: Namespace, room: str, sid: str) -> None:
        if nsp is not self._own:
            self._changed = True

    def event_received(self, socket: Socket, data: list[Any]) -> None:
        if socket.nsp is not self._own:
            self._received += 1

    def event_sent(
        self,
        nsp: Namespace,
        data: list[Any],
        frames: Sequence[str | bytes],
        recipients: Sequence[Socket],
    ) -> None:
        if nsp is not self._own:
            self._sent += len(recipients)

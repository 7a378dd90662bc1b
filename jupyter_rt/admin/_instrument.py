"""``instrument(io)``: the server side of the ``@socket.io/admin-ui`` protocol."""

from __future__ import annotations

import asyncio
import logging
import os
import socket as _socket_module
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from jupyter_rt._throttle import LogThrottle
from jupyter_rt.admin._counts import EventCounts
from jupyter_rt.admin._serialize import json_safe, serialize_socket, timestamp
from jupyter_rt.errors import ConnectionRefused, LimitExceeded
from jupyter_rt.server import BroadcastOperator, Middleware, Namespace, Observer, Server, Socket

if TYPE_CHECKING:
    from jupyter_rt.clock import Timer
    from jupyter_rt.protocol.events import Reason
    from jupyter_rt.server.connection import Connection

__all__ = ["AdminUI", "Mode", "instrument"]

log = logging.getLogger("jupyter_rt.admin")

Mode = Literal["development", "production"]

HOSTNAME = _socket_module.gethostname()

COMMAND_FEATURES = ("EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT")
"""What an admin may do when the UI is not read-only (the admin-ui's feature names)."""

MAX_PENDING = 10_000
"""Reports queued within one turn of the event loop (development mode); more are dropped."""


def instrument(
    io: Server,
    *,
    auth: Middleware | Literal[False],
    mode: Mode = "development",
    read_only: bool = False,
    server_id: str | None = None,
    namespace: str = "/admin",
    stats_interval: float = 2.0,
) -> AdminUI:
    """Serve the ``@socket.io/admin-ui`` protocol (0.5) on ``io``'s namespace ``namespace``.

    ``auth`` decides who may connect to that namespace: a middleware (``def auth(socket)``,
    raising :class:`~jupyter_rt.errors.ConnectionRefused` to refuse; the Jupyter extension
    gives one that admits only the server's own credentials), or ``False`` for anyone who can
    reach the server, which then sees every socket's handshake (credentials masked) and event,
    and can disconnect anyone unless ``read_only``. The UI's own username/password is not used.

    ``mode``: ``"development"`` reports every socket, room change and event, as they happen;
    ``"production"`` only the counts of ``server_stats`` (connections, packets and bytes per
    second), which cost a few integer additions per message. Every ``stats_interval`` seconds
    (on ``io.clock``) this server sends its ``server_stats``, under ``server_id`` (default
    ``hostname#pid``), to every admin socket of the cluster: with a Redis adapter, each server
    shows up in the UI side by side. Returns the :class:`AdminUI`; its timer starts with the
    event loop (:meth:`AdminUI.start`).
    """
    return AdminUI(
        io,
        auth=auth,
        mode=mode,
        read_only=read_only,
        server_id=server_id,
        namespace=namespace,
        stats_interval=stats_interval,
    )


class AdminUI:
    """One server instrumented for the Admin UI (made by :func:`instrument`).

    ``features`` are what its ``config`` event offers the UI. :meth:`close` stops it: the
    admin sockets here are disconnected and later ones refused.
    """

    def __init__(
        self,
        io: Server,
        *,
        auth: Middleware | Literal[False],
        mode: Mode,
        read_only: bool,
        server_id: str | None,
        namespace: str,
        stats_interval: float,
    ) -> None:
        if mode not in ("development", "production"):
            raise ValueError(f"mode must be 'development' or 'production', not {mode!r}")
        if stats_interval <= 0:
            raise ValueError("stats_interval must be positive")
        self.io = io
        self.mode: Mode = mode
        self.read_only = read_only
        self.server_id = server_id or f"{HOSTNAME}#{os.getpid()}"
        self.stats_interval = stats_interval
        self.namespace: Namespace = io.of(namespace)
        """The admin namespace (``/admin``)."""
        features = [] if read_only else list(COMMAND_FEATURES)
        features.append("AGGREGATED_EVENTS")
        if mode == "development":
            features.append("ALL_EVENTS")
        self.features: tuple[str, ...] = tuple(features)
        self._throttle = LogThrottle(log, clock=io.clock.now)
        self._started_at = io.clock.now()
        self._timer: Timer | None = None
        self._closed = False
        self._counts = _Counts(self)
        self._reporter = _Reporter(self) if mode == "development" else None
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._flush_scheduled = False
        self._polling: dict[tuple[str, str], Socket] = {}
        self.namespace.use(self._refuse_when_closed)
        if auth is False:
            log.warning("Admin UI on %s without access control", namespace)
        else:
            self.namespace.use(auth)
        self.namespace.on("connection", self._on_admin_connection)
        io.add_observer(self._counts)
        if self._reporter is not None:
            io.add_observer(self._reporter)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # started by start(), or at the first session
        else:
            self.start()

    def __repr__(self) -> str:
        return f"<AdminUI {self.namespace.name} {self.mode} server_id={self.server_id!r}>"

    # -- life -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Send ``server_stats`` now and every ``stats_interval`` seconds (needs the server's
        clock to run: a running loop for the default one). Nothing happens if started."""
        if self._timer is None and not self._closed:
            self._tick()

    def close(self) -> None:
        """Stop reporting and the timer; disconnect this server's admin sockets."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.io.remove_observer(self._counts)
        if self._reporter is not None:
            self.io.remove_observer(self._reporter)
        self._pending.clear()
        self._polling.clear()
        for admin in list(self.namespace.sockets.values()):
            admin.disconnect()

    def _refuse_when_closed(self, socket: Socket) -> None:
        if self._closed:
            raise ConnectionRefused("the Admin UI is closed")

    def _tick(self) -> None:
        clock = self.io.clock
        self._timer = clock.call_at(clock.now() + self.stats_interval, self._tick)
        self._flush()
        self.namespace.emit("server_stats", self.server_stats())

    def server_stats(self, *, drain: bool = True) -> dict[str, Any]:
        """This server's ``server_stats``; with ``drain``, the counts since the last drain
        (the periodic one), else none."""
        sessions = self.io.sessions
        return {
            "serverId": self.server_id,
            "hostname": HOSTNAME,
            "pid": os.getpid(),
            "uptime": self.io.clock.now() - self._started_at,
            "clientsCount": len(sessions),
            "pollingClientsCount": sum(1 for s in sessions if s.transport == "polling"),
            "aggregatedEvents": self._counts.drain() if drain else [],
            "namespaces": [
                {"name": name, "socketsCount": len(nsp.sockets)}
                for name, nsp in sorted(self.io.namespaces.items())
            ],
        }

    # -- an admin connects ------------------------------------------------------------------------

    async def _on_admin_connection(self, admin: Socket) -> None:
        log.info("Admin UI connected: socket %s from %s", admin.id, admin.handshake.address)
        if not self.read_only:
            admin.on("emit", self._command_emit)
            admin.on("join", self._command_join)
            admin.on("leave", self._command_leave)
            admin.on("_disconnect", self._command_disconnect)
        admin.emit("config", {"supportedFeatures": list(self.features)})
        admin.emit("server_stats", self.server_stats(drain=False))
        if self.mode == "development":
            admin.emit("all_sockets", await self._all_sockets())

    async def _all_sockets(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name, nsp in sorted(self.io.namespaces.items()):
            try:
                handles = await nsp.fetch_sockets()
            except Exception as exc:  # a cluster that does not answer: this server's own
                self._warn("fetch", "Admin UI lists only local sockets of %s: %s", name, exc)
                handles = list(nsp.sockets.values())
            out.extend(serialize_socket(handle, name) for handle in handles)
        return out

    # -- what an admin asks ------------------------------------------------------------------------

    def _target(
        self, command: str, nsp_name: Any, room_filter: Any
    ) -> Namespace | BroadcastOperator | None:
        """The sockets a command names: those of namespace ``nsp_name`` (an existing one; none
        is made), in room ``room_filter`` if one is given."""
        nsp = self.io.namespaces.get(nsp_name) if isinstance(nsp_name, str) else None
        if nsp is None:
            self._warn(command, "Admin UI %s: no namespace %r", command, nsp_name)
            return None
        if room_filter is None or room_filter == "":
            return nsp
        if not isinstance(room_filter, str):
            self._warn(command, "Admin UI %s: the room filter is not a string", command)
            return None
        return nsp.in_(room_filter)

    def _command_emit(self, *args: Any) -> None:
        if len(args) < 3 or not isinstance(args[2], str):
            self._warn("emit", "Admin UI emit: expected (namespace, room, event, ...args)")
            return
        target = self._target("emit", args[0], args[1])
        if target is not None:
            log.info("Admin UI: emit %r to %s %s", args[2], args[0], _who(args[1]))
            self._run("emit", lambda: target.emit(args[2], *args[3:]))

    def _command_join(self, *args: Any) -> None:
        self._rooms_command("join", args)

    def _command_leave(self, *args: Any) -> None:
        self._rooms_command("leave", args)

    def _rooms_command(self, command: str, args: Sequence[Any]) -> None:
        if len(args) < 2 or not isinstance(args[1], str):
            self._warn(command, "Admin UI %s: expected (namespace, room, [filter])", command)
            return
        room_filter = args[2] if len(args) > 2 else None
        target = self._target(command, args[0], room_filter)
        if target is None:
            return
        log.info("Admin UI: %s of %s: %s %r", _who(room_filter), args[0], command, args[1])
        if command == "join":
            self._run(command, lambda: target.sockets_join(args[1]))
        else:
            self._run(command, lambda: target.sockets_leave(args[1]))

    def _command_disconnect(self, *args: Any) -> None:
        if not args:
            self._warn("_disconnect", "Admin UI _disconnect: expected (namespace, close, [filter])")
            return
        close = bool(args[1]) if len(args) > 1 else False
        room_filter = args[2] if len(args) > 2 else None
        target = self._target("_disconnect", args[0], room_filter)
        if target is not None:
            log.info("Admin UI: disconnect %s of %s (close=%s)", _who(room_filter), args[0], close)
            self._run("_disconnect", lambda: target.disconnect_sockets(close))

    def _run(self, command: str, action: Callable[[], object]) -> None:
        try:
            action()
        except (ValueError, TypeError, LimitExceeded) as exc:
            self._warn(command, "Admin UI %s refused: %s", command, exc)

    def _warn(self, key: str, message: str, *args: Any) -> None:
        self._throttle.log(logging.WARNING, ("admin", key), message, *args)

    # -- reports (development mode) ------------------------------------------------------------

    def report(self, event: str, *args: Any) -> None:
        """Queue ``event`` for the admin sockets; sent on the next turn of the event loop, in
        order (never from inside the server's own work)."""
        if self._closed:
            return
        if len(self._pending) >= MAX_PENDING:
            self._warn(
                "dropped", "Admin UI: over %d reports in one loop turn; dropped", MAX_PENDING
            )
            return
        self._pending.append((event, args))
        if not self._flush_scheduled:
            try:
                asyncio.get_running_loop().call_soon(self._flush)
            except RuntimeError:  # no loop (a test driving the server by hand): the next tick
                return
            self._flush_scheduled = True

    def watch_upgrade(self, socket: Socket) -> None:
        """Tell the UI when ``socket``, on polling now, moves to WebSocket."""
        self._polling[(socket.nsp.name, socket.id)] = socket

    def forget_upgrade(self, socket: Socket) -> None:
        self._polling.pop((socket.nsp.name, socket.id), None)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._polling:
            for key, socket in list(self._polling.items()):
                if not socket.connected:
                    del self._polling[key]
                elif socket.transport != "polling":
                    del self._polling[key]
                    update = {"id": socket.id, "nsp": key[0], "transport": socket.transport}
                    self._pending.append(("socket_updated", (update,)))
        pending, self._pending = self._pending, []
        emit = self.namespace.emit
        for event, args in pending:
            emit(event, *args)


def _who(room_filter: Any) -> str:
    return f"room {room_filter!r}" if room_filter else "every socket"


class _Counts(EventCounts):
    """The counts, and the start of the timer at the first session (a loop runs by then)."""

    def __init__(self, admin: AdminUI) -> None:
        super().__init__()
        self._admin = admin

    def session_opened(self, session: Connection) -> None:
        super().session_opened(session)
        self._admin.start()


class _Reporter(Observer):
    """Development mode: every socket, room change and event, as the admin-ui shows them."""

    def __init__(self, admin: AdminUI) -> None:
        self._admin = admin
        self._nsp = admin.namespace

    def socket_connected(self, socket: Socket) -> None:
        admin = self._admin
        admin.report("socket_connected", serialize_socket(socket, socket.nsp.name), timestamp())
        if socket.transport == "polling":
            admin.watch_upgrade(socket)

    def socket_disconnected(self, socket: Socket, reason: Reason) -> None:
        self._admin.forget_upgrade(socket)
        self._admin.report(
            "socket_disconnected", socket.nsp.name, socket.id, str(reason), timestamp()
        )

    def room_joined(self, nsp: Namespace, room: str, sid: str) -> None:
        if room != sid:  # its own room comes with socket_connected
            self._admin.report("room_joined", nsp.name, room, sid, timestamp())

    def room_left(self, nsp: Namespace, room: str, sid: str) -> None:
        self._admin.report("room_left", nsp.name, room, sid, timestamp())

    def event_received(self, socket: Socket, data: list[Any]) -> None:
        if socket.nsp is not self._nsp:
            self._admin.report(
                "event_received", socket.nsp.name, socket.id, json_safe(list(data)), timestamp()
            )

    def event_sent(
        self,
        nsp: Namespace,
        data: list[Any],
        frames: Sequence[str | bytes],
        recipients: Sequence[Socket],
    ) -> None:
        if nsp is self._nsp:
            return
        args = json_safe(list(data))
        when = timestamp()
        for socket in recipients:
            self._admin.report("event_sent", nsp.name, socket.id, args, when)

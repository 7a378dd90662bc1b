"""One Engine.IO session and the sockets it opened on namespaces (Node's ``Client``).

The :class:`~jupyter_rt.server.Server` makes one per session and feeds it the session's
messages; it decodes them, runs the namespace CONNECTs through middleware, and hands events and
acks to the sockets. A namespace served elsewhere (``Namespace.host`` set, see
:class:`~jupyter_rt.server.connection.NamespaceHost`) gets its CONNECT and every later packet
of that name instead, decoded and checked here first.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from jupyter_rt.errors import ConnectionRefused, ProtocolError
from jupyter_rt.protocol.events import DisconnectReason, Reason
from jupyter_rt.protocol.socketio import (
    BINARY_EVENT,
    CONNECT,
    CONNECT_ERROR,
    DISCONNECT,
    EVENT,
    Decoder,
    Packet,
    PacketType,
    encode_fields,
)
from jupyter_rt.server._util import Timed, log, report_error, run_sync
from jupyter_rt.server.handshake import SocketHandshake
from jupyter_rt.server.recovery import (
    Recovery,
    give_back,
    recover,
    recovery_request,
    without_recovery_fields,
)
from jupyter_rt.server.socket import Socket

if TYPE_CHECKING:
    from jupyter_rt.server.connection import Connection, NamespaceHost
    from jupyter_rt.server.namespace import Middleware, Namespace
    from jupyter_rt.server.server import Server

__all__ = ["Client"]

_INVALID_NAMESPACE = {"message": "Invalid namespace"}
_TOO_MANY = {"message": "Too many namespaces"}
_NO_RECOVERIES: dict[str, Recovery] = {}
"""Every client's recoveries until its first one (read only: no dict per connection)."""


class Client:
    """One Engine.IO session and the sockets it opened on namespaces (Node's ``Client``).

    Until its first namespace is connected, the session has a deadline of ``connect_timeout``
    (``set_deadline``, fired by the engine's timer), as Node's connect timeout.

    With connection state recovery on, a CONNECT whose auth holds ``pid`` and ``offset`` first
    asks the adapter for that session (:func:`~jupyter_rt.server.recovery.recover`); found, the
    socket takes its id and data, skips the middleware if ``skip_middlewares``, and gets its
    rooms and missed packets right after the CONNECT reply, before its connection handlers run.
    """

    __slots__ = (
        "_connecting",
        "_decoder",
        "_recovering",
        "closed",
        "hosted",
        "server",
        "session",
        "sockets",
    )

    def __init__(self, server: Server, session: Connection) -> None:
        self.server = server
        self.session = session
        self._decoder: Decoder | None = None
        self.sockets: dict[str, Socket] = {}
        self._connecting: dict[str, list[Packet]] = {}
        self._recovering = _NO_RECOVERIES
        self.hosted: dict[str, NamespaceHost] = {}
        """The namespaces of this client served by a host, by name (they count against
        ``max_namespaces_per_client`` until the host forgets them)."""
        self.closed = False
        session.set_deadline(server.connect_timeout, DisconnectReason.FORCED_CLOSE)

    def __repr__(self) -> str:
        return f"<Client {self.session.sid} {sorted(self.sockets)}>"

    # -- input --------------------------------------------------------------------------------

    @property
    def decoder(self) -> Decoder:
        """The client's Socket.IO decoder (made at its first message)."""
        if self._decoder is None:
            server = self.server
            self._decoder = Decoder(
                max_attachments=server.max_attachments, max_name_length=server.max_name_length
            )
        return self._decoder

    def receive(self, data: str | bytes) -> None:
        """Take one Engine.IO message; a protocol error closes this client only."""
        if self.closed:
            return
        try:
            packet = self.decoder.feed(data)
            if packet is not None:
                self._on_packet(packet)
        except ProtocolError as exc:
            log.warning("Closing session %s: %s", self.session.sid, exc)
            self.close(DisconnectReason.PARSE_ERROR)

    def _on_packet(self, packet: Packet) -> None:
        ptype = packet.type
        name = packet.nsp
        if self.hosted:
            host = self.hosted.get(name)
            if host is not None:
                if ptype == CONNECT_ERROR:
                    raise ProtocolError("a client cannot send CONNECT_ERROR")
                host.receive(self, packet)
                return
        if ptype == CONNECT:
            if name in self.sockets or name in self._connecting:
                log.debug("Session %s: CONNECT to %s again, ignored", self.session.sid, name)
                return
            self._connect(name, packet.data if packet.data is not None else {})
        elif ptype == DISCONNECT:
            socket = self.sockets.get(name)
            if socket is not None:
                socket.on_close(DisconnectReason.CLIENT_NAMESPACE_DISCONNECT)
            else:
                self._connecting.pop(name, None)
                self._recovering.pop(name, None)
        elif ptype == CONNECT_ERROR:
            raise ProtocolError("a client cannot send CONNECT_ERROR")
        else:
            socket = self.sockets.get(name)
            if socket is not None:
                socket.receive(packet)
                return
            queue = self._connecting.get(name)
            if queue is not None and packet.type in (EVENT, BINARY_EVENT):
                self.check_queue(len(queue))
                queue.append(packet)
            else:
                log.debug("Session %s: packet for %s, not connected", self.session.sid, name)

    def check_queue(self, length: int) -> None:
        """Refuse a client that sends too much before its connection handlers are done."""
        if length >= self.server.max_queued_events:
            raise ProtocolError(f"more than {length} events before the connection was ready")

    # -- connecting ---------------------------------------------------------------------------

    def _connect(self, name: str, auth: dict[str, Any]) -> None:
        joined = len(self.sockets) + len(self._connecting) + len(self.hosted)
        if joined >= self.server.max_namespaces_per_client:
            log.warning("Session %s: refusing %s, too many namespaces", self.session.sid, name)
            self.session.send(encode_fields(PacketType.CONNECT_ERROR, name, _TOO_MANY))
            if self.server.observer is not None:
                self.server.observer.connect_refused(None, "too_many_namespaces")
            return
        nsp = self.server.namespace_for(name)
        if nsp is None:
            self.session.send(encode_fields(PacketType.CONNECT_ERROR, name, _INVALID_NAMESPACE))
            if self.server.observer is not None:
                self.server.observer.connect_refused(None, "invalid_namespace")
            return
        host = nsp.host
        if host is not None:
            self.hosted[name] = host
            host.connect(self, name, auth)
            return
        recovery = self.server.recovery
        wanted = None
        if recovery is not None:
            wanted = recovery_request(auth)
            auth = dict(without_recovery_fields(auth))
        handshake = SocketHandshake.build(self.session, auth)
        self._connecting[name] = []
        nsp.connecting_started()
        if wanted is not None:
            self.server.tasks.spawn(self._recover(nsp, handshake, *wanted))
            return
        self._run_middlewares(self._new_socket(nsp, handshake), 0)

    def _new_socket(self, nsp: Namespace, handshake: SocketHandshake) -> Socket:
        pid = None if self.server.recovery is None else secrets.token_urlsafe(15)
        return Socket(nsp, self, handshake, secrets.token_urlsafe(15), pid)

    async def _recover(
        self, nsp: Namespace, handshake: SocketHandshake, pid: str, offset: str
    ) -> None:
        throttle = self.server.tasks.throttle
        session = await recover(nsp.adapter, pid, offset, self.session.credential, throttle)
        if self.closed or nsp.name not in self._connecting:  # the client left meanwhile
            if session is not None:
                await give_back(nsp.adapter, session)
            nsp.connecting_ended()
            return
        if session is None:
            self._run_middlewares(self._new_socket(nsp, handshake), 0)
            return
        socket = Socket(nsp, self, handshake, session.sid, session.pid)
        socket.data = session.data
        socket.recovered = True
        if self._recovering is _NO_RECOVERIES:
            self._recovering = {}
        self._recovering[nsp.name] = Recovery(nsp.adapter, session, offset)
        recovery = self.server.recovery
        if recovery is not None and recovery.skip_middlewares:
            self._establish(socket)
        else:
            self._run_middlewares(socket, 0)

    async def _refresh(self, socket: Socket, recovery: Recovery) -> None:
        """An async middleware let time pass: keep the session again and recover it anew, so
        the packets sent meanwhile are not missed."""
        nsp = socket.nsp
        await give_back(nsp.adapter, recovery.session, socket.data)
        if self.closed or self._recovering.get(nsp.name) is not recovery:
            nsp.connecting_ended()
            return
        pid, credential = recovery.session.pid, self.session.credential
        throttle = self.server.tasks.throttle
        session = await recover(nsp.adapter, pid, recovery.offset, credential, throttle)
        if self.closed or self._recovering.get(nsp.name) is not recovery:
            if session is not None:
                await give_back(nsp.adapter, session, socket.data)
            nsp.connecting_ended()
            return
        if session is None:  # gone meanwhile (expired, or too much missed): a fresh session
            del self._recovering[nsp.name]
            socket.id = secrets.token_urlsafe(15)
            socket.pid = secrets.token_urlsafe(15)
            socket.recovered = False
        else:
            recovery.session = session
            recovery.stale = False
        self._establish(socket)

    def _run_middlewares(self, socket: Socket, start: int) -> None:
        chain = socket.nsp.middleware_chain()
        tasks = self.server.tasks
        where = (socket.nsp.name, "middleware")
        for index in range(start, len(chain)):
            try:
                result = run_sync(tasks, chain[index], (socket,), "middleware", where)
            except Exception as exc:
                self._refuse(socket, exc, chain[index])
                return
            if isinstance(result, Awaitable):
                timed = Timed(result, tasks, chain[index], "middleware", where)
                tasks.spawn(self._await_middleware(timed, socket, index + 1, chain[index]))
                return
        self._establish(socket)

    async def _await_middleware(
        self, result: Awaitable[Any], socket: Socket, nxt: int, middleware: Middleware
    ) -> None:
        try:
            await result
        except Exception as exc:
            self._refuse(socket, exc, middleware)
            return
        if self.closed or socket.nsp.name not in self._connecting:  # the client gave up
            socket.nsp.connecting_ended()
            return
        recovery = self._recovering.get(socket.nsp.name)
        if recovery is not None:
            recovery.stale = True
        self._run_middlewares(socket, nxt)

    def _refuse(self, socket: Socket, exc: Exception, middleware: Middleware) -> None:
        nsp = socket.nsp
        waiting = self._connecting.pop(nsp.name, None) is not None
        self._recovering.pop(nsp.name, None)
        if isinstance(exc, ConnectionRefused):
            reason = "refused"
            log.info("Refused socket %s on %s: %s", socket.id, nsp.name, exc.message)
            body: dict[str, Any] = {"message": exc.message}
            if exc.data is not None:
                body["data"] = exc.data
        else:
            reason = "middleware_error"
            where = (nsp.name, "middleware")
            report_error(self.server.tasks, exc, middleware, "middleware", where)
            body = {"message": "Internal server error"}
        if self.server.observer is not None:
            self.server.observer.connect_refused(nsp, reason)
        if waiting and not self.closed:
            try:
                frames = encode_fields(PacketType.CONNECT_ERROR, nsp.name, body)
            except (TypeError, ValueError):
                log.exception("Cannot encode the refusal data of %s", nsp.name)
                fallback = {"message": str(body["message"])}
                frames = encode_fields(PacketType.CONNECT_ERROR, nsp.name, fallback)
            self.session.send(frames)
        nsp.connecting_ended()

    def _establish(self, socket: Socket) -> None:
        nsp = socket.nsp
        recovery = self._recovering.get(nsp.name)
        if recovery is not None and recovery.stale and not self.closed:
            self.server.tasks.spawn(self._refresh(socket, recovery))
            return
        queued = self._connecting.pop(nsp.name, None)
        self._recovering.pop(nsp.name, None)
        if queued is None or self.closed:  # the client left or gave up meanwhile
            nsp.connecting_ended()
            return
        if not self.sockets:
            self.session.clear_deadline()
        nsp.connecting_ended(socket)
        self.sockets[nsp.name] = socket
        socket.connected = True
        reply = {"sid": socket.id}
        if socket.pid is not None:
            reply["pid"] = socket.pid
        if recovery is not None:
            nsp.adapter.add_all(socket.id, recovery.session.rooms)
            # As in Node, the missed packets come before the CONNECT reply: the official
            # clients hand them to the listeners before running the "connect" ones.
            if recovery.session.missed_packets:
                self.session.send([f for frames in recovery.session.missed_packets for f in frames])
        self.session.send(encode_fields(PacketType.CONNECT, nsp.name, reply))
        if socket.connected:  # sending may have closed the session (slow consumer)
            socket.start(queued)

    # -- closing ------------------------------------------------------------------------------

    def forget_host(self, name: str) -> None:
        """The host of namespace ``name`` is done with this client (called by the host): a
        later CONNECT to ``name`` is looked up again."""
        self.hosted.pop(name, None)

    def remove_socket(self, socket: Socket) -> None:
        """``socket`` disconnected (called by the socket)."""
        if self.sockets.get(socket.nsp.name) is socket:
            del self.sockets[socket.nsp.name]

    def disconnect_all(self) -> None:
        """Disconnect every socket of this client (each is told), then close the session."""
        for socket in list(self.sockets.values()):
            socket.disconnect()
        self.close(DisconnectReason.FORCED_CLOSE)

    def close(self, reason: Reason, *, notify: bool = True) -> None:
        """Disconnect the sockets with ``reason`` and close the Engine.IO session."""
        self.on_close(reason)
        self.server.forget_client(self)
        self.session.close(reason, notify=notify)

    def on_close(self, reason: Reason) -> None:
        """The session is closed: every socket disconnects with ``reason``."""
        if self.closed:
            return
        self.closed = True
        if self._decoder is not None:
            self._decoder.reset()
        self._connecting.clear()
        for recovery in self._recovering.values():  # lost again while coming back
            self.server.tasks.spawn(give_back(recovery.adapter, recovery.session))
        self._recovering = _NO_RECOVERIES
        for socket in list(self.sockets.values()):
            socket.on_close(reason)
        self.sockets.clear()
        if self.hosted:
            hosts, self.hosted = self.hosted, {}
            for name, host in hosts.items():
                host.client_closed(self, name, reason)

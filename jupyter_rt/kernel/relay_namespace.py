"""A namespace hosted by a kernel, as the Jupyter server serves it.

:class:`HostedName` is the namespace's :class:`~jupyter_rt.server.NamespaceHost`: the clients'
packets for it go to the kernel that holds it (through its :class:`~jupyter_rt.kernel.relay.
TunnelLink`), or wait while it is vacant. :class:`RelayNamespace` is the namespace on the
Jupyter server's own ``io``, with its normal adapter (memory or Redis), so that rooms and
broadcasts are served here: a kernel's broadcast crosses the tunnel once and is written to every
member from here; an emitter or another server reaches the members too. Each socket the kernel
admits has a :class:`RelaySocket` here, with the kernel's socket id.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from jupyter_rt.clock import Timer
from jupyter_rt.errors import ClusterTimeout, RealtimeError
from jupyter_rt.kernel import tunnel
from jupyter_rt.protocol.events import DisconnectReason, Reason
from jupyter_rt.protocol.socketio import Packet, PacketType, encode, encode_fields
from jupyter_rt.server import BroadcastOptions, Namespace, Socket, SocketHandshake

if TYPE_CHECKING:
    from jupyter_rt.kernel.relay import Relay, TunnelLink
    from jupyter_rt.server import Server
    from jupyter_rt.server.client import Client

__all__ = ["HostedName", "RelayNamespace", "RelaySocket"]

log = logging.getLogger("jupyter_rt.kernel")

_INVALID_NAMESPACE = {"message": "Invalid namespace"}
_ACKS = (PacketType.ACK, PacketType.BINARY_ACK)


class RelaySocket(Socket):
    """A kernel's socket as the Jupyter server keeps it: in the namespace's rooms (so adapters,
    emitters and other servers reach it); its events are the kernel's. Joins, leaves and
    disconnects that reach it from here (a remote ``socketsJoin``, an emitter...) are applied
    and passed on to the kernel."""

    __slots__ = ()

    nsp: RelayNamespace

    def join(self, rooms: str | Iterable[str]) -> None:
        names = [rooms] if isinstance(rooms, str) else list(rooms)
        if not self.connected:
            return
        super().join(names)
        self.nsp.hosted.tell(tunnel.J_JOINED, self.id, names)

    def leave(self, rooms: str | Iterable[str]) -> None:
        names = [rooms] if isinstance(rooms, str) else list(rooms)
        super().leave(names)
        if self.connected:
            self.nsp.hosted.tell(tunnel.J_LEFT, self.id, names)

    def disconnect(self, close: bool = False) -> None:
        """Ask the kernel to disconnect its socket (it tells the client and forgets it)."""
        if self.connected:
            self.nsp.hosted.tell(tunnel.J_DROP, self.id, close)


class RelayNamespace(Namespace):
    """A kernel's namespace on the Jupyter server: its rooms, its adapter, its sockets.

    Ack ids allocated here (broadcasts with acks, from here or from other servers) start at
    :data:`~jupyter_rt.kernel.tunnel.LOCAL_ACK_BASE`, above the kernel's, so a client's ACK is
    answered where its id was given.
    """

    def __init__(self, server: Server, name: str, hosted: HostedName) -> None:
        self._ack_ids = itertools.count(tunnel.LOCAL_ACK_BASE)
        super().__init__(server, name)
        self.hosted = hosted
        self.host = hosted
        self.by_session: dict[str, RelaySocket] = {}
        """The socket of each client session (Engine.IO sid) in this namespace."""

    def next_ack_id(self) -> int:
        return next(self._ack_ids)

    def remove_socket(self, socket: Socket) -> None:
        super().remove_socket(socket)
        esid = socket.conn.sid
        if self.by_session.get(esid) is socket:
            del self.by_session[esid]

    def on_server_side_emit(
        self, packet: list[Any], ack: Callable[[Any], None] | None = None
    ) -> None:
        """Another server's ``serverSideEmit``: the kernel's handlers answer it."""
        self.hosted.server_side_emit(packet, ack)


class HostedName:
    """One hosted name: who holds it, and the clients routed to it (the namespace's host).

    Held by a kernel (``link`` set) or *vacant* (``link`` is ``None``): freed, and kept for
    ``vacancy`` seconds so that clients that come back (as they do once their connection was
    closed) wait, their CONNECT held, until a kernel hosts the name again; then it is dropped,
    and the waiting clients get ``Invalid namespace``.
    """

    def __init__(self, relay: Relay, name: str) -> None:
        self.relay = relay
        self.name = name
        self.link: TunnelLink | None = None
        self.kernel_id = ""
        self.clients: dict[Client, SocketHandshake] = {}
        """Clients routed here, with the handshake of their last CONNECT."""
        self.waiting: dict[Client, dict[str, Any]] = {}
        """CONNECTs held while the name is vacant, with their auth."""
        self._expiry: Timer | None = None
        self.nsp = RelayNamespace(relay.io, name, self)
        relay.io.attach_namespace(self.nsp)

    def __repr__(self) -> str:
        holder = f"kernel {self.kernel_id}" if self.link is not None else "vacant"
        return f"<HostedName {self.name} {holder} sockets={len(self.nsp.sockets)}>"

    # -- holding ------------------------------------------------------------------------------

    def serve(self, link: TunnelLink, kernel_id: str) -> None:
        """``link``'s kernel holds the name now: the waiting CONNECTs go to it."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self.link = link
        self.kernel_id = kernel_id
        log.info("Kernel %s hosts %s", kernel_id, self.name)
        waiting, self.waiting = self.waiting, {}
        for client, auth in waiting.items():
            if not client.closed:
                link.forward(client, encode_fields(PacketType.CONNECT, self.name, auth))

    def free(self, why: str) -> None:
        """The kernel no longer serves the name: close its clients' connections (without a
        CLOSE packet: they reconnect by themselves, and wait here) and start the vacancy."""
        if self.link is None:
            return
        sessions = [socket.conn for socket in self.nsp.sockets.values()]
        log.info(
            "%s is no longer hosted by kernel %s (%s): closing %d client connection(s); they "
            "reconnect and wait for it to be hosted again",
            self.name,
            self.kernel_id,
            why,
            len(sessions),
        )
        for session in sessions:  # the kernel (if it still listens) hears of each
            session.close(DisconnectReason.SERVER_SHUTTING_DOWN, notify=False)
        self.link = None
        clock = self.relay.io.clock
        self._expiry = clock.call_at(clock.now() + self.relay.vacancy, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        if self.link is not None:
            return
        frames = encode_fields(PacketType.CONNECT_ERROR, self.name, _INVALID_NAMESPACE)
        for client in self.waiting:
            if not client.closed:
                client.session.send(frames)
        if self.waiting:
            log.info(
                "%s was not hosted again within %s s: %d waiting client(s) refused",
                self.name,
                self.relay.vacancy,
                len(self.waiting),
            )
        for client in self.clients:
            client.forget_host(self.name)
        self.waiting.clear()
        self.clients.clear()
        self.relay.forget(self)

    def close(self) -> None:
        """Stop serving the name on ``io`` (the relay forgets it)."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self.relay.io.forget_namespace(self.nsp)
        self.nsp.adapter.close()

    # -- the clients' side (NamespaceHost) ----------------------------------------------------

    def connect(self, client: Client, name: str, auth: dict[str, Any]) -> None:
        self.clients[client] = SocketHandshake.build(client.session, auth)
        link = self.link
        if link is None:
            self.waiting[client] = auth
            client.session.clear_deadline()  # it did CONNECT: it may wait out the vacancy
            return
        link.forward(client, encode_fields(PacketType.CONNECT, name, auth))

    def receive(self, client: Client, packet: Packet) -> None:
        ptype = packet.type
        if ptype == PacketType.CONNECT:
            self.connect(client, self.name, packet.data if packet.data is not None else {})
            return
        link = self.link
        if link is None:
            if ptype == PacketType.DISCONNECT:
                self.waiting.pop(client, None)
            return
        if ptype in _ACKS and packet.id is not None and packet.id >= tunnel.LOCAL_ACK_BASE:
            socket = self.nsp.by_session.get(client.session.sid)
            if socket is not None:
                socket.receive(packet)
            return
        link.forward(client, encode(packet))

    def client_closed(self, client: Client, name: str, reason: Reason) -> None:
        self.clients.pop(client, None)
        self.waiting.pop(client, None)
        socket = self.nsp.by_session.get(client.session.sid)
        if socket is not None:
            socket.on_close(reason)
        self.relay.session_closed(client, reason)

    # -- the kernel's side --------------------------------------------------------------------

    def tell(self, event: str, *args: Any) -> None:
        """Send the kernel ``event`` about this name (nothing while vacant)."""
        link = self.link
        if link is not None:
            link.send(event, self.name, *args)

    def add(self, sid: str, esid: str, rooms: list[str]) -> None:
        """The kernel's socket ``sid`` (of session ``esid``) joins ``rooms``; its first join
        makes its :class:`RelaySocket`."""
        nsp = self.nsp
        socket = nsp.sockets.get(sid)
        if socket is None:
            socket = self._admit(sid, esid)
            if socket is None:
                return
        elif socket.conn.sid != esid:
            return
        own = nsp.adapter.sids.get(sid, set())
        new = sum(1 for room in set(rooms) if room not in own)
        limit = self.relay.io.max_rooms_per_socket
        if len(own) - 1 + new > limit:
            log.warning("%s: socket %s cannot be in more than %d rooms", self.name, sid, limit)
            return
        nsp.adapter.add_all(sid, rooms)

    def _admit(self, sid: str, esid: str) -> RelaySocket | None:
        link = self.link
        client = link.client(esid) if link is not None else None
        if client is None or client.closed or esid in self.nsp.by_session:
            return None
        handshake = self.clients.get(client)
        if handshake is None:
            return None
        nsp = self.nsp
        socket = RelaySocket(nsp, client, handshake, sid)
        nsp.connecting_started()
        socket.connected = True
        nsp.connecting_ended(socket)
        nsp.by_session[esid] = socket
        client.session.clear_deadline()  # a namespace is connected: no connect timeout
        return socket

    def delete(self, sid: str, rooms: list[str]) -> None:
        for room in rooms:
            if room != sid:
                self.nsp.adapter.delete(sid, room)

    def delete_all(self, sid: str) -> None:
        socket = self.nsp.sockets.get(sid)
        if socket is not None:
            socket.on_close(DisconnectReason.SERVER_NAMESPACE_DISCONNECT)

    def broadcast(self, opts: BroadcastOptions, frames: tunnel.Frames) -> None:
        self.nsp.adapter.broadcast(self._event(frames), opts)

    def broadcast_with_ack(self, req: int, opts: BroadcastOptions, frames: tunnel.Frames) -> None:
        link = self.link
        if link is None:
            return
        emit = link.send

        def count(clients: int) -> None:
            emit(tunnel.J_ACK_COUNT, req, clients)

        def ack(args: list[Any]) -> None:
            emit(tunnel.J_ACK, req, list(args))

        self.nsp.adapter.broadcast_with_ack(self._event(frames), opts, count, ack)

    def _event(self, frames: tunnel.Frames) -> Packet:
        packet = tunnel.decode_packet(frames, self.relay.io.max_name_length)
        if packet.type not in (PacketType.EVENT, PacketType.BINARY_EVENT) or packet.id is not None:
            raise tunnel.TunnelError("a broadcast must be an EVENT packet without ack id")
        return packet if packet.nsp == self.name else Packet(packet.type, self.name, packet.data)

    async def fetch(self, opts: BroadcastOptions) -> list[dict[str, Any]]:
        """Socket details for the kernel's ``fetch_sockets``: ``local`` ones are its own."""
        out = []
        for socket in await self.nsp.adapter.fetch_sockets(opts):
            local = isinstance(socket, RelaySocket)
            out.append(
                {
                    "id": socket.id,
                    "handshake": socket.handshake.to_dict(),
                    "rooms": sorted(socket.rooms),
                    "data": None if local else socket.data,
                    "local": local,
                }
            )
        return out

    def server_side_emit(self, packet: list[Any], ack: Callable[[Any], None] | None) -> None:
        """Pass another server's server-side event to the kernel (and its answer back)."""
        link = self.link
        if link is None:
            return
        frames = tunnel.pack_frames(encode_fields(PacketType.EVENT, "/", packet))
        if ack is None:
            link.send(tunnel.J_SS_EMIT, self.name, *frames)
            return
        max_name_length = self.relay.io.max_name_length

        def answered(*args: Any) -> None:
            answer = tunnel.decode_packet(tunnel.unpack_frames(args), max_name_length)
            ack(answer.data[1] if len(answer.data) > 1 else None)

        link.flush()
        link.socket.emit(tunnel.J_SS_CALL, self.name, *frames, callback=answered)

    def server_side_emit_local(self, frames: tunnel.Frames) -> None:
        """The kernel's ``serverSideEmit``: to this namespace on the other servers."""
        self.nsp.adapter.server_side_emit(self._event(frames).data)

    async def server_side_call(self, timeout: float, frames: tunnel.Frames) -> dict[str, Any]:
        """The kernel's ``server_side_call``: the other servers' answers, or an error."""
        data = self._event(frames).data
        try:
            answers = await self.nsp.adapter.server_side_emit_with_ack(data, timeout)
        except ClusterTimeout as exc:
            return {"ok": False, "error": str(exc), "answers": list(exc.responses)}
        except RealtimeError as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "answers": []}
        return {"ok": True, "answers": list(answers)}

"""The kernel's server, fed through the tunnel: client sessions and the namespaces' adapter.

The kernel runs a real :class:`jupyter_rt.Server`. Each client session the Jupyter server
relays is a :class:`TunnelSession` (a :class:`~jupyter_rt.server.Connection` whose frames go
back through the tunnel); each hosted namespace's adapter is a :class:`TunnelAdapter`: it keeps
the rooms here too (for ``socket.rooms`` and ``nsp.rooms``) and mirrors every change to the
Jupyter server, which holds the rooms that count and does every broadcast, so a broadcast
crosses the tunnel once whatever the room's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from jupyter_rt.engine import Handshake
from jupyter_rt.errors import ClusterTimeout
from jupyter_rt.kernel import tunnel
from jupyter_rt.protocol.events import Reason
from jupyter_rt.protocol.socketio import Packet, PacketType, encode_fields
from jupyter_rt.server import Adapter, BroadcastOptions, RemoteSocket, SocketHandshake

if TYPE_CHECKING:
    from jupyter_rt.server import Namespace, Server, SocketHandle

__all__ = ["Link", "TunnelAdapter", "TunnelSession"]

SS_CALL_TIMEOUT = 5.0
"""Seconds a ``server_side_call`` waits for the other servers when given no timeout."""


class Link(Protocol):
    """The kernel's end of the tunnel, as sessions and adapters use it."""

    server: Server

    def send(self, event: str, *args: Any) -> None:
        """Send a message now (from any thread), in order with every other."""

    async def call(self, event: str, *args: Any) -> Any:
        """Send a request and return its answer (on the hosting loop)."""

    def expect_acks(
        self, count: Callable[[int], None], ack: Callable[[list[Any]], None], timeout: float
    ) -> int:
        """A request id for a broadcast with acks; its answers go to ``count`` and ``ack``."""

    def forget_session(self, session: TunnelSession) -> None:
        """``session`` closed from this side."""


class TunnelSession:
    """A client's session on the Jupyter server, as the kernel's server sees it.

    Frames the server sends go to the Jupyter server, which writes them to the session;
    ``close`` closes it there. ``writable`` is always true (volatile packets to one socket are
    sent; broadcasts keep their volatile flag). The connect timeout stays the Jupyter server's.
    """

    __slots__ = ("_link", "closed", "credential", "handshake", "sid", "transport")

    def __init__(self, link: Link, sid: str, handshake: Handshake, transport: str) -> None:
        self._link = link
        self.sid = sid
        self.handshake = handshake
        self.transport = transport
        self.credential: str | None = None
        """Hosted namespaces do not recover sessions: no credential is kept here."""
        self.closed = False

    def __repr__(self) -> str:
        return f"<TunnelSession {self.sid} {self.transport}{' closed' if self.closed else ''}>"

    @property
    def writable(self) -> bool:
        return True

    def send(self, messages: Sequence[str | bytes]) -> None:
        if not self.closed:
            self._link.send(tunnel.K_SEND, self.sid, *tunnel.pack_frames(messages))

    def close(self, reason: Reason = "forced close", *, notify: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        self._link.send(tunnel.K_CLOSE, self.sid, reason, notify)
        self._link.forget_session(self)
        self._link.server.on_engine_close(self, reason)

    def set_deadline(self, delay: float, reason: Reason, *, now: float | None = None) -> None:
        """Nothing: the Jupyter server's session has its own connect timeout."""

    def clear_deadline(self) -> None:
        """Nothing (see :meth:`set_deadline`)."""


class TunnelAdapter(Adapter):
    """A hosted namespace's adapter in the kernel: rooms mirrored to the Jupyter server, where
    every operation that reaches sockets (broadcasts, remote joins, fetches) is done."""

    def __init__(self, nsp: Namespace, link: Link) -> None:
        super().__init__(nsp)
        self.link = link
        self.name = nsp.name

    # -- membership: kept here, mirrored there ------------------------------------------------

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        rooms = list(rooms)
        super().add_all(sid, rooms)
        socket = self.nsp.sockets.get(sid)
        if socket is not None:
            self.link.send(tunnel.K_ADD, self.name, sid, socket.conn.sid, rooms)

    def delete(self, sid: str, room: str) -> None:
        if room in self.sids.get(sid, ()):
            super().delete(sid, room)
            self.link.send(tunnel.K_DEL, self.name, sid, [room])

    def delete_all(self, sid: str) -> None:
        if sid in self.sids:
            super().delete_all(sid)
            self.link.send(tunnel.K_DEL_ALL, self.name, sid)

    def apply_joined(self, sid: str, rooms: list[str]) -> None:
        """The Jupyter server made ``sid`` join ``rooms`` (not sent back)."""
        if sid in self.sids:
            super().add_all(sid, rooms)

    def apply_left(self, sid: str, rooms: list[str]) -> None:
        """The Jupyter server made ``sid`` leave ``rooms`` (not sent back)."""
        for room in rooms:
            super().delete(sid, room)

    # -- operations on sockets: done on the Jupyter server ------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        wire = tunnel.options_to_wire(opts)
        self.link.send(tunnel.K_BCAST, self.name, wire, *tunnel.packet_frames(packet))

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[list[Any]], None],
    ) -> None:
        frames = tunnel.packet_frames(packet)
        timeout = opts.flags.timeout if opts.flags.timeout is not None else SS_CALL_TIMEOUT
        req = self.link.expect_acks(client_count_callback, ack, timeout)
        wire = tunnel.options_to_wire(opts)
        self.link.send(tunnel.K_BCAST_ACK, self.name, req, wire, *frames)

    async def server_count(self) -> int:
        count = await self.link.call(tunnel.K_SERVER_COUNT, self.name)
        return count if isinstance(count, int) and count >= 1 else 1

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketHandle]:
        details = await self.link.call(tunnel.K_FETCH, self.name, tunnel.options_to_wire(opts))
        out: list[SocketHandle] = []
        for item in details if isinstance(details, list) else ():
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            sid = item["id"]
            if item.get("local"):
                socket = self.nsp.sockets.get(sid)
                if socket is not None:
                    out.append(socket)
                continue
            handshake = item.get("handshake")
            rooms = item.get("rooms")
            out.append(
                RemoteSocket(
                    self,
                    sid,
                    SocketHandshake.from_dict(handshake if isinstance(handshake, dict) else {}),
                    frozenset(r for r in rooms if isinstance(r, str))
                    if isinstance(rooms, list)
                    else frozenset(),
                    item.get("data"),
                )
            )
        return out

    # Remote joins, leaves and disconnects: this kernel's sockets at once (so ``socket.rooms``
    # says so right away), then the same request on the Jupyter server, for the other servers'
    # sockets (it finds this kernel's done already).

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = list(rooms)
        self.add_sockets_local(opts, rooms)
        wire = tunnel.options_to_wire(opts)
        self.link.send(tunnel.K_ADD_SOCKETS, self.name, wire, rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = list(rooms)
        self.del_sockets_local(opts, rooms)
        wire = tunnel.options_to_wire(opts)
        self.link.send(tunnel.K_DEL_SOCKETS, self.name, wire, rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        self.disconnect_sockets_local(opts, close)
        wire = tunnel.options_to_wire(opts)
        self.link.send(tunnel.K_DISCONNECT_SOCKETS, self.name, wire, close)

    async def all_rooms(self) -> set[str]:
        rooms = await self.link.call(tunnel.K_ALL_ROOMS, self.name)
        return {r for r in rooms if isinstance(r, str)} if isinstance(rooms, list) else set()

    def server_side_emit(self, packet: list[Any]) -> None:
        frames = tunnel.pack_frames(encode_fields(PacketType.EVENT, "/", packet))
        self.link.send(tunnel.K_SS_EMIT, self.name, *frames)

    async def server_side_emit_with_ack(
        self, packet: list[Any], timeout: float | None = None
    ) -> list[Any]:
        frames = tunnel.pack_frames(encode_fields(PacketType.EVENT, "/", packet))
        seconds = SS_CALL_TIMEOUT if timeout is None else timeout
        answer = await self.link.call(tunnel.K_SS_CALL, self.name, seconds, *frames)
        if not isinstance(answer, dict):
            raise ClusterTimeout("no answer from the Jupyter server")
        answers = answer.get("answers")
        answers = list(answers) if isinstance(answers, list) else []
        if answer.get("ok") is not True:
            raise ClusterTimeout(
                str(answer.get("error", "the other servers did not answer")), answers
            )
        return answers

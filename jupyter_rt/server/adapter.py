"""The adapter: who is in which room, and delivery of broadcasts.

Mirrors Node's ``socket.io-adapter``. :class:`Adapter` is the in-memory implementation every
adapter builds on: a cluster adapter (Redis, ...) overrides the methods that may cross processes
(``broadcast``, ``broadcast_with_ack``, ``add_sockets``, ``del_sockets``, ``disconnect_sockets``,
``fetch_sockets``, ``server_side_emit``, ``server_side_emit_with_ack``, ``all_rooms``,
``server_count``) and does its remote part. For the local part, and for what other servers ask
of this one, it calls the hooks that never leave the process: ``broadcast_local``,
``broadcast_with_ack_local``, ``add_sockets_local``, ``del_sockets_local``,
``disconnect_sockets_local``, ``local_sockets`` and ``receive_server_side_emit``.
``opts.flags.local`` asks for the local part only.

Connection state recovery adds Node's ``persist_session`` and ``restore_session`` (async, as they
may cross a process): an adapter that supports it stores each recoverable packet with an offset
(a string, appended to the packet's data as its last argument) in ``broadcast``, and gives back a
disconnected socket's state and the packets it missed since an offset. The base keeps nothing,
so recovery fails and clients get fresh sessions; :class:`~jupyter_rt.server.recovery.
SessionAwareAdapter` is the in-memory one, which ``Server`` uses when recovery is on.

Lifecycle: ``init()`` when the namespace is made (maybe before any event loop runs), ``await
ready()`` once the loop runs (:meth:`Server.ready <jupyter_rt.server.Server.ready>`: subscribe,
connect...), ``close()`` when a dynamic namespace goes away, ``await aclose()`` at server close.

One adapter serves one namespace; ``Server(adapter=...)`` takes a callable ``(namespace) ->
Adapter`` (an adapter class fits).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from jupyter_rt._credential import same_credential
from jupyter_rt._shrink import Shrinker
from jupyter_rt.errors import LimitExceeded
from jupyter_rt.protocol.socketio import Packet, encode
from jupyter_rt.server._util import log

if TYPE_CHECKING:
    from jupyter_rt.server.namespace import Namespace
    from jupyter_rt.server.socket import Socket, SocketHandle

__all__ = [
    "Adapter",
    "BroadcastFlags",
    "BroadcastOptions",
    "MemoryAdapter",
    "Session",
    "SessionToPersist",
]


@dataclass(frozen=True, slots=True)
class BroadcastFlags:
    """``volatile``: drop for clients that cannot take it now. ``local``: this server only.
    ``timeout``: seconds to wait for acks (broadcasts with acks)."""

    volatile: bool = False
    local: bool = False
    timeout: float | None = None


_NO_FLAGS = BroadcastFlags()


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    """Who a broadcast reaches: members of any of ``rooms`` (everyone when empty), minus members
    of any of ``except_``."""

    rooms: frozenset[str] = frozenset()
    except_: frozenset[str] = frozenset()
    flags: BroadcastFlags = _NO_FLAGS


@dataclass(frozen=True, slots=True)
class SessionToPersist:
    """What a socket that lost its connection leaves for recovery (Node's ``SessionToPersist``).

    ``sid`` and ``pid`` are its public and private ids, ``rooms`` its rooms (its own id's room
    included), ``data`` its ``socket.data``; ``credential`` is the opaque credential of the
    connection that opened it (``None`` without auth): only a connection with the same one may
    recover it.
    """

    sid: str
    pid: str = dataclasses.field(repr=False)  # a capability: kept out of logs
    rooms: frozenset[str] = frozenset()
    data: Any = None
    credential: str | None = dataclasses.field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Session(SessionToPersist):
    """A session given back for recovery, with the packets it missed since the client's
    offset, in order: each as the frames :func:`~jupyter_rt.protocol.socketio.encode` gives
    (its offset inside), ready to send."""

    missed_packets: tuple[list[str | bytes], ...] = ()


class Adapter:
    """Rooms and broadcasts of one namespace, in memory (the base of every adapter).

    ``rooms`` maps a room to its socket ids, ``sids`` a socket id to its rooms (every socket is
    in the room named by its own id). Read them, never change them from outside.
    """

    recovers_sessions: ClassVar[bool] = False
    """Whether this adapter keeps sessions and packets for connection state recovery (then
    ``socket.emit`` goes through :meth:`broadcast`, to be kept, as in Node)."""

    def __init__(self, nsp: Namespace) -> None:
        self.nsp = nsp
        self.rooms: dict[str, set[str]] = {}
        self.sids: dict[str, set[str]] = {}
        self._sids_size = Shrinker()

    def init(self) -> None:
        """Called once when the namespace is created, maybe before an event loop runs."""

    async def ready(self) -> None:
        """Finish starting once the event loop runs (connect, subscribe...); may raise if the
        cluster cannot be reached. Called by :meth:`Server.ready
        <jupyter_rt.server.Server.ready>`; the base adapter has nothing to do."""

    def close(self) -> None:
        """Called when the namespace goes away (a dynamic namespace left empty); may leave
        cleanup running in the background. See :meth:`aclose`."""

    async def aclose(self) -> None:
        """Close and wait for the cleanup (awaited by :meth:`Server.close
        <jupyter_rt.server.Server.close>`). The base calls :meth:`close`."""
        self.close()

    async def server_count(self) -> int:
        """How many servers share this namespace (1 without a cluster)."""
        return 1

    # -- connection state recovery -------------------------------------------------------------

    async def persist_session(self, session: SessionToPersist) -> None:
        """Keep ``session`` (a socket that lost its connection) for recovery, for
        ``max_disconnection_duration`` seconds. The base keeps nothing."""

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        """The session ``pid`` of this namespace and the packets it missed after ``offset``
        (the last one its client got), or ``None`` if it cannot be recovered (unknown or
        expired, or packets since ``offset`` are gone). A session given back is no longer kept.
        The caller checks its ``credential`` (:meth:`may_recover`). The base has none."""
        return None

    def may_recover(self, session: SessionToPersist, credential: str | None) -> bool:
        """Whether a connection opened with ``credential`` may recover ``session``: the
        credentials that opened it (any, if it was opened without). An adapter that stores
        a digest of them instead compares digests."""
        return same_credential(session.credential, credential)

    # -- local membership ---------------------------------------------------------------------

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        """Add socket ``sid`` to ``rooms``."""
        own = self.sids.get(sid)
        if own is None:
            own = self.sids[sid] = set()
            self._sids_size.grew(len(self.sids))
        observer = self.nsp.server.observer
        for room in rooms:
            if observer is not None and room not in own:
                observer.room_joined(self.nsp, room, sid)
            own.add(room)
            members = self.rooms.get(room)
            if members is None:
                self.rooms[room] = {sid}
            else:
                members.add(sid)

    def delete(self, sid: str, room: str) -> None:
        """Remove socket ``sid`` from ``room``."""
        own = self.sids.get(sid)
        if own is not None:
            observer = self.nsp.server.observer
            if observer is not None and room in own:
                observer.room_left(self.nsp, room, sid)
            own.discard(room)
        members = self.rooms.get(room)
        if members is not None:
            members.discard(sid)
            if not members:
                del self.rooms[room]

    def delete_all(self, sid: str) -> None:
        """Remove socket ``sid`` from every room (it is disconnecting)."""
        own = self.sids.pop(sid, None)
        if own is None:
            return
        self._sids_size.shrunk(self.sids)
        observer = self.nsp.server.observer
        for room in own:
            if observer is not None:
                observer.room_left(self.nsp, room, sid)
            members = self.rooms.get(room)
            if members is not None:
                members.discard(sid)
                if not members:
                    del self.rooms[room]

    def sockets(self, rooms: Iterable[str] = ()) -> set[str]:
        """Local socket ids in any of ``rooms`` (all local sockets when empty)."""
        return {s.id for s in self._apply(BroadcastOptions(frozenset(rooms)))}

    def socket_rooms(self, sid: str) -> set[str] | None:
        """The rooms of local socket ``sid``, or ``None`` if unknown."""
        own = self.sids.get(sid)
        return None if own is None else set(own)

    # -- operations on the sockets a BroadcastOptions selects ---------------------------------

    def _apply(self, opts: BroadcastOptions) -> list[Socket]:
        """The local sockets ``opts`` selects, as a snapshot."""
        sockets = self.nsp.sockets
        excluded: set[str] = set()
        for room in opts.except_:
            members = self.rooms.get(room)
            if members:
                excluded.update(members)
        rooms = opts.rooms
        if not rooms:
            if not excluded:
                return list(sockets.values())
            return [s for sid, s in sockets.items() if sid not in excluded]
        if len(rooms) == 1:
            for room in rooms:
                members = self.rooms.get(room)
                if not members:
                    return []
                ids: Iterable[str] = members
        else:
            union: set[str] = set()
            for room in rooms:
                members = self.rooms.get(room)
                if members:
                    union.update(members)
            ids = union
        return [
            socket
            for sid in ids
            if sid not in excluded and (socket := sockets.get(sid)) is not None
        ]

    def local_sockets(self, opts: BroadcastOptions) -> list[Socket]:
        """The sockets of this server that ``opts`` selects, as a snapshot (a hook)."""
        return self._apply(opts)

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Send ``packet`` to the sockets ``opts`` selects. It is encoded once for all of them."""
        self.broadcast_local(packet, opts)

    def broadcast_local(self, packet: Packet, opts: BroadcastOptions) -> None:
        """:meth:`broadcast` to this server's sockets only (a hook)."""
        targets = self._apply(opts)
        if not targets:
            return
        frames = encode(packet)
        volatile = opts.flags.volatile
        for socket in targets:
            socket.deliver(frames, volatile)
        observer = self.nsp.server.observer
        if observer is not None:
            observer.broadcast_sent(self.nsp, packet.data, frames, targets)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[list[Any]], None],
    ) -> None:
        """Send ``packet`` asking each recipient for an ack.

        ``client_count_callback(n)`` is called once per server with how many sockets it sent to;
        ``ack(args)`` once per socket that acknowledges.
        """
        self.broadcast_with_ack_local(packet, opts, client_count_callback, ack)

    def broadcast_with_ack_local(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[list[Any]], None],
    ) -> None:
        """:meth:`broadcast_with_ack` to this server's sockets only (a hook)."""
        ack_id = self.nsp.next_ack_id()
        packet = dataclasses.replace(packet, id=ack_id)
        targets = self._apply(opts)
        if targets:
            frames = encode(packet)
            for socket in targets:
                socket.expect_ack(ack_id, ack)
                socket.deliver(frames)
            observer = self.nsp.server.observer
            if observer is not None:
                observer.broadcast_sent(self.nsp, packet.data, frames, targets)
        client_count_callback(len(targets))

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketHandle]:
        """The sockets ``opts`` selects (local ones are :class:`Socket` objects)."""
        return list(self._apply(opts))

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the sockets ``opts`` selects join ``rooms``."""
        self.add_sockets_local(opts, rooms)

    def add_sockets_local(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """:meth:`add_sockets` on this server's sockets only (a hook)."""
        rooms = list(rooms)
        for socket in self._apply(opts):
            try:
                socket.join(rooms)
            except LimitExceeded as exc:
                log.warning("Socket %s cannot join %d rooms: %s", socket.id, len(rooms), exc)

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the sockets ``opts`` selects leave ``rooms``."""
        self.del_sockets_local(opts, rooms)

    def del_sockets_local(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """:meth:`del_sockets` on this server's sockets only (a hook)."""
        rooms = list(rooms)
        for socket in self._apply(opts):
            socket.leave(rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the sockets ``opts`` selects (``close``: their whole connection)."""
        self.disconnect_sockets_local(opts, close)

    def disconnect_sockets_local(self, opts: BroadcastOptions, close: bool) -> None:
        """:meth:`disconnect_sockets` on this server's sockets only (a hook)."""
        for socket in self._apply(opts):
            socket.disconnect(close)

    async def all_rooms(self) -> set[str]:
        """Every room of the namespace on every server (socket ids' own rooms included)."""
        return set(self.rooms)

    def server_side_emit(self, packet: list[Any]) -> None:
        """Send ``[event, *args]`` to the namespace's handlers on the *other* servers.

        Without a cluster there are none, so this does nothing.
        """

    async def server_side_emit_with_ack(
        self, packet: list[Any], timeout: float | None = None
    ) -> list[Any]:
        """Like :meth:`server_side_emit`, and return one answer per other server (each
        server's first handler's return value). A cluster adapter raises an error (a
        :class:`~jupyter_rt.errors.RealtimeError`) if some server does not answer within
        ``timeout`` seconds (its own default when ``None``). Without a cluster: ``[]``."""
        return []

    def receive_server_side_emit(
        self, packet: list[Any], ack: Callable[[Any], None] | None = None
    ) -> None:
        """Run this namespace's handlers for ``[event, *args]`` sent by another server (a hook).

        With ``ack``, the first handler's return value is passed to it once (not at all if that
        handler raises or there is none).
        """
        self.nsp.on_server_side_emit(packet, ack)


class MemoryAdapter(Adapter):
    """The default adapter: one process, everything in memory."""

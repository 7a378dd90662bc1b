"""The Redis Streams adapter: rooms and broadcasts across servers, and connection state recovery
when a client comes back to another server (Node's ``@socket.io/redis-streams-adapter``).

::

    io = jupyter_rt.Server(
        connection_state_recovery=True,
        adapter=RedisStreamsAdapter.factory("redis://localhost:6379/0"),
    )
    await io.ready()

In the Jupyter extension: ``c.RealtimeApp.redis_adapter = "streams"``.

What must reach every server goes through one Redis stream, read by every server in stream
order: broadcasts, and joins, leaves and disconnects of remote sockets. This server's own
broadcasts reach its own sockets through the stream too, so every client gets every packet in
the stream's order, on whichever server it is, and a broadcast's offset is its entry id. A
socket that loses its connection leaves its session in Redis (a key with a TTL of
``max_disconnection_duration``), so any server of the cluster recovers it: same id, rooms,
``socket.data``, and the packets it missed, read from the stream since its offset. Requests that
need answers (``fetch_sockets``, ``call``, ``server_side_emit``/``server_side_call``) go over
pub/sub, as in Node.

The format is that of ``@socket.io/redis-streams-adapter`` 0.3 (see
:mod:`~jupyter_rt.adapters.redis.streams_wire`): Node servers using it with the same
``streamName``, ``channelPrefix`` and ``sessionKeyPrefix`` share rooms, broadcasts and
recovered sessions with jupyter_rt servers. Do not mix it with the pub/sub adapter under one
prefix: both use the channel ``<prefix>#<nsp>#``, in different formats.

Differences from the pub/sub adapter: a broadcast reaches this server's sockets after a Redis
round trip (in stream order), not at once; ``sockets_join``/``sockets_leave``/
``disconnect_sockets`` take effect here in stream order too. While Redis is unreachable, local
sockets are still served at once (without offsets, so those packets cannot be recovered) and
nothing reaches other servers; once Redis answers, the reader goes on from where it stopped, so
what other servers wrote meanwhile is still delivered. A server that dies without closing
(``SIGKILL``) leaves no sessions: sessions are written when sockets disconnect.

Security: the same as the pub/sub adapter (Redis must be private to the deployment). Stored
sessions keep a salted digest of the credentials that opened them, never the credentials, and
only a connection with the same credentials recovers one (Node servers do not check it).
Everything read from Redis is size-checked (``max_message_bytes``) and decoded as data.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from jupyter_rt._tasks import TaskKeeper
from jupyter_rt.adapters.redis.adapter import public_handshake
from jupyter_rt.adapters.redis.requests import Pending, Requests
from jupyter_rt.adapters.redis.streams_wire import (
    REQUEST_TYPES,
    ClusterMessage,
    MessageType,
    StoredSession,
    decode_entry,
    decode_message,
    decode_session,
    encode_entry,
    encode_message,
    encode_session,
    new_uid,
    next_offset,
    parse_offset,
    response_message,
    response_of,
    seal,
    stream_for,
)
from jupyter_rt.adapters.redis.wire import (
    Request,
    RequestType,
    Response,
    SocketDetails,
    WireError,
    pack,
)
from jupyter_rt.errors import RedisUnavailable
from jupyter_rt.protocol.events import ack_args
from jupyter_rt.protocol.socketio import Packet, PacketType, encode_fields
from jupyter_rt.server.adapter import Adapter, BroadcastOptions, Session, SessionToPersist
from jupyter_rt.server.socket import RemoteSocket, SocketHandshake

if TYPE_CHECKING:
    from jupyter_rt.adapters.redis.stream_link import Position, StreamEntry, StreamLink
    from jupyter_rt.adapters.redis.streams_factory import RedisStreamsAdapterFactory
    from jupyter_rt.server.namespace import Namespace
    from jupyter_rt.server.socket import SocketHandle

__all__ = ["RedisStreamsAdapter"]

log = logging.getLogger("jupyter_rt.redis")

_closing = TaskKeeper()
"""Links closing after their last namespace closed."""

_SOCKET_OPS = {
    MessageType.SOCKETS_JOIN,
    MessageType.SOCKETS_LEAVE,
    MessageType.DISCONNECT_SOCKETS,
}


class _Missed:
    """The frames of the packets a session missed, within a count and a size."""

    __slots__ = ("_bytes", "_frames", "max_bytes", "max_packets")

    def __init__(self, max_packets: int, max_bytes: int) -> None:
        self.max_packets = max_packets
        self.max_bytes = max_bytes
        self._frames: list[list[str | bytes]] = []
        self._bytes = 0

    def add(self, frames: list[str | bytes]) -> bool:
        """Keep ``frames``; ``False`` (kept nothing) past a limit."""
        self._bytes += sum(len(f) for f in frames)
        if len(self._frames) >= self.max_packets or self._bytes > self.max_bytes:
            return False
        self._frames.append(frames)
        return True

    def frames(self) -> tuple[list[str | bytes], ...]:
        return tuple(self._frames)


def _recoverable(packet: Packet, opts: BroadcastOptions) -> bool:
    """Whether a broadcast carries an offset and is replayed (Node's rule)."""
    return packet.type == PacketType.EVENT and packet.id is None and not opts.flags.volatile


class RedisStreamsAdapter(Adapter):
    """The adapter of one namespace on Redis Streams (see :mod:`jupyter_rt.adapters.redis.
    streams`). Build it through :meth:`factory`. ``uid`` identifies it on the channels."""

    recovers_sessions = True

    def __init__(
        self, nsp: Namespace, link: StreamLink, factory: RedisStreamsAdapterFactory
    ) -> None:
        super().__init__(nsp)
        self._link = link
        self._factory = factory
        self.uid = new_uid()
        self.stream = stream_for(nsp.name, factory.stream_name, factory.stream_count)
        self.channel = f"{factory.channel_prefix}#{nsp.name}#"
        """Requests to every server of the namespace (Node's public channel)."""
        self.own_channel = f"{self.channel}{self.uid}#"
        """Responses to this adapter's requests."""
        self.request_timeout = factory.request_timeout
        self._requests = Requests(self._encode_request)
        self._closed = False

    def __repr__(self) -> str:
        return f"<RedisStreamsAdapter {self.nsp.name} uid={self.uid} {self.where}>"

    @classmethod
    def factory(cls, url: str | None = None, **settings: Any) -> RedisStreamsAdapterFactory:
        """What ``Server(adapter=...)`` takes: ``RedisStreamsAdapter.factory("redis://...")``.

        ``settings`` are those of :class:`~jupyter_rt.adapters.redis.RedisStreamsAdapterFactory`
        (``client``, ``stream_name``, ``channel_prefix``, ``session_key_prefix``, ...)."""
        # The factory module builds adapters of this class, so it is imported here, not above.
        from jupyter_rt.adapters.redis.streams_factory import RedisStreamsAdapterFactory

        return RedisStreamsAdapterFactory(url, **settings)

    @property
    def where(self) -> str:
        """``host:port/db`` of the Redis server, without credentials (for logs)."""
        return self._link.pubsub.where

    @property
    def redis_available(self) -> bool:
        """``False`` while the last Redis operation failed (an outage is going on)."""
        return not self._link.pubsub.down

    @property
    def redis_publish_errors(self) -> int:
        """Messages this server could not publish to Redis since it started (Redis away, or
        too slow to take them); shared by the namespaces of the server."""
        return self._link.pubsub.publish_errors

    # -- lifecycle ----------------------------------------------------------------------------

    def init(self) -> None:
        """Subscribe and start reading the stream: now if a loop runs, else at
        ``Server.ready()`` (or the first connection)."""
        self._link.users += 1
        handlers: dict[str, Callable[[str, bytes], None]] = {
            self.channel: self._on_message,
            self.own_channel: self._on_message,
        }
        self._link.pubsub.subscribe(handlers, {})
        self._link.watch(self.stream, self.nsp.name, self)

    def _release(self) -> bool:
        if self._closed:
            return False
        self._closed = True
        self._link.pubsub.unsubscribe([self.channel, self.own_channel], [])
        self._link.unwatch(self.stream, self.nsp.name)
        self._requests.cancel()
        self._link.users -= 1
        return self._link.users <= 0

    def close(self) -> None:
        """Stop; the server's Redis connections close (in the background) with its last
        namespace."""
        if self._release():
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop any more: nothing runs on the connections either
            _closing.spawn(self._link.aclose(self.request_timeout))

    async def aclose(self) -> None:
        """Like :meth:`close`; with the server's last namespace, run the session writes still
        queued (sockets just closed by ``Server.close()``), then close the connections."""
        if self._release():
            await self._link.aclose(self.request_timeout)

    async def ready(self, timeout: float | None = None) -> None:
        """Wait until subscribed and reading the stream; raises RedisUnavailable after
        ``timeout`` seconds (default: ``request_timeout``). The adapter keeps trying."""
        timeout = self.request_timeout if timeout is None else timeout
        await self._link.pubsub.wait_subscribed([self.channel, self.own_channel], timeout)
        await self._link.wait_reading(timeout)

    async def server_count(self) -> int:
        """How many servers (Node ones included) serve this namespace."""
        count = await self._link.pubsub.numsub(self.channel, self.request_timeout)
        return max(count, 1)

    # -- through the stream -------------------------------------------------------------------

    def _own(self, packet: Packet) -> Packet:
        name = self.nsp.name
        return packet if packet.nsp == name else dataclasses.replace(packet, nsp=name)

    def _append(self, message: ClusterMessage, fallback: Callable[[], None]) -> None:
        """Add ``message`` to the stream; ``fallback`` applies it here if Redis cannot take it
        (else the reader applies it, in stream order)."""
        fields = encode_entry(message)  # raises TypeError before anything is sent

        def done(entry_id: str | None) -> None:
            if entry_id is None and not self._closed:
                fallback()

        self._link.append(self.stream, fields, done)

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Add to the stream; every server, this one included, delivers it from there (with
        the entry id as offset when recovery is on). ``flags.local``: here only, at once."""
        if opts.flags.local:
            self.broadcast_local(packet, opts)
            return
        packet = self._own(packet)
        message = ClusterMessage.broadcast(self.uid, packet, opts)
        self._append(message, lambda: self.broadcast_local(packet, opts))

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = tuple(rooms)
        self._socket_op(MessageType.SOCKETS_JOIN, opts, rooms=rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = tuple(rooms)
        self._socket_op(MessageType.SOCKETS_LEAVE, opts, rooms=rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        self._socket_op(MessageType.DISCONNECT_SOCKETS, opts, close=close)

    def _socket_op(
        self,
        mtype: MessageType,
        opts: BroadcastOptions,
        rooms: tuple[str, ...] = (),
        close: bool = False,
    ) -> None:
        if opts.flags.local:
            self._apply_op(mtype, opts, rooms, close)
            return
        message = ClusterMessage.sockets_op(self.uid, self.nsp.name, mtype, opts, rooms, close)
        self._append(message, lambda: self._apply_op(mtype, opts, rooms, close))

    def _apply_op(
        self, mtype: MessageType, opts: BroadcastOptions, rooms: tuple[str, ...], close: bool
    ) -> None:
        if mtype == MessageType.SOCKETS_JOIN:
            self.add_sockets_local(opts, rooms)
        elif mtype == MessageType.SOCKETS_LEAVE:
            self.del_sockets_local(opts, rooms)
        else:
            self.disconnect_sockets_local(opts, close)

    def on_entry(self, entry_id: str, message: ClusterMessage) -> None:
        """An entry of the stream for this namespace, from any server (called by the reader,
        in stream order)."""
        mtype = message.type
        if mtype == MessageType.BROADCAST:
            if message.request_id is not None:
                self._on_broadcast_with_ack(message)
                return
            packet, opts = message.packet(), message.options()
            if self.nsp.server.recovery is not None and _recoverable(packet, opts):
                packet = dataclasses.replace(packet, data=[*packet.data, entry_id])
            self.broadcast_local(packet, opts)
        elif mtype in _SOCKET_OPS:
            self._apply_op(mtype, message.options(), message.rooms(), message.close())

    # -- connection state recovery ------------------------------------------------------------

    def _session_key(self, pid: str) -> str:
        return self._factory.session_key_prefix + pid

    def may_recover(self, session: SessionToPersist, credential: str | None) -> bool:
        """Sessions keep a digest of their credentials: compare ``credential``'s."""
        return super().may_recover(session, seal(credential, session.pid))

    def _lost(self, what: str, exc: Exception) -> None:
        """Sessions not kept or not restored while Redis is away: logged once a minute."""
        self._link.pubsub.warner.log(
            logging.WARNING, ("sessions", what), "Cannot %s: %s", what, exc
        )

    async def persist_session(self, session: SessionToPersist) -> None:
        """Keep ``session`` in Redis for ``max_disconnection_duration`` (any server of the
        cluster may recover it). A session whose ``data`` cannot be stored, or that Redis cannot
        take now, is not kept (logged): its client gets a fresh one."""
        recovery = self.nsp.server.recovery
        if recovery is None:
            return
        stored = StoredSession(
            session.sid,
            session.pid,
            tuple(session.rooms),
            session.data,
            self.nsp.name,
            seal(session.credential, session.pid),
        )
        try:
            value = encode_session(stored)
        except TypeError as exc:
            log.warning("The session of socket %s cannot be kept: %s", session.sid, exc)
            return
        ttl_ms = round(recovery.max_disconnection_duration * 1000)
        try:
            await self._link.store(self._session_key(session.pid), value, ttl_ms)
        except RedisUnavailable as exc:
            self._lost("keep sessions for recovery", exc)

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        """The session ``pid`` and the packets it missed since ``offset``, read from Redis;
        ``None`` if the offset is no longer in the stream (the session is left in place), or
        the session is unknown, expired, of another namespace, or missed more than
        ``max_missed_packets`` or ``max_buffered_bytes``, or Redis is unreachable."""
        recovery = self.nsp.server.recovery
        position = parse_offset(offset)
        if recovery is None or position is None:
            return None
        try:
            return await self._restore(pid, offset, position, recovery.max_missed_packets)
        except RedisUnavailable as exc:
            self._lost("restore sessions", exc)
            return None

    async def _restore(
        self, pid: str, offset: str, position: Position, max_missed: int
    ) -> Session | None:
        link, stream = self._link, self.stream
        first = await link.range(stream, offset, link.read_count)
        if not first or first[0].id != offset:
            log.debug("A socket came back with an offset no longer in stream %s", stream)
            return None
        raw, ttl_ms = await link.take(self._session_key(pid))
        if raw is None:
            return None
        try:
            stored = decode_session(raw, link.max_message_bytes)
        except WireError as exc:
            log.warning("Dropping a malformed session in Redis: %s", exc)
            return None
        if stored.pid != pid or stored.nsp not in (None, self.nsp.name):
            if stored.pid == pid and ttl_ms > 0:  # another namespace's: left to it
                await link.store(self._session_key(pid), raw, ttl_ms)
            return None
        rooms = frozenset(stored.rooms)
        missed = _Missed(max_missed, self.nsp.server.options.max_buffered_bytes)
        if not await self._read_missed(first[1:], position, rooms, missed):
            log.warning(
                "Socket %s missed more than %d packets or %d bytes: it gets a fresh session",
                stored.sid,
                missed.max_packets,
                missed.max_bytes,
            )
            return None
        return Session(stored.sid, pid, rooms, stored.data, stored.owner, missed.frames())

    async def _read_missed(
        self,
        entries: list[StreamEntry],
        position: Position,
        rooms: frozenset[str],
        missed: _Missed,
    ) -> bool:
        """Read the stream after ``position`` into ``missed`` until the reader is exactly
        where the reading stopped, so the socket, connected right after (no await between),
        gets every later entry live and none twice. ``False`` if it missed too much, if
        entries are gone, or if the reader does not catch up within ``request_timeout``."""
        link, stream = self._link, self.stream
        budget = max(4 * link.max_len, 10_000)  # entries read at most
        full = len(entries) + 1 >= link.read_count
        behind: Position | None = None  # where the reader was when more was asked for
        while True:
            for entry in entries:
                position = entry.position
                frames = self._replayed(entry, rooms)
                if frames is not None and not missed.add(frames):
                    return False
            budget -= len(entries)
            if budget <= 0:
                return False
            if behind is not None and position < behind and not entries:
                return False  # entries the reader handed on are no longer in the stream
            behind = None
            if not full:
                reader = link.position(stream)
                if reader is None or reader < position:
                    if not await link.wait_position(stream, position, self.request_timeout):
                        return False
                    reader = link.position(stream)
                if reader == position:
                    return True
                behind = reader
            entries = await link.range(stream, next_offset(position), link.read_count)
            full = len(entries) >= link.read_count

    def _replayed(self, entry: StreamEntry, rooms: frozenset[str]) -> list[str | bytes] | None:
        """The frames of ``entry`` for a socket in ``rooms`` if it gets it on recovery."""
        name = self.nsp.name
        try:
            message = decode_entry(entry.fields, self._link.max_message_bytes)
            if (
                message.nsp != name
                or message.type != MessageType.BROADCAST
                or message.request_id is not None
            ):
                return None
            packet, opts = message.packet(), message.options()
        except WireError as exc:
            log.warning("Skipping a malformed entry %s of %s: %s", entry.id, self.stream, exc)
            return None
        if not _recoverable(packet, opts) or not _reaches(opts, rooms):
            return None
        return encode_fields(PacketType.EVENT, name, [*packet.data, entry.id])

    # -- over pub/sub -------------------------------------------------------------------------

    def _encode_request(self, request: Request) -> bytes:
        """A request of :class:`Requests` as Node's cluster message."""
        mtype, rid = REQUEST_TYPES[request.type], request.request_id
        if mtype == MessageType.BROADCAST:
            assert request.packet is not None and request.opts is not None
            message = ClusterMessage.broadcast(self.uid, request.packet, request.opts, rid)
        elif mtype == MessageType.FETCH_SOCKETS:
            assert request.opts is not None
            message = ClusterMessage.fetch(self.uid, self.nsp.name, request.opts, rid)
        else:
            event = list(request.data or ())
            message = ClusterMessage.server_side(self.uid, self.nsp.name, event, rid)
        return encode_message(message)

    def _publish(self, payload: bytes) -> None:
        self._link.pubsub.publish(self.channel, payload)

    async def _publish_and_wait(self, payload: bytes) -> None:
        await self._link.pubsub.publish_wait(self.channel, payload)

    async def _ask(
        self, rtype: RequestType, expected: int, timeout: float | None = None, **fields: Any
    ) -> Pending:
        return await self._requests.ask(
            Request(rtype, uid=self.uid, **fields),
            expected,
            self._publish_and_wait,
            self.request_timeout if timeout is None else timeout,
        )

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[list[Any]], None],
    ) -> None:
        """Over pub/sub (acks are never kept for recovery): every server reports its client
        count, then each ack."""
        if not opts.flags.local:
            packet = self._own(packet)
            timeout = opts.flags.timeout
            self._requests.stream(
                Request(RequestType.BROADCAST, uid=self.uid, opts=opts, packet=packet),
                client_count_callback,
                ack,
                self._publish,
                self.request_timeout if timeout is None else timeout,
            )
        self.broadcast_with_ack_local(packet, opts, client_count_callback, ack)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketHandle]:
        """Local sockets, then the other servers' as RemoteSocket (raises ClusterError)."""
        local: list[SocketHandle] = list(self.local_sockets(opts))
        if opts.flags.local:
            return local
        count = await self.server_count()
        if count <= 1:
            return local
        pending = await self._ask(RequestType.REMOTE_FETCH, count - 1, opts=opts)
        out, seen = list(local), {s.id for s in local}
        for details in pending.sockets:
            if details.id not in seen:
                seen.add(details.id)
                handshake = SocketHandshake.from_dict(details.handshake)
                rooms = frozenset(details.rooms)
                out.append(RemoteSocket(self, details.id, handshake, rooms, details.data))
        return out

    async def all_rooms(self) -> set[str]:
        """Every room of the namespace on every server: the rooms of all its sockets (Node's
        cluster messages have no request for rooms). Raises ClusterError."""
        rooms = set(self.rooms)
        for handle in await self.fetch_sockets(BroadcastOptions()):
            rooms.update(handle.rooms)
        return rooms

    def server_side_emit(self, packet: list[Any]) -> None:
        """Send ``[event, *args]`` to the namespace's handlers on the other servers."""
        message = ClusterMessage.server_side(self.uid, self.nsp.name, list(packet))
        self._publish(encode_message(message))

    async def server_side_emit_with_ack(
        self, packet: list[Any], timeout: float | None = None
    ) -> list[Any]:
        """Like :meth:`server_side_emit`; one answer per other server (raises ClusterTimeout)."""
        count = await self.server_count()
        if count <= 1:
            return []
        pending = await self._ask(
            RequestType.SERVER_SIDE_EMIT, count - 1, timeout, data=list(packet)
        )
        return list(pending.acks)

    def _respond(self, message: ClusterMessage, response: Response) -> None:
        channel = f"{self.channel}{message.uid}#"
        try:
            payload = encode_message(response_message(self.uid, self.nsp.name, response))
        except TypeError as exc:
            log.warning("Cannot answer a request through Redis: %s", exc)
            return
        self._link.pubsub.publish(channel, payload)

    def _on_message(self, channel: str, payload: bytes) -> None:
        message = decode_message(payload, self._link.max_message_bytes)
        if message.uid == self.uid or message.nsp != self.nsp.name:
            return
        response = response_of(message)
        if response is not None:
            self._requests.on_response(response)
            return
        mtype = message.type
        if mtype == MessageType.BROADCAST:
            if message.request_id is not None:
                self._on_broadcast_with_ack(message)
            else:
                self.broadcast_local(message.packet(), message.options())
        elif mtype == MessageType.FETCH_SOCKETS:
            if message.request_id is not None:
                details = self._local_details(message.options())
                response = Response(message.request_id, RequestType.REMOTE_FETCH, sockets=details)
                self._respond(message, response)
        elif mtype == MessageType.SERVER_SIDE_EMIT:
            self._on_server_side_emit(message)
        elif mtype in _SOCKET_OPS:
            self._apply_op(mtype, message.options(), message.rooms(), message.close())

    def _local_details(self, opts: BroadcastOptions) -> tuple[SocketDetails, ...]:
        out = []
        for socket in self.local_sockets(opts):
            data: Any = socket.data
            try:
                pack(data)
            except TypeError as exc:
                log.warning(
                    "fetch_sockets: the data of socket %s cannot be sent: %s", socket.id, exc
                )
                data = None
            out.append(
                SocketDetails(socket.id, public_handshake(socket), tuple(socket.rooms), data)
            )
        return tuple(out)

    def _on_broadcast_with_ack(self, message: ClusterMessage) -> None:
        rid = message.request_id
        assert rid is not None
        packet, opts = message.packet(), message.options()

        def client_count(count: int) -> None:
            response = Response(rid, RequestType.BROADCAST_CLIENT_COUNT, client_count=count)
            self._respond(message, response)

        def ack(args: list[Any]) -> None:
            self._respond(message, Response(rid, RequestType.BROADCAST_ACK, ack=list(args)))

        self.broadcast_with_ack_local(packet, opts, client_count, ack)

    def _on_server_side_emit(self, message: ClusterMessage) -> None:
        event, rid = message.event(), message.request_id
        if rid is None:
            self.receive_server_side_emit(event)
            return

        def answer(result: Any) -> None:
            response = Response(rid, RequestType.SERVER_SIDE_EMIT, ack=ack_args(result))
            self._respond(message, response)

        self.receive_server_side_emit(event, answer)


def _reaches(opts: BroadcastOptions, rooms: frozenset[str]) -> bool:
    """Whether a broadcast for ``opts`` reaches a socket in ``rooms``."""
    return (not opts.rooms or not opts.rooms.isdisjoint(rooms)) and opts.except_.isdisjoint(rooms)

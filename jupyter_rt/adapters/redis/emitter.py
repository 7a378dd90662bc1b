"""Emit to a cluster's clients from any process with Redis access, without a socket.

::

    from jupyter_rt.adapters.redis import Emitter

    emitter = Emitter("redis://localhost:6379/0")
    await emitter.to("room-42").emit("progress", {"done": 0.5})
    await emitter.of("/chat").except_("muted").emit("notice", "hello")
    await emitter.aclose()

Like Node's ``@socket.io/redis-emitter``: the messages are those a server with the Redis adapter
publishes (see :mod:`jupyter_rt.adapters.redis.wire`), so jupyter_rt and Node ``socket.io``
servers under the same ``prefix`` deliver them. :class:`SyncEmitter` has the same methods,
blocking, for scripts and threads without an event loop.

Pub/sub delivers at most once: a message published while no server listens (or Redis is away) is
lost. ``emit`` returns how many server connections received it; emitting raises
``redis.exceptions.ConnectionError`` when Redis cannot be reached.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis

from jupyter_rt.adapters.redis.wire import (
    DEFAULT_PREFIX,
    EMITTER_UID,
    Channels,
    Request,
    RequestType,
    encode_broadcast,
    encode_request,
)
from jupyter_rt.protocol.events import check_event_name, check_server_side_event
from jupyter_rt.protocol.socketio import Packet, PacketType
from jupyter_rt.server.adapter import BroadcastFlags, BroadcastOptions

__all__ = ["Emitter", "SyncEmitter"]

E = TypeVar("E", bound="_Selection")


def _names(rooms: str | Iterable[str]) -> frozenset[str]:
    names = [rooms] if isinstance(rooms, str) else list(rooms)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"a room name must be a str, not {type(name).__name__}")
    return frozenset(names)


class _Selection:
    """Which sockets an emitter addresses: a namespace, rooms, excluded rooms, flags.

    Immutable; ``of``, ``to``, ``except_``, ``volatile`` return new emitters sharing the
    connection.
    """

    __slots__ = ("_channels", "_client", "_except", "_flags", "_owns", "_prefix", "_rooms")

    def __init__(self, client: Any, prefix: str, nsp: str, owns: bool) -> None:
        self._client = client
        self._prefix = prefix
        self._channels = Channels(prefix, nsp)
        self._rooms: frozenset[str] = frozenset()
        self._except: frozenset[str] = frozenset()
        self._flags = BroadcastFlags()
        self._owns = owns

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._channels.nsp} to={sorted(self._rooms)} "
            f"except={sorted(self._except)}>"
        )

    @property
    def nsp(self) -> str:
        """The namespace this emitter addresses."""
        return self._channels.nsp

    def _copy(self: E, **changes: Any) -> E:
        other = object.__new__(type(self))
        for name in _Selection.__slots__:
            setattr(other, name, changes.get(name, getattr(self, name)))
        other._owns = False
        return other

    def of(self: E, nsp: str) -> E:
        """The same Redis, namespace ``nsp`` (a leading ``/`` is added if missing)."""
        if not nsp.startswith("/"):
            nsp = "/" + nsp
        return self._copy(
            _channels=Channels(self._prefix, nsp),
            _rooms=frozenset(),
            _except=frozenset(),
            _flags=BroadcastFlags(),
        )

    def to(self: E, room: str | Iterable[str]) -> E:
        """Also address the members of ``room`` (one name or several)."""
        return self._copy(_rooms=self._rooms | _names(room))

    in_ = to

    def except_(self: E, room: str | Iterable[str]) -> E:
        """Leave out the members of ``room``."""
        return self._copy(_except=self._except | _names(room))

    @property
    def volatile(self: E) -> E:
        """Let servers drop the event for clients that cannot take it right now."""
        return self._copy(_flags=BroadcastFlags(volatile=True))

    def _options(self) -> BroadcastOptions:
        return BroadcastOptions(self._rooms, self._except, self._flags)

    def _broadcast(self, event: str, args: tuple[Any, ...]) -> tuple[str, bytes]:
        packet = Packet(PacketType.EVENT, self._channels.nsp, [check_event_name(event), *args])
        message = encode_broadcast(EMITTER_UID, packet, self._options())
        return self._channels.for_rooms(self._rooms), message

    def _request(self, rtype: RequestType, **fields: Any) -> tuple[str, bytes]:
        opts = BroadcastOptions(self._rooms, self._except)
        request = Request(rtype, uid=EMITTER_UID, opts=opts, **fields)
        return self._channels.request, encode_request(request)

    def _server_side(self, event: str, args: tuple[Any, ...]) -> tuple[str, bytes]:
        event = check_server_side_event(event)
        request = Request(RequestType.SERVER_SIDE_EMIT, uid=EMITTER_UID, data=[event, *args])
        return self._channels.request, encode_request(request)


class Emitter(_Selection):
    """Publishes events for a Socket.IO cluster's clients (asyncio).

    ``redis`` is a URL or a ``redis.asyncio.Redis`` client (not closed by :meth:`aclose`).
    ``prefix`` must match the servers' (default ``socket.io``).
    """

    __slots__ = ()

    def __init__(
        self, redis: str | aioredis.Redis, prefix: str = DEFAULT_PREFIX, nsp: str = "/"
    ) -> None:
        owns = isinstance(redis, str)
        client = aioredis.Redis.from_url(redis) if isinstance(redis, str) else redis
        super().__init__(client, prefix, nsp if nsp.startswith("/") else "/" + nsp, owns)

    async def emit(self, event: str, *args: Any) -> int:
        """Send ``event`` with ``args`` (``bytes`` go as binary) to the addressed clients."""
        channel, message = self._broadcast(event, args)
        return int(await self._client.publish(channel, message))

    async def send(self, *args: Any) -> int:
        """``emit("message", *args)``."""
        return await self.emit("message", *args)

    async def sockets_join(self, rooms: str | Iterable[str]) -> int:
        """Make the addressed sockets join ``rooms`` on every server."""
        channel, message = self._request(RequestType.REMOTE_JOIN, rooms=tuple(_names(rooms)))
        return int(await self._client.publish(channel, message))

    async def sockets_leave(self, rooms: str | Iterable[str]) -> int:
        """Make the addressed sockets leave ``rooms`` on every server."""
        channel, message = self._request(RequestType.REMOTE_LEAVE, rooms=tuple(_names(rooms)))
        return int(await self._client.publish(channel, message))

    async def disconnect_sockets(self, close: bool = False) -> int:
        """Disconnect the addressed sockets (``close``: their whole connections)."""
        channel, message = self._request(RequestType.REMOTE_DISCONNECT, close=close)
        return int(await self._client.publish(channel, message))

    async def server_side_emit(self, event: str, *args: Any) -> int:
        """Run the namespace's ``event`` handlers on every server (no acks)."""
        channel, message = self._server_side(event, args)
        return int(await self._client.publish(channel, message))

    async def aclose(self) -> None:
        """Close the connection if this emitter opened it."""
        if self._owns:
            await self._client.aclose()

    async def __aenter__(self) -> Emitter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class SyncEmitter(_Selection):
    """:class:`Emitter` with blocking methods (``redis`` is a URL or a ``redis.Redis``)."""

    __slots__ = ()

    def __init__(self, redis: str | Any, prefix: str = DEFAULT_PREFIX, nsp: str = "/") -> None:
        owns = isinstance(redis, str)
        client = _sync_client(redis) if isinstance(redis, str) else redis
        super().__init__(client, prefix, nsp if nsp.startswith("/") else "/" + nsp, owns)

    def emit(self, event: str, *args: Any) -> int:
        """Send ``event`` with ``args`` to the addressed clients."""
        channel, message = self._broadcast(event, args)
        return int(self._client.publish(channel, message))

    def send(self, *args: Any) -> int:
        """``emit("message", *args)``."""
        return self.emit("message", *args)

    def sockets_join(self, rooms: str | Iterable[str]) -> int:
        """Make the addressed sockets join ``rooms`` on every server."""
        channel, message = self._request(RequestType.REMOTE_JOIN, rooms=tuple(_names(rooms)))
        return int(self._client.publish(channel, message))

    def sockets_leave(self, rooms: str | Iterable[str]) -> int:
        """Make the addressed sockets leave ``rooms`` on every server."""
        channel, message = self._request(RequestType.REMOTE_LEAVE, rooms=tuple(_names(rooms)))
        return int(self._client.publish(channel, message))

    def disconnect_sockets(self, close: bool = False) -> int:
        """Disconnect the addressed sockets."""
        channel, message = self._request(RequestType.REMOTE_DISCONNECT, close=close)
        return int(self._client.publish(channel, message))

    def server_side_emit(self, event: str, *args: Any) -> int:
        """Run the namespace's ``event`` handlers on every server (no acks)."""
        channel, message = self._server_side(event, args)
        return int(self._client.publish(channel, message))

    def close(self) -> None:
        """Close the connection if this emitter opened it."""
        if self._owns:
            self._client.close()

    def __enter__(self) -> SyncEmitter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _sync_client(url: str) -> Any:
    return redis.Redis.from_url(url)

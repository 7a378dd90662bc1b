"""The Redis adapter of one namespace: what crosses servers, and what other servers ask of it.

:class:`RedisAdapter` does the local part of each operation through the base adapter's hooks
(``broadcast_local``, ``add_sockets_local``...) and publishes the remote part on the namespace's
channels through the server's :class:`~jupyter_rt.adapters.redis.link.RedisLink`. Requests that
wait for answers go through :class:`~jupyter_rt.adapters.redis.requests.Requests`; incoming
broadcasts, requests and responses are handled here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from jupyter_rt._redact import is_secret_header, is_secret_param, scrub_uri
from jupyter_rt.adapters.redis.requests import Pending, Requests
from jupyter_rt.adapters.redis.wire import (
    DEFAULT_PREFIX,
    Channels,
    Request,
    RequestType,
    Response,
    SocketDetails,
    decode_broadcast,
    decode_request,
    decode_response,
    encode_broadcast,
    encode_request,
    encode_response,
    new_id,
    pack,
)
from jupyter_rt.errors import LimitExceeded
from jupyter_rt.protocol.events import ack_args
from jupyter_rt.protocol.socketio import Packet
from jupyter_rt.server.adapter import Adapter, BroadcastOptions
from jupyter_rt.server.socket import RemoteSocket, SocketHandshake

if TYPE_CHECKING:
    from jupyter_rt.adapters.redis.factory import RedisAdapterFactory
    from jupyter_rt.adapters.redis.link import RedisLink
    from jupyter_rt.server.namespace import Namespace
    from jupyter_rt.server.socket import Socket, SocketHandle

__all__ = ["RedisAdapter", "public_handshake"]

log = logging.getLogger("jupyter_rt.redis")


def public_handshake(socket: Socket) -> dict[str, Any]:
    """The socket's handshake in Node's shape, without credentials."""
    out = socket.handshake.to_dict()
    headers = out.get("headers")
    if isinstance(headers, dict):
        out["headers"] = {k: v for k, v in headers.items() if not is_secret_header(k)}
    query = out.get("query")
    if isinstance(query, dict):
        out["query"] = {k: v for k, v in query.items() if not is_secret_param(k)}
    if isinstance(out.get("url"), str):
        out["url"] = scrub_uri(out["url"])
    return out


class RedisAdapter(Adapter):
    """The adapter of one namespace in a Redis cluster (see :mod:`jupyter_rt.adapters.redis`).

    Build it through :meth:`factory`. Local operations happen at once; their remote part is
    published in order. ``uid`` identifies this server on the channels.
    """

    def __init__(self, nsp: Namespace, link: RedisLink, factory: RedisAdapterFactory) -> None:
        super().__init__(nsp)
        self._link = link
        self._factory = factory
        self.uid = new_id()
        self.channels = Channels(factory.prefix, nsp.name)
        self.request_timeout = factory.request_timeout
        self._specific = factory.publish_on_specific_response_channel
        self._requests = Requests()
        self._closed = False

    def __repr__(self) -> str:
        return f"<RedisAdapter {self.nsp.name} uid={self.uid} {self._link.where}>"

    @classmethod
    def factory(
        cls,
        url: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        request_timeout: float = 5.0,
        *,
        client: aioredis.Redis | None = None,
        publish_on_specific_response_channel: bool = False,
        health_check_interval: float = 10.0,
    ) -> RedisAdapterFactory:
        """What ``Server(adapter=...)`` takes: ``RedisAdapter.factory("redis://host:6379/0")``.

        ``prefix`` must match the Node servers' ``key`` option to share their rooms;
        ``request_timeout`` (seconds) bounds requests to other servers. Give ``client`` (a
        ``redis.asyncio.Redis``) instead of ``url`` to reuse your own connection settings.
        The subscription is PINGed after ``health_check_interval`` idle seconds, and made again
        if Redis does not answer.
        """
        # The factory module builds adapters of this class, so it is imported here, not above.
        from jupyter_rt.adapters.redis.factory import RedisAdapterFactory

        return RedisAdapterFactory(
            url,
            client=client,
            prefix=prefix,
            request_timeout=request_timeout,
            publish_on_specific_response_channel=publish_on_specific_response_channel,
            health_check_interval=health_check_interval,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def _names(self) -> tuple[list[str], list[str]]:
        channels = self.channels
        return (
            [channels.request, channels.response, channels.response_for(self.uid)],
            [channels.pattern],
        )

    def init(self) -> None:
        """Subscribe to the namespace's channels: now if a loop runs, else at ``Server.ready()``
        (or the server's first connection, or the first publish)."""
        channels = self.channels
        self._link.users += 1
        self._link.subscribe(
            {
                channels.request: self._on_request,
                channels.response: self._on_response,
                channels.response_for(self.uid): self._on_response,
            },
            {channels.pattern: self._on_broadcast},
        )

    def _release(self) -> bool:
        """Unsubscribe and fail pending requests; ``True`` if this closed the link's last user."""
        if self._closed:
            return False
        self._closed = True
        channels, patterns = self._names()
        self._link.unsubscribe(channels, patterns)
        self._requests.cancel()
        self._link.users -= 1
        return self._link.users <= 0

    def close(self) -> None:
        """Unsubscribe; the server's Redis connections close (in the background) with its
        last namespace."""
        if self._release():
            self._link.close_soon()

    async def aclose(self) -> None:
        """Like :meth:`close`, and wait until the connections are closed if this was the
        server's last namespace (``Server.close()`` awaits it)."""
        if self._release():
            await self._link.aclose()

    async def ready(self, timeout: float | None = None) -> None:
        """Wait until this namespace's subscriptions are active (``Server.ready()`` awaits it).

        Raises :class:`RedisUnavailable` after ``timeout`` seconds (default:
        ``request_timeout``); the adapter keeps trying by itself.
        """
        channels, patterns = self._names()
        await self._link.wait_subscribed(
            [*channels, *patterns], self.request_timeout if timeout is None else timeout
        )

    @property
    def where(self) -> str:
        """``host:port/db`` of the Redis server, without credentials (for logs)."""
        return self._link.where

    @property
    def redis_available(self) -> bool:
        """``False`` while the last Redis operation failed (an outage is going on)."""
        return not self._link.down

    @property
    def redis_publish_errors(self) -> int:
        """Messages this server could not publish to Redis since it started (Redis away, or
        too slow to take them); shared by the namespaces of the server."""
        return self._link.publish_errors

    async def server_count(self) -> int:
        """How many servers (Node ones included) serve this namespace."""
        count = await self._link.numsub(self.channels.request, self.request_timeout)
        return max(count, 1)

    # -- broadcasts ---------------------------------------------------------------------------

    def _own(self, packet: Packet) -> Packet:
        name = self.nsp.name
        return packet if packet.nsp == name else dataclasses.replace(packet, nsp=name)

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Deliver locally, then publish for the other servers (unless ``flags.local``)."""
        if opts.flags.local:
            self.broadcast_local(packet, opts)
            return
        packet = self._own(packet)
        message = encode_broadcast(self.uid, packet, opts)
        self.broadcast_local(packet, opts)
        self._link.publish(self.channels.for_rooms(opts.rooms), message)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[list[Any]], None],
    ) -> None:
        """Like :meth:`broadcast`; every server reports its client count, then each ack."""
        if not opts.flags.local:
            packet = self._own(packet)
            timeout = opts.flags.timeout
            self._requests.stream(
                Request(RequestType.BROADCAST, uid=self.uid, opts=opts, packet=packet),
                client_count_callback,
                ack,
                self._publish_on_request_channel,
                self.request_timeout if timeout is None else timeout,
            )
        self.broadcast_with_ack_local(packet, opts, client_count_callback, ack)

    def _on_broadcast(self, channel: str, data: bytes) -> None:
        room = self.channels.room_of(channel)
        if room is None or (room and room not in self.rooms):
            return  # a room with no member here
        message = decode_broadcast(data)
        if message.uid == self.uid:
            return
        packet = message.packet
        if packet.nsp != self.nsp.name:
            return
        self.broadcast_local(packet, message.opts)

    # -- requests -----------------------------------------------------------------------------

    async def _request(
        self, rtype: RequestType, expected: int, timeout: float | None = None, **fields: Any
    ) -> Pending:
        """Publish a request and wait for ``expected`` responses for ``timeout`` seconds
        (default: ``request_timeout``); raises ClusterError."""
        return await self._requests.ask(
            Request(rtype, uid=self.uid, **fields),
            expected,
            self._publish_and_wait,
            self.request_timeout if timeout is None else timeout,
        )

    async def _publish_and_wait(self, payload: bytes) -> None:
        await self._link.publish_wait(self.channels.request, payload)

    def _publish_on_request_channel(self, payload: bytes) -> None:
        self._link.publish(self.channels.request, payload)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketHandle]:
        """Local sockets, then the other servers' as RemoteSocket (raises ClusterError)."""
        local: list[SocketHandle] = list(self.local_sockets(opts))
        if opts.flags.local:
            return local
        count = await self.server_count()
        if count <= 1:
            return local
        pending = await self._request(RequestType.REMOTE_FETCH, count - 1, opts=opts)
        out = list(local)
        seen = {s.id for s in local}
        for details in pending.sockets:
            if details.id in seen:
                continue
            seen.add(details.id)
            handshake = SocketHandshake.from_dict(details.handshake)
            out.append(
                RemoteSocket(self, details.id, handshake, frozenset(details.rooms), details.data)
            )
        return out

    async def all_rooms(self) -> set[str]:
        """Every room of the namespace on every server (raises ClusterError)."""
        rooms = set(self.rooms)
        count = await self.server_count()
        if count > 1:
            pending = await self._request(RequestType.ALL_ROOMS, count - 1)
            rooms.update(pending.rooms)
        return rooms

    async def all_sockets(self, rooms: Iterable[str] = ()) -> set[str]:
        """Ids of the sockets in any of ``rooms`` (all when empty) on every server."""
        rooms = tuple(rooms)
        sids = self.sockets(rooms)
        count = await self.server_count()
        if count > 1:
            pending = await self._request(RequestType.SOCKETS, count - 1, rooms=rooms)
            sids.update(pending.sids)
        return sids

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = list(rooms)
        self.add_sockets_local(opts, rooms)
        if not opts.flags.local:
            self._publish_request(Request(RequestType.REMOTE_JOIN, opts=opts, rooms=tuple(rooms)))

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = list(rooms)
        self.del_sockets_local(opts, rooms)
        if not opts.flags.local:
            self._publish_request(Request(RequestType.REMOTE_LEAVE, opts=opts, rooms=tuple(rooms)))

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        self.disconnect_sockets_local(opts, close)
        if not opts.flags.local:
            self._publish_request(Request(RequestType.REMOTE_DISCONNECT, opts=opts, close=close))

    def server_side_emit(self, packet: list[Any]) -> None:
        """Send ``[event, *args]`` to the namespace's handlers on the other servers."""
        self._publish_request(Request(RequestType.SERVER_SIDE_EMIT, data=list(packet)))

    async def server_side_emit_with_ack(
        self, packet: list[Any], timeout: float | None = None
    ) -> list[Any]:
        """Like :meth:`server_side_emit`; returns one answer per other server.

        Each server answers with the return value of its first handler for the event. Raises
        :class:`ClusterTimeout` (with ``.responses``) if some did not answer within ``timeout``
        (default: ``request_timeout``) seconds.
        """
        count = await self.server_count()
        if count <= 1:
            return []
        pending = await self._request(
            RequestType.SERVER_SIDE_EMIT, count - 1, timeout, data=list(packet)
        )
        return list(pending.acks)

    def _publish_request(self, request: Request) -> None:
        request = dataclasses.replace(request, uid=self.uid)
        self._link.publish(self.channels.request, encode_request(request))

    def _respond(self, request: Request, response: Response) -> None:
        channel = self.channels.response
        if self._specific and request.uid is not None:
            channel = self.channels.response_for(request.uid)
        self._link.publish(channel, encode_response(response))

    # -- incoming requests and responses ------------------------------------------------------

    def _on_request(self, channel: str, data: bytes) -> None:
        request = decode_request(data)
        rtype = request.type
        rid = request.request_id
        mine = request.uid == self.uid
        if rtype == RequestType.BROADCAST:
            if mine or (rid is not None and rid in self._requests):
                return
            self._on_broadcast_request(request)
        elif rtype in (
            RequestType.REMOTE_JOIN,
            RequestType.REMOTE_LEAVE,
            RequestType.REMOTE_DISCONNECT,
        ):
            if request.opts is not None:
                if not mine:
                    self._apply_remote(request, request.opts)
            else:
                self._apply_to_one(request)
        elif mine or (rid is not None and rid in self._requests):
            return
        elif rtype == RequestType.REMOTE_FETCH:
            if rid is not None and request.opts is not None:
                self._respond(request, Response(rid, sockets=self._local_details(request.opts)))
        elif rtype == RequestType.SOCKETS:
            if rid is not None:
                self._respond(request, Response(rid, sockets=tuple(self.sockets(request.rooms))))
        elif rtype == RequestType.ALL_ROOMS:
            if rid is not None:
                self._respond(request, Response(rid, rooms=tuple(self.rooms)))
        elif rtype == RequestType.SERVER_SIDE_EMIT:
            assert request.data is not None
            if rid is None:
                self.receive_server_side_emit(request.data)
            else:
                self._server_side_with_ack(request, rid, request.data)

    def _apply_remote(self, request: Request, opts: BroadcastOptions) -> None:
        rtype = request.type
        if rtype == RequestType.REMOTE_JOIN:
            self.add_sockets_local(opts, request.rooms)
        elif rtype == RequestType.REMOTE_LEAVE:
            self.del_sockets_local(opts, request.rooms)
        else:
            self.disconnect_sockets_local(opts, request.close)

    def _apply_to_one(self, request: Request) -> None:
        """The single-socket form (``sid`` and ``room``) older servers send."""
        socket = self.nsp.sockets.get(request.sid or "")
        if socket is None:
            return
        rtype = request.type
        if rtype == RequestType.REMOTE_JOIN and request.room is not None:
            try:
                socket.join(request.room)
            except LimitExceeded as exc:
                log.warning("Socket %s cannot join %r: %s", socket.id, request.room, exc)
        elif rtype == RequestType.REMOTE_LEAVE and request.room is not None:
            socket.leave(request.room)
        elif rtype == RequestType.REMOTE_DISCONNECT:
            socket.disconnect(request.close)
        if request.request_id is not None:
            self._respond(request, Response(request.request_id))

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

    def _on_broadcast_request(self, request: Request) -> None:
        assert request.packet is not None and request.opts is not None
        rid = request.request_id
        packet = self._own(request.packet)
        if rid is None:
            self.broadcast_local(packet, request.opts)
            return

        def client_count(count: int) -> None:
            response = Response(rid, RequestType.BROADCAST_CLIENT_COUNT, client_count=count)
            self._respond(request, response)

        def ack(args: list[Any]) -> None:
            try:
                self._respond(request, Response(rid, RequestType.BROADCAST_ACK, ack=list(args)))
            except TypeError as exc:
                log.warning("Cannot send an ack through Redis: %s", exc)

        self.broadcast_with_ack_local(packet, request.opts, client_count, ack)

    def _server_side_with_ack(self, request: Request, rid: str, data: list[Any]) -> None:
        def answer(result: Any) -> None:
            response = Response(rid, RequestType.SERVER_SIDE_EMIT, ack=ack_args(result))
            try:
                encoded = encode_response(response)
            except TypeError as exc:
                log.warning("Cannot send the answer to server-side event %r: %s", data[0], exc)
                return
            # Node publishes these answers on the shared response channel.
            self._link.publish(self.channels.response, encoded)

        self.receive_server_side_emit(data, answer)

    def _on_response(self, channel: str, data: bytes) -> None:
        self._requests.on_response(decode_response(data))

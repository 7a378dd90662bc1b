"""Scale out with Redis: rooms and broadcasts across processes, like Node's redis adapter.

::

    io = jupyter_rt.Server(adapter=RedisAdapter.factory("redis://localhost:6379/0"))
    ...
    await io.ready()   # once the loop runs: subscribed, counted in the cluster

Every server publishes what must reach other servers on Redis pub/sub channels and subscribes to
what concerns it, in the wire format of Node's ``@socket.io/redis-adapter`` 8 (``createAdapter``,
see :mod:`jupyter_rt.adapters.redis_wire`): Node ``socket.io`` servers using that adapter, Node's
``@socket.io/redis-emitter`` and :class:`jupyter_rt.emitter.Emitter` share rooms with jupyter_rt
servers under the same prefix (default ``socket.io``).

Across servers: broadcasts (``to``, ``except_``, ``socket.broadcast``), broadcasts with acks
(``call``), ``sockets_join``/``sockets_leave``, ``disconnect_sockets``, ``fetch_sockets`` (remote
sockets come back as :class:`~jupyter_rt.server.RemoteSocket`), ``server_side_emit`` and
``server_side_call`` (Node's ``serverSideEmitWithAck``), ``adapter.all_rooms()``. Requests that
wait for other servers' answers time out after ``request_timeout`` seconds
(:class:`ClusterTimeout`). Messages are msgpack data only; malformed or foreign messages on the
channels are dropped with a rate-limited warning.

Outages. Redis pub/sub delivers at most once and jupyter_rt adds no queue in Redis, so:

- While Redis is unreachable each server keeps serving its own sockets: local emits, broadcasts,
  acks and rooms work as without a cluster.
- What other servers should have received meanwhile is lost, not replayed later: broadcasts,
  joins, leaves and disconnects aimed at remote sockets, server-side emits, acks of remote
  clients. One error is logged when the outage starts and one warning when Redis is back (with
  how many messages were dropped), not one line per message.
- Requests that need answers (``fetch_sockets``, ``call``, ``server_side_call``,
  ``adapter.all_rooms()``) raise :class:`RedisUnavailable` at once.
- Subscriptions are made again by themselves (retrying with a backoff up to 2 s); what was
  published between Redis coming back and a server re-subscribing is lost for that server. An
  idle subscription is PINGed every ``health_check_interval`` seconds, so a Redis that hangs or
  vanishes without closing the connection is noticed too.
- Room membership lives in each server's memory, never in Redis: nothing needs resyncing.

Security: anyone who can publish on these channels can send events to every client, so Redis
must be private to the deployment; pick a ``prefix`` per deployment sharing a Redis. Messages
are data (msgpack, and JSON from Node), never code. Socket handshakes sent in ``fetch_sockets``
answers leave out cookies, authorization headers and ``token`` query arguments (and mask them
in ``url``), by the rule of :mod:`jupyter_rt._redact`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from jupyter_rt._redact import is_secret_header, is_secret_param, scrub_uri
from jupyter_rt._throttle import LogThrottle
from jupyter_rt.adapters.redis_wire import (
    DEFAULT_PREFIX,
    Channels,
    Request,
    RequestType,
    Response,
    SocketDetails,
    WireError,
    decode_broadcast,
    decode_request,
    decode_response,
    encode_broadcast,
    encode_request,
    encode_response,
    new_id,
    pack,
)
from jupyter_rt.errors import (
    ClusterError,
    ClusterTimeout,
    LimitExceeded,
    RedisUnavailable,
)
from jupyter_rt.protocol.socketio import Packet
from jupyter_rt.server._util import ack_args, ack_value
from jupyter_rt.server.adapter import Adapter, BroadcastOptions
from jupyter_rt.server.socket import RemoteSocket, SocketHandshake

if TYPE_CHECKING:
    from jupyter_rt.server.namespace import Namespace
    from jupyter_rt.server.socket import Socket, SocketHandle

__all__ = [
    "ClusterError",
    "ClusterTimeout",
    "RedisAdapter",
    "RedisAdapterFactory",
    "RedisUnavailable",
]

log = logging.getLogger("jupyter_rt.redis")

_MAX_QUEUE = 10_000
"""Messages waiting to be published; past it (Redis slow or away) new ones are dropped."""
_MAX_BATCH = 256
_PROBE_INTERVAL = 0.5
"""While Redis is down, try publishing at most this often; messages between tries are dropped."""
_MAX_BACKOFF = 2.0


def _where(url: str) -> str:
    """``host:port/db`` of a Redis URL, without credentials (for logs)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        return f"{host}:{parts.port or 6379}{parts.path or ''}"
    except ValueError:
        return "redis"


class _Tasks:
    """Tasks kept alive until they end (the loop keeps only weak references)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


_closing = _Tasks()
"""Links closing after their last namespace closed."""


class _Link:
    """One server's connection to Redis, shared by its namespaces' adapters.

    A writer task publishes queued messages in order (pipelined); a reader task holds the
    subscriptions and dispatches messages; both survive Redis going away.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        sub_client: aioredis.Redis,
        *,
        owns_clients: bool,
        where: str,
        on_closed: Callable[[], None],
        health_check_interval: float = 10.0,
    ) -> None:
        self.client = client
        self.health_check_interval = health_check_interval
        self._sub_client = sub_client
        self._owns_clients = owns_clients
        self.where = where
        self._on_closed = on_closed
        self.channels: dict[str, Callable[[str, bytes], None]] = {}
        self.patterns: dict[str, Callable[[str, bytes], None]] = {}
        self.users = 0
        self.warner = LogThrottle(log)
        """Dropped channel messages: one warning a minute, saying how many were not logged."""
        self._queue: deque[tuple[str, bytes, asyncio.Future[int] | None]] = deque()
        self._wakeup: asyncio.Event | None = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._pubsub: Any = None
        self._subscribed: set[str] = set()
        self._psubscribed: set[str] = set()
        self._confirmed: set[str] = set()
        self._confirm_event: asyncio.Event | None = None
        self._sub_lock: asyncio.Lock | None = None
        self._closed = False
        self.down = False
        self._down_since = 0.0
        self._dropped = 0
        self._next_probe = 0.0
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> bool:
        """Start the tasks if a loop runs (idempotent); ``False`` when none runs yet."""
        if self._reader is not None or self._closed:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._wakeup = asyncio.Event()
        self._confirm_event = asyncio.Event()
        self._sub_lock = asyncio.Lock()
        self._reader = loop.create_task(self._read_loop(), name="jupyter_rt redis reader")
        self._writer = loop.create_task(self._write_loop(), name="jupyter_rt redis writer")
        if self._queue:
            self._wakeup.set()
        return True

    async def aclose(self) -> None:
        """Stop the tasks and close the connections (pending publishes are dropped)."""
        if self._closed:
            return
        self._closed = True
        self._on_closed()
        tasks = [t for t in (self._reader, self._writer, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._fail_queue(RedisUnavailable("the Redis adapter is closed"))
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        if self._owns_clients:
            for client in (self.client, self._sub_client):
                with contextlib.suppress(Exception):
                    await client.aclose()

    # -- health -------------------------------------------------------------------------------

    def failed(self, what: str, exc: BaseException) -> None:
        """Something failed on Redis: log the outage once."""
        if self.down:
            log.debug("Redis %s failed again: %r", what, exc)
            return
        self.down = True
        self._down_since = time.monotonic()
        self._dropped = 0
        log.error(
            "Redis at %s is unreachable (%s failed: %s: %s); cross-server messages are dropped "
            "until it is back, local sockets are still served",
            self.where,
            what,
            type(exc).__name__,
            exc,
        )

    def recovered(self) -> None:
        if not self.down:
            return
        self.down = False
        log.warning(
            "Redis at %s is back after %.1f s; %d cross-server messages were dropped meanwhile",
            self.where,
            time.monotonic() - self._down_since,
            self._dropped,
        )

    def unavailable(self) -> RedisUnavailable:
        return RedisUnavailable(f"Redis at {self.where} is unreachable")

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, channel: str, payload: bytes) -> None:
        """Queue ``payload`` for ``channel``; published in order, dropped if Redis is away."""
        self._enqueue(channel, payload, None)

    async def publish_wait(self, channel: str, payload: bytes) -> int:
        """Publish and wait; returns how many subscribers got it. Raises RedisUnavailable."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._enqueue(channel, payload, future)
        return await future

    def _enqueue(self, channel: str, payload: bytes, future: asyncio.Future[int] | None) -> None:
        if self._closed:
            if future is not None:
                future.set_exception(RedisUnavailable("the Redis adapter is closed"))
            return
        if len(self._queue) >= _MAX_QUEUE:
            self._dropped += 1
            self.failed("publish", OverflowError(f"{_MAX_QUEUE} messages waiting"))
            if future is not None:
                future.set_exception(self.unavailable())
            return
        self._queue.append((channel, payload, future))
        if self._wakeup is not None:
            self._wakeup.set()
        else:
            self.start()

    def _fail_queue(self, exc: BaseException) -> None:
        queue = self._queue
        while queue:
            _, _, future = queue.popleft()
            if future is not None and not future.done():
                future.set_exception(exc)

    async def _write_loop(self) -> None:
        assert self._wakeup is not None
        wakeup = self._wakeup
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            if not queue:
                wakeup.clear()
                await wakeup.wait()
                continue
            batch = [queue.popleft() for _ in range(min(len(queue), _MAX_BATCH))]
            if self.down and loop.time() < self._next_probe:
                self._drop(batch)
                continue
            try:
                try:
                    results = await self._send(batch)
                except redis.exceptions.ConnectionError:
                    if self.down:
                        raise
                    # A pooled connection Redis closed while idle: try once on a fresh one.
                    results = await self._send(batch)
            except asyncio.CancelledError:
                self._drop(batch)
                raise
            except Exception as exc:
                self.failed("publish", exc)
                self._next_probe = loop.time() + _PROBE_INTERVAL
                self._drop(batch)
                continue
            self.recovered()
            for (_, _, future), result in zip(batch, results, strict=False):
                if future is not None and not future.done():
                    future.set_result(int(result) if isinstance(result, int) else 0)

    async def _send(self, batch: list[tuple[str, bytes, asyncio.Future[int] | None]]) -> list[Any]:
        if len(batch) == 1:
            return [await self.client.publish(batch[0][0], batch[0][1])]
        pipe = self.client.pipeline(transaction=False)
        for channel, payload, _ in batch:
            pipe.publish(channel, payload)
        return list(await pipe.execute())

    def _drop(self, batch: list[tuple[str, bytes, asyncio.Future[int] | None]]) -> None:
        self._dropped += len(batch)
        for _, _, future in batch:
            if future is not None and not future.done():
                future.set_exception(self.unavailable())

    async def numsub(self, channel: str, timeout: float) -> int:
        """Subscribers of ``channel`` (the servers of a namespace). Raises RedisUnavailable."""
        try:
            try:
                result = await asyncio.wait_for(self.client.pubsub_numsub(channel), timeout)
            except redis.exceptions.ConnectionError:
                if self.down:
                    raise
                result = await asyncio.wait_for(self.client.pubsub_numsub(channel), timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failed("PUBSUB NUMSUB", exc)
            raise self.unavailable() from exc
        self.recovered()
        for _, count in result:
            return int(count)
        return 0

    # -- subscriptions ------------------------------------------------------------------------

    def subscribe(
        self,
        channels: dict[str, Callable[[str, bytes], None]],
        patterns: dict[str, Callable[[str, bytes], None]],
    ) -> None:
        """Route messages of ``channels`` and ``patterns`` to their handlers."""
        self.channels.update(channels)
        self.patterns.update(patterns)
        self._sync_soon()

    def unsubscribe(self, channels: Iterable[str], patterns: Iterable[str]) -> None:
        for name in channels:
            self.channels.pop(name, None)
        for name in patterns:
            self.patterns.pop(name, None)
        self._sync_soon()

    def _sync_soon(self) -> None:
        if self._reader is None:
            self.start()
            return
        if self._pubsub is not None and not self._closed:
            self.spawn(self._sync(self._pubsub))

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run ``coroutine`` in a task kept alive until it ends."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _sync(self, pubsub: Any) -> None:
        """Make ``pubsub``'s subscriptions match what the adapters want."""
        assert self._sub_lock is not None
        async with self._sub_lock:
            if pubsub is not self._pubsub:
                return
            try:
                new = [c for c in self.channels if c not in self._subscribed]
                if new:
                    await pubsub.subscribe(*new)
                    self._subscribed.update(new)
                new = [p for p in self.patterns if p not in self._psubscribed]
                if new:
                    await pubsub.psubscribe(*new)
                    self._psubscribed.update(new)
                old = [c for c in self._subscribed if c not in self.channels]
                if old:
                    self._subscribed.difference_update(old)
                    await pubsub.unsubscribe(*old)
                old = [p for p in self._psubscribed if p not in self.patterns]
                if old:
                    self._psubscribed.difference_update(old)
                    await pubsub.punsubscribe(*old)
            except Exception as exc:  # the reader sees the broken connection and starts over
                self.failed("subscribe", exc)

    async def wait_subscribed(self, names: Iterable[str], timeout: float) -> None:
        """Wait until Redis confirmed the subscriptions ``names``; raises RedisUnavailable."""
        if not self.start():
            raise RuntimeError("no running event loop")
        assert self._confirm_event is not None
        wanted = set(names)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not wanted <= self._confirmed:
            self._confirm_event.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self.unavailable()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._confirm_event.wait(), remaining)

    async def _read_loop(self) -> None:
        delay = 0.05
        while not self._closed:
            if not self.channels and not self.patterns:
                await asyncio.sleep(0.05)
                continue
            pubsub: Any = self._sub_client.pubsub()
            self._pubsub = pubsub
            self._subscribed = set()
            self._psubscribed = set()
            self._confirmed = set()
            try:
                await self._sync(pubsub)
                if not self._subscribed and not self._psubscribed:
                    raise ConnectionError("could not subscribe")
                await self._read(pubsub)
                delay = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failed("subscription", exc)
            finally:
                if self._pubsub is pubsub:
                    self._pubsub = None
                self._confirmed = set()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)

    async def _read(self, pubsub: Any) -> None:
        """Dispatch messages until the connection breaks; PING it when idle, so a Redis that
        stopped answering (hung, or gone without closing the connection) is noticed."""
        waiting_for_pong = False
        while True:
            message = await pubsub.get_message(timeout=self.health_check_interval)
            if message is None:
                if waiting_for_pong:
                    raise ConnectionError(
                        f"Redis did not answer a PING within {self.health_check_interval} s"
                    )
                await pubsub.ping()
                waiting_for_pong = True
                continue
            waiting_for_pong = False
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if isinstance(kind, bytes):
            kind = kind.decode()
        raw_channel = message.get("channel")
        channel = (
            raw_channel.decode("utf-8", "replace")
            if isinstance(raw_channel, bytes)
            else str(raw_channel)
        )
        if kind == "pmessage":
            raw_pattern = message.get("pattern")
            pattern = (
                raw_pattern.decode("utf-8", "replace")
                if isinstance(raw_pattern, bytes)
                else str(raw_pattern)
            )
            handler = self.patterns.get(pattern)
        elif kind == "message":
            handler = self.channels.get(channel)
        elif kind in ("subscribe", "psubscribe"):
            self._confirmed.add(channel)
            self.recovered()
            if self._confirm_event is not None:
                self._confirm_event.set()
            return
        elif kind in ("unsubscribe", "punsubscribe"):
            self._confirmed.discard(channel)
            return
        else:
            return
        data = message.get("data")
        if handler is None or not isinstance(data, bytes):
            return
        try:
            handler(channel, data)
        except WireError as exc:
            self.warner.log(
                logging.WARNING,
                "dropped",
                "Dropping a malformed message on Redis channel %s: %s",
                channel,
                exc,
            )
        except Exception as exc:
            self.warner.log(
                logging.WARNING,
                "dropped",
                "Dropping a message on Redis channel %s: %s: %s",
                channel,
                type(exc).__name__,
                exc,
            )


class RedisAdapterFactory:
    """Builds a :class:`RedisAdapter` per namespace; pass it as ``Server(adapter=...)``.

    Each :class:`~jupyter_rt.server.Server` using it gets its own Redis connections (one for
    subscriptions, a pool for the rest), shared by its namespaces.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: aioredis.Redis | None = None,
        prefix: str = DEFAULT_PREFIX,
        request_timeout: float = 5.0,
        publish_on_specific_response_channel: bool = False,
        health_check_interval: float = 10.0,
    ) -> None:
        if (url is None) == (client is None):
            raise ValueError("give a Redis url or a redis.asyncio client")
        if not prefix:
            raise ValueError("the channel prefix cannot be empty")
        self.url = url
        self.client = client
        self.prefix = prefix
        self.request_timeout = request_timeout
        self.publish_on_specific_response_channel = publish_on_specific_response_channel
        self.health_check_interval = health_check_interval
        self._links: dict[int, _Link] = {}

    def __repr__(self) -> str:
        return f"<RedisAdapterFactory {self.where} prefix={self.prefix!r}>"

    @property
    def where(self) -> str:
        """``host:port/db`` of the Redis server, without credentials (for logs)."""
        if self.url is not None:
            return _where(self.url)
        kwargs = getattr(getattr(self.client, "connection_pool", None), "connection_kwargs", {})
        return f"{kwargs.get('host', 'redis')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"

    def __call__(self, nsp: Namespace) -> RedisAdapter:
        key = id(nsp.server)
        link = self._links.get(key)
        if link is None:
            link = self._links[key] = self._new_link(key)
        return RedisAdapter(nsp, link, self)

    def _new_link(self, key: int) -> _Link:
        def forget() -> None:
            self._links.pop(key, None)

        if self.url is not None:
            common: dict[str, Any] = {
                "retry": Retry(NoBackoff(), 0),
                "socket_connect_timeout": self.request_timeout,
                "socket_keepalive": True,
            }
            client = aioredis.Redis.from_url(
                self.url, socket_timeout=self.request_timeout, **common
            )
            sub_client = aioredis.Redis.from_url(
                self.url, socket_timeout=self.request_timeout, **common
            )
            return _Link(
                client,
                sub_client,
                owns_clients=True,
                where=self.where,
                on_closed=forget,
                health_check_interval=self.health_check_interval,
            )
        assert self.client is not None
        return _Link(
            self.client,
            self.client,
            owns_clients=False,
            where=self.where,
            on_closed=forget,
            health_check_interval=self.health_check_interval,
        )

    async def aclose(self) -> None:
        """Close every server's Redis connections."""
        for link in list(self._links.values()):
            await link.aclose()


@dataclasses.dataclass(slots=True)
class _Pending:
    """A request waiting for ``expected`` responses."""

    type: RequestType
    expected: int
    done: asyncio.Future[None]
    received: int = 0
    sockets: list[SocketDetails] = dataclasses.field(default_factory=list)
    sids: set[str] = dataclasses.field(default_factory=set)
    rooms: set[str] = dataclasses.field(default_factory=set)
    acks: list[Any] = dataclasses.field(default_factory=list)

    def add(self, response: Response) -> None:
        if self.type == RequestType.SERVER_SIDE_EMIT:
            if response.type != RequestType.SERVER_SIDE_EMIT:
                return
            self.acks.append(ack_value(response.ack))
        elif self.type == RequestType.REMOTE_FETCH:
            for item in response.sockets or ():
                if isinstance(item, SocketDetails):
                    self.sockets.append(item)
        elif self.type == RequestType.SOCKETS:
            for item in response.sockets or ():
                if isinstance(item, str):
                    self.sids.add(item)
        elif self.type == RequestType.ALL_ROOMS:
            self.rooms.update(response.rooms or ())
        self.received += 1
        if self.received >= self.expected and not self.done.done():
            self.done.set_result(None)


@dataclasses.dataclass(slots=True)
class _AckRequest:
    client_count: Callable[[int], None]
    ack: Callable[[list[Any]], None]


def _public_handshake(socket: Socket) -> dict[str, Any]:
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
    """The adapter of one namespace in a Redis cluster (see the module docstring).

    Build it through :meth:`factory`. Local operations happen at once; their remote part is
    published in order. ``uid`` identifies this server on the channels.
    """

    def __init__(self, nsp: Namespace, link: _Link, factory: RedisAdapterFactory) -> None:
        super().__init__(nsp)
        self._link = link
        self._factory = factory
        self.uid = new_id()
        self.channels = Channels(factory.prefix, nsp.name)
        self.request_timeout = factory.request_timeout
        self._specific = factory.publish_on_specific_response_channel
        self._requests: dict[str, _Pending] = {}
        self._ack_requests: dict[str, _AckRequest] = {}
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
        for pending in self._requests.values():
            if not pending.done.done():
                pending.done.cancel()
        self._requests.clear()
        self._ack_requests.clear()
        self._link.users -= 1
        return self._link.users <= 0

    def close(self) -> None:
        """Unsubscribe; the server's Redis connections close (in the background) with its
        last namespace."""
        if self._release():
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop any more: nothing is running on the connections either
            _closing.spawn(self._link.aclose())

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
            super().broadcast(packet, opts)
            return
        packet = self._own(packet)
        message = encode_broadcast(self.uid, packet, opts)
        super().broadcast(packet, opts)
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
            request_id = new_id()
            payload = encode_request(
                Request(
                    RequestType.BROADCAST,
                    uid=self.uid,
                    request_id=request_id,
                    opts=opts,
                    packet=packet,
                )
            )
            self._ack_requests[request_id] = _AckRequest(client_count_callback, ack)
            timeout = opts.flags.timeout
            asyncio.get_running_loop().call_later(
                self.request_timeout if timeout is None else timeout,
                self._ack_requests.pop,
                request_id,
                None,
            )
            self._link.publish(self.channels.request, payload)
        super().broadcast_with_ack(packet, opts, client_count_callback, ack)

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
        Adapter.broadcast(self, packet, message.opts)

    # -- requests -----------------------------------------------------------------------------

    async def _request(self, rtype: RequestType, expected: int, **fields: Any) -> _Pending:
        """Publish a request and wait for ``expected`` responses; raises ClusterError."""
        request_id = new_id()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending = _Pending(rtype, expected, done)
        self._requests[request_id] = pending
        request = Request(rtype, uid=self.uid, request_id=request_id, **fields)
        try:
            await self._link.publish_wait(self.channels.request, encode_request(request))
            await asyncio.wait_for(asyncio.shield(done), self.request_timeout)
        except asyncio.TimeoutError:
            raise ClusterTimeout(
                f"{rtype.name.lower()}: {pending.received} of {expected} servers answered "
                f"within {self.request_timeout} s",
                pending.acks,
            ) from None
        finally:
            self._requests.pop(request_id, None)
        return pending

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketHandle]:
        """Local sockets, then the other servers' as RemoteSocket (raises ClusterError)."""
        local = await super().fetch_sockets(opts)
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
        super().add_sockets(opts, rooms)
        if not opts.flags.local:
            self._publish_request(Request(RequestType.REMOTE_JOIN, opts=opts, rooms=tuple(rooms)))

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = list(rooms)
        super().del_sockets(opts, rooms)
        if not opts.flags.local:
            self._publish_request(Request(RequestType.REMOTE_LEAVE, opts=opts, rooms=tuple(rooms)))

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        super().disconnect_sockets(opts, close)
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
        count = await self.server_count() - 1
        if count <= 0:
            return []
        request_id = new_id()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending = _Pending(RequestType.SERVER_SIDE_EMIT, count, done)
        self._requests[request_id] = pending
        request = Request(
            RequestType.SERVER_SIDE_EMIT, uid=self.uid, request_id=request_id, data=list(packet)
        )
        limit = self.request_timeout if timeout is None else timeout
        try:
            await self._link.publish_wait(self.channels.request, encode_request(request))
            await asyncio.wait_for(asyncio.shield(done), limit)
        except asyncio.TimeoutError:
            raise ClusterTimeout(
                f"server_side_emit: {len(pending.acks)} of {count} servers answered "
                f"within {limit} s",
                list(pending.acks),
            ) from None
        finally:
            self._requests.pop(request_id, None)
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
            if mine or (rid is not None and rid in self._ack_requests):
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
                self.nsp._on_server_side_emit(request.data)
            else:
                self._server_side_with_ack(request, rid, request.data)

    def _apply_remote(self, request: Request, opts: BroadcastOptions) -> None:
        rtype = request.type
        if rtype == RequestType.REMOTE_JOIN:
            Adapter.add_sockets(self, opts, request.rooms)
        elif rtype == RequestType.REMOTE_LEAVE:
            Adapter.del_sockets(self, opts, request.rooms)
        else:
            Adapter.disconnect_sockets(self, opts, request.close)

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
        for socket in self._apply(opts):
            data: Any = socket.data
            try:
                pack(data)
            except TypeError as exc:
                log.warning(
                    "fetch_sockets: the data of socket %s cannot be sent: %s", socket.id, exc
                )
                data = None
            out.append(
                SocketDetails(socket.id, _public_handshake(socket), tuple(socket.rooms), data)
            )
        return tuple(out)

    def _on_broadcast_request(self, request: Request) -> None:
        assert request.packet is not None and request.opts is not None
        rid = request.request_id
        packet = self._own(request.packet)
        if rid is None:
            Adapter.broadcast(self, packet, request.opts)
            return

        def client_count(count: int) -> None:
            response = Response(rid, RequestType.BROADCAST_CLIENT_COUNT, client_count=count)
            self._respond(request, response)

        def ack(args: list[Any]) -> None:
            try:
                self._respond(request, Response(rid, RequestType.BROADCAST_ACK, ack=list(args)))
            except TypeError as exc:
                log.warning("Cannot send an ack through Redis: %s", exc)

        Adapter.broadcast_with_ack(self, packet, request.opts, client_count, ack)

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

        self.nsp._on_server_side_emit(data, answer)

    def _on_response(self, channel: str, data: bytes) -> None:
        response = decode_response(data)
        rid = response.request_id
        ack_request = self._ack_requests.get(rid)
        if ack_request is not None:
            if response.type == RequestType.BROADCAST_CLIENT_COUNT:
                ack_request.client_count(response.client_count or 0)
            elif response.type == RequestType.BROADCAST_ACK:
                ack_request.ack(response.ack)
            return
        pending = self._requests.get(rid)
        if pending is not None:
            pending.add(response)

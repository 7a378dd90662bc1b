"""The settings of a Redis Streams cluster and the factory ``Server(adapter=...)`` takes.

:class:`RedisStreamsAdapterFactory` makes one :class:`~jupyter_rt.adapters.redis.stream_link.
StreamLink` per server (its connections), shared by the
:class:`~jupyter_rt.adapters.redis.RedisStreamsAdapter` of each of its namespaces. The settings
and their defaults are those of Node's ``@socket.io/redis-streams-adapter``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from jupyter_rt.adapters.redis.link import RedisLink, where_of
from jupyter_rt.adapters.redis.stream_link import StreamLink
from jupyter_rt.adapters.redis.streams import RedisStreamsAdapter
from jupyter_rt.adapters.redis.streams_wire import DEFAULT_SESSION_KEY_PREFIX
from jupyter_rt.adapters.redis.wire import DEFAULT_PREFIX

if TYPE_CHECKING:
    from jupyter_rt.server.namespace import Namespace

__all__ = ["RedisStreamsAdapterFactory"]


class RedisStreamsAdapterFactory:
    """Builds a :class:`RedisStreamsAdapter` per namespace; pass it as ``Server(adapter=...)``.

    Node's options, in seconds where Node has milliseconds: ``stream_name`` (``streamName``),
    ``stream_count`` (``streamCount``: namespaces spread over that many streams),
    ``channel_prefix`` (``channelPrefix``), ``session_key_prefix`` (``sessionKeyPrefix``),
    ``max_len`` (``maxLen``: entries kept in a stream, trimmed approximately; a client that
    was away longer than they last gets a fresh session), ``read_count`` (``readCount``) and
    ``block_time`` (``blockTimeInMs``). Ours: ``request_timeout`` bounds requests to other
    servers and each Redis command; ``max_message_bytes`` is the largest entry, message or
    session read from Redis (larger ones are dropped with a warning). Give ``client`` (a
    ``redis.asyncio.Redis`` whose ``socket_timeout`` exceeds ``block_time``) instead of
    ``url`` to reuse your own connection settings.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: aioredis.Redis | None = None,
        stream_name: str = DEFAULT_PREFIX,
        stream_count: int = 1,
        channel_prefix: str = DEFAULT_PREFIX,
        session_key_prefix: str = DEFAULT_SESSION_KEY_PREFIX,
        max_len: int = 10_000,
        read_count: int = 100,
        block_time: float = 5.0,
        request_timeout: float = 5.0,
        max_message_bytes: int = 8 * 1024 * 1024,
        health_check_interval: float = 10.0,
    ) -> None:
        if (url is None) == (client is None):
            raise ValueError("give a Redis url or a redis.asyncio client")
        if not stream_name or not channel_prefix or not session_key_prefix:
            raise ValueError("the stream name and the prefixes cannot be empty")
        if stream_count < 1 or max_len < 1 or read_count < 1 or max_message_bytes < 1:
            raise ValueError("stream_count, max_len, read_count and max_message_bytes are >= 1")
        self.url = url
        self.client = client
        self.stream_name = stream_name
        self.stream_count = stream_count
        self.channel_prefix = channel_prefix
        self.session_key_prefix = session_key_prefix
        self.max_len = max_len
        self.read_count = read_count
        self.block_time = block_time
        self.request_timeout = request_timeout
        self.max_message_bytes = max_message_bytes
        self.health_check_interval = health_check_interval
        self._links: dict[int, StreamLink] = {}

    def __repr__(self) -> str:
        return f"<RedisStreamsAdapterFactory {self.where} stream={self.stream_name!r}>"

    @property
    def where(self) -> str:
        """``host:port/db`` of the Redis server, without credentials (for logs)."""
        if self.url is not None:
            return where_of(self.url)
        kwargs = getattr(getattr(self.client, "connection_pool", None), "connection_kwargs", {})
        return f"{kwargs.get('host', 'redis')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"

    def __call__(self, nsp: Namespace) -> RedisStreamsAdapter:
        key = id(nsp.server)
        link = self._links.get(key)
        if link is None or link.pubsub.closed:
            link = self._links[key] = self._new_link(key)
        return RedisStreamsAdapter(nsp, link, self)

    def _new_link(self, key: int) -> StreamLink:
        def forget() -> None:
            self._links.pop(key, None)

        if self.url is None:
            assert self.client is not None
            pubsub = RedisLink(
                self.client,
                self.client,
                owns_clients=False,
                where=self.where,
                on_closed=forget,
                health_check_interval=self.health_check_interval,
            )
            return self._stream_link(self.client, self.client, pubsub, ())
        common: dict[str, Any] = {
            "retry": Retry(NoBackoff(), 0),
            "socket_connect_timeout": self.request_timeout,
            "socket_keepalive": True,
        }
        timeout = self.request_timeout
        client = aioredis.Redis.from_url(self.url, socket_timeout=timeout, **common)
        reader = aioredis.Redis.from_url(
            self.url, socket_timeout=self.block_time + timeout, **common
        )
        subscriber = aioredis.Redis.from_url(self.url, socket_timeout=timeout, **common)
        pubsub = RedisLink(
            client,
            subscriber,
            owns_clients=False,
            where=self.where,
            on_closed=forget,
            health_check_interval=self.health_check_interval,
        )
        return self._stream_link(client, reader, pubsub, (client, reader, subscriber))

    def _stream_link(
        self,
        client: aioredis.Redis,
        reader: aioredis.Redis,
        pubsub: RedisLink,
        owned: tuple[aioredis.Redis, ...],
    ) -> StreamLink:
        return StreamLink(
            client,
            reader,
            pubsub,
            max_len=self.max_len,
            read_count=self.read_count,
            block_time=self.block_time,
            max_message_bytes=self.max_message_bytes,
            owned=owned,
        )

    async def aclose(self) -> None:
        """Close every server's Redis connections."""
        for link in list(self._links.values()):
            await link.aclose(self.request_timeout)

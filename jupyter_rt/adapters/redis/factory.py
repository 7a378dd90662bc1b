"""The configuration of a Redis cluster and the factory ``Server(adapter=...)`` takes.

:class:`RedisAdapterFactory` holds the settings (URL or client, channel prefix, timeouts) and
makes one :class:`~jupyter_rt.adapters.redis.link.RedisLink` per server, shared by the
:class:`~jupyter_rt.adapters.redis.RedisAdapter` of each of its namespaces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from jupyter_rt.adapters.redis.adapter import RedisAdapter
from jupyter_rt.adapters.redis.link import RedisLink, where_of
from jupyter_rt.adapters.redis.wire import DEFAULT_PREFIX

if TYPE_CHECKING:
    from jupyter_rt.server.namespace import Namespace

__all__ = ["RedisAdapterFactory"]


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
        self._links: dict[int, RedisLink] = {}

    def __repr__(self) -> str:
        return f"<RedisAdapterFactory {self.where} prefix={self.prefix!r}>"

    @property
    def where(self) -> str:
        """``host:port/db`` of the Redis server, without credentials (for logs)."""
        if self.url is not None:
            return where_of(self.url)
        kwargs = getattr(getattr(self.client, "connection_pool", None), "connection_kwargs", {})
        return f"{kwargs.get('host', 'redis')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"

    def __call__(self, nsp: Namespace) -> RedisAdapter:
        key = id(nsp.server)
        link = self._links.get(key)
        if link is None:
            link = self._links[key] = self._new_link(key)
        return RedisAdapter(nsp, link, self)

    def _new_link(self, key: int) -> RedisLink:
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
            return RedisLink(
                client,
                sub_client,
                owns_clients=True,
                where=self.where,
                on_closed=forget,
                health_check_interval=self.health_check_interval,
            )
        assert self.client is not None
        return RedisLink(
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

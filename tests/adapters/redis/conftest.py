"""Fixtures for the Redis adapter tests: a redis-server, cluster servers, clients."""

from __future__ import annotations

from tests.adapters.redis.fixtures import own_redis, peers, prefix, start_servers

__all__ = ["own_redis", "peers", "prefix", "start_servers"]

"""Fixtures for the Redis adapter tests: a redis-server, cluster servers, clients."""

from __future__ import annotations

from tests.adapters.redis.fixtures import (
    cluster_adapter,
    own_redis,
    peers,
    persistent_redis,
    prefix,
    start_servers,
)

__all__ = ["cluster_adapter", "own_redis", "peers", "persistent_redis", "prefix", "start_servers"]

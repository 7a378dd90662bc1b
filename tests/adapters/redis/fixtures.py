"""Fixtures for the Redis tests (used by ``conftest.py`` here and ``test_emitter.py``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.redis.support import ClusterServer, Peer, unique_prefix
from tests.helpers import Process, RedisServer, require_binary, require_node_packages


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server for this test alone (tests that stop and restart it)."""
    server = RedisServer(require_binary("redis-server")).start()
    yield server
    server.stop()


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for this test alone that keeps every acknowledged write across restarts
    (an append-only file, fsynced before each reply)."""
    server = RedisServer(require_binary("redis-server"), data_dir=tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def cluster_adapter() -> str:
    """The adapter of the cluster servers: ``"pubsub"``; a test module overrides it."""
    return "pubsub"


@pytest.fixture
def start_servers(
    spawn: Callable[..., Process], redis_server: RedisServer, prefix: str, cluster_adapter: str
) -> Callable[..., Any]:
    """``await start_servers("A", "B", kinds=("python", "node"))``: cluster servers sharing
    Redis (one kind for all with ``kind=``) on ``cluster_adapter``, once READY; ``recovery=True``
    turns connection state recovery on, ``ping`` sets the ping interval and timeout."""

    async def start(
        *names: str,
        kind: str = "python",
        kinds: tuple[str, ...] | None = None,
        redis_url: str | None = None,
        request_timeout: float = 2.0,
        specific_response_channel: bool = False,
        recovery: bool = False,
        ping: float = 0,
    ) -> list[ClusterServer]:
        kinds = kinds or (kind,) * len(names)
        if "node" in kinds:
            adapter_package = (
                "@socket.io/redis-streams-adapter"
                if cluster_adapter == "streams"
                else "@socket.io/redis-adapter"
            )
            require_node_packages("socket.io", adapter_package, "redis")
        servers = [
            ClusterServer(
                spawn,
                redis_url or redis_server.url,
                name,
                prefix=prefix,
                kind=server_kind,
                request_timeout=request_timeout,
                specific_response_channel=specific_response_channel,
                adapter=cluster_adapter,
                recovery=recovery,
                ping=ping,
            )
            for name, server_kind in zip(names, kinds, strict=True)
        ]
        await asyncio.gather(*(s.ready() for s in servers))
        return servers

    return start


@pytest.fixture
async def peers() -> AsyncIterator[Callable[..., Any]]:
    """``await peers(server, "/", "/chat")``: a connected client, closed at teardown."""
    made: list[Peer] = []

    async def make(server: ClusterServer, *namespaces: str, label: str | None = None) -> Peer:
        peer = Peer(server, label)
        made.append(peer)
        return await peer.connect(*namespaces)

    yield make
    for peer in made:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(peer.close(), 5)

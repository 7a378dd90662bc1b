"""The Redis adapter in one process: two Servers with fake sessions on a real redis-server, and
the failure paths with no Redis at all."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import msgpack
import pytest
import redis.asyncio as aioredis

from jupyter_rt.adapters.redis import (
    ClusterTimeout,
    RedisAdapter,
    RedisAdapterFactory,
    RedisUnavailable,
)
from jupyter_rt.server import Server
from jupyter_rt.testing import wait_until
from tests.helpers import free_port
from tests.server.fakes import FakeSession


def adapter_of(io: Server, nsp: str = "/") -> RedisAdapter:
    adapter = io.of(nsp).adapter
    assert isinstance(adapter, RedisAdapter)
    return adapter


@pytest.fixture
async def cluster(redis_server, prefix):
    """Two Servers in this process sharing one factory (each gets its own connections)."""
    factory = RedisAdapter.factory(redis_server.url, prefix, request_timeout=1)
    servers = [Server(adapter=factory), Server(adapter=factory)]
    for io in servers:
        await io.ready()
    yield servers
    for io in servers:
        await io.close()
    await factory.aclose()


def connect(io: Server, nsp: str = "/", **handshake: Any) -> tuple[FakeSession, str]:
    session = FakeSession(io, **handshake).open()
    sid = session.connect(nsp)
    assert sid is not None
    return session, sid


@pytest.mark.redis
async def test_each_server_has_its_own_connection(cluster):
    a, b = cluster
    assert await adapter_of(a).server_count() == 2
    assert adapter_of(a).uid != adapter_of(b).uid
    assert adapter_of(a)._link is not adapter_of(b)._link


@pytest.mark.redis
async def test_broadcast_volatile_and_local(cluster):
    a, b = cluster
    sa, _ida = connect(a)
    sb, idb = connect(b)
    b.of("/").sockets[idb].join("room")
    a.to("room").emit("hello", 1)
    await wait_until(lambda: ["hello", 1] in sb.events())
    a.volatile.emit("vol")
    await wait_until(lambda: ["vol"] in sb.events())
    a.local.emit("only-here")
    await asyncio.sleep(0.2)
    assert ["only-here"] in sa.events()
    assert ["only-here"] not in sb.events()


@pytest.mark.redis
async def test_local_operations_are_not_published(cluster, redis_server, prefix):
    a, _ = cluster
    client = aioredis.Redis.from_url(redis_server.url)
    pubsub = client.pubsub()
    await pubsub.psubscribe(f"{prefix}*")
    await pubsub.get_message(timeout=1)
    try:
        a.local.emit("x")
        a.local.sockets_join("r")
        a.local.disconnect_sockets()
        a.to("r").emit("published")
        message = await pubsub.get_message(timeout=2)
        while message is not None and message["type"] != "pmessage":
            message = await pubsub.get_message(timeout=2)
        assert message is not None
        assert message["channel"] == f"{prefix}#/#r#".encode()
        assert msgpack.unpackb(message["data"])[1]["data"] == ["published"]
    finally:
        await pubsub.aclose()
        await client.aclose()


@pytest.mark.redis
async def test_fetch_sockets_returns_remote_handles(cluster):
    a, b = cluster
    connect(a)
    sb, idb = connect(b, headers={"cookie": "x=1", "user-agent": "t"})
    b.of("/").sockets[idb].data["k"] = "v"
    handles = await a.fetch_sockets()
    remote = next(h for h in handles if h.id == idb)
    assert type(remote).__name__ == "RemoteSocket"
    assert remote.data == {"k": "v"}
    assert idb in remote.rooms
    assert dict(remote.handshake.headers) == {"user-agent": "t"}
    assert remote.handshake.address == "127.0.0.1"
    remote.emit("direct", 2)
    await wait_until(lambda: ["direct", 2] in sb.events())
    remote.join("joined")
    await wait_until(lambda: "joined" in b.of("/").sockets[idb].rooms)
    remote.disconnect()
    await wait_until(lambda: idb not in b.of("/").sockets)


@pytest.mark.redis
async def test_server_side_emit_with_ack(cluster):
    a, b = cluster
    got = []

    @b.sockets.on("sum")
    def add(x, y):
        got.append((x, y))
        return x + y

    @b.sockets.on("async-echo")
    async def echo(value):
        await asyncio.sleep(0.01)
        return value

    @b.sockets.on("nothing")
    def nothing():
        return None

    @b.sockets.on("fails")
    def fails():
        raise RuntimeError("no answer")

    assert await a.server_side_call("sum", 2, 3) == [5]
    assert await a.of("/").server_side_call("async-echo", {"v": 1}) == [{"v": 1}]
    assert await a.server_side_call("nothing") == [None]
    a.server_side_emit("sum", 10, 20)
    await wait_until(lambda: (10, 20) in got)
    with pytest.raises(ClusterTimeout) as info:
        await a.server_side_call("nobody-listens", timeout=0.3)
    assert info.value.responses == []
    with pytest.raises(ClusterTimeout):
        await a.server_side_call("fails", timeout=0.3)


@pytest.mark.redis
async def test_ready_before_any_client_counts_and_receives(redis_server, prefix):
    factory = RedisAdapter.factory(redis_server.url, prefix, request_timeout=1)
    a = Server(adapter=factory)
    a.of("/chat")
    got: list[Any] = []
    a.of("/chat").on("hello", lambda *args: got.append(args))
    b = Server(adapter=factory)
    try:
        await asyncio.gather(a.ready(), b.ready())  # no client anywhere
        assert await b.of("/chat").adapter.server_count() == 2
        assert await b.of("/chat").server_side_call("hello", 1) == [None]
        assert got == [(1,)]
    finally:
        await a.close()
        await b.close()
    assert adapter_of(a)._link.closed  # close() awaited the connections


@pytest.mark.redis
async def test_all_rooms_and_all_sockets(cluster):
    a, b = cluster
    _, ida = connect(a)
    _, idb = connect(b)
    b.of("/").sockets[idb].join("far")
    assert {"far", ida, idb} <= await adapter_of(a).all_rooms()
    assert await adapter_of(a).all_sockets(["far"]) == {idb}
    assert await adapter_of(a).all_sockets() == {ida, idb}
    rooms = await a.of("/").fetch_rooms()  # Socket.IO 0.9's manager.rooms, cluster-wide
    assert sorted(rooms[""]) == sorted([ida, idb])
    assert rooms["/far"] == [idb]


@pytest.mark.redis
async def test_broadcast_call_across_in_process_servers(cluster):
    a, b = cluster
    _, _ida = connect(a)
    sb, idb = connect(b)
    b.of("/").sockets[idb].join("q")

    async def answer_when_asked() -> None:
        await wait_until(lambda: any(p.id is not None for p in sb.packets()))
        packet = next(p for p in sb.packets() if p.id is not None)
        sb.receive(f'3{packet.id}["yes"]')

    task = asyncio.ensure_future(answer_when_asked())
    assert await a.to("q").call("question", timeout=2) == ["yes"]
    await task


@pytest.mark.redis
def test_server_built_before_the_loop_starts(redis_server, prefix):
    factory = RedisAdapter.factory(redis_server.url, prefix)
    a = Server(adapter=factory)  # as in an app that builds its server at import time

    async def scenario() -> None:
        b = Server(adapter=factory)
        await b.ready()
        connect(b)
        sa, _ = connect(a)  # a's first connection starts its adapters (ready() never awaited)
        await adapter_of(a).ready()
        b.emit("hi")
        await wait_until(lambda: ["hi"] in sa.events())
        await a.close()
        await b.close()
        await factory.aclose()

    asyncio.run(scenario())


# -- without Redis --------------------------------------------------------------------------


async def test_no_redis_local_service_goes_on_and_one_error_is_logged(caplog, prefix):
    caplog.set_level(logging.DEBUG, logger="jupyter_rt")
    factory = RedisAdapter.factory(f"redis://127.0.0.1:{free_port()}/0", prefix, 0.5)
    io = Server(adapter=factory)
    session, sid = connect(io)
    io.of("/").sockets[sid].join("r")
    for i in range(200):
        io.to("r").emit("tick", i)
    assert len(session.events()) == 200
    await asyncio.sleep(1.0)
    adapter = adapter_of(io)
    assert not adapter.redis_available
    with pytest.raises(RedisUnavailable):
        await io.fetch_sockets()
    with pytest.raises(RedisUnavailable):
        await io.to("r").call("q", timeout=0.5)
    with pytest.raises(RedisUnavailable):
        await adapter.ready(timeout=0.3)
    with pytest.raises(RedisUnavailable):
        await io.ready()
    errors = [
        r for r in caplog.records if r.name == "jupyter_rt.redis" and r.levelno >= logging.ERROR
    ]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "unreachable" in errors[0].getMessage()
    await io.close()
    await factory.aclose()


async def test_fetch_local_only_needs_no_redis(prefix):
    factory = RedisAdapter.factory(f"redis://127.0.0.1:{free_port()}/0", prefix, 0.5)
    io = Server(adapter=factory)
    _, sid = connect(io)
    handles = await io.local.fetch_sockets()
    assert [h.id for h in handles] == [sid]
    await factory.aclose()


def test_factory_arguments():
    with pytest.raises(ValueError):
        RedisAdapterFactory()
    with pytest.raises(ValueError):
        RedisAdapterFactory("redis://x", client=aioredis.Redis())
    with pytest.raises(ValueError):
        RedisAdapter.factory("redis://x", prefix="")
    factory = RedisAdapter.factory("redis://:secret@example:6390/2")
    assert "secret" not in repr(factory)
    assert "example:6390/2" in repr(factory)


async def test_unpackable_broadcast_raises_before_sending(prefix):
    factory = RedisAdapter.factory(f"redis://127.0.0.1:{free_port()}/0", prefix, 0.5)
    io = Server(adapter=factory)
    session, _ = connect(io)
    with pytest.raises(TypeError):
        io.emit("x", {1, 2})
    assert session.events() == []
    await factory.aclose()


@pytest.mark.redis
@pytest.mark.slow
async def test_a_hung_redis_is_noticed_and_left_behind(own_redis, prefix, caplog):
    """Redis stops answering without closing connections (SIGSTOP): the idle PING notices it;
    once it answers again, the subscriptions work again."""
    import os
    import signal

    caplog.set_level(logging.INFO, logger="jupyter_rt")
    factory = RedisAdapter.factory(
        own_redis.url, prefix, request_timeout=0.5, health_check_interval=0.3
    )
    a, b = Server(adapter=factory), Server(adapter=factory)
    await asyncio.gather(adapter_of(a).ready(), adapter_of(b).ready())
    connect(a)
    sb, _ = connect(b)
    a.emit("before")
    await wait_until(lambda: ["before"] in sb.events())
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        await wait_until(lambda: not adapter_of(b).redis_available, timeout=5)
        b.emit("local-only")
        assert ["local-only"] in sb.events()
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    sent = itertools.count()

    def delivered() -> bool:
        if any(e[0] == "after" for e in sb.events()):
            return True
        a.emit("after", next(sent))
        return False

    await wait_until(delivered, 15, 0.1, "a delivery after Redis answered again")
    await wait_until(lambda: adapter_of(a).redis_available and adapter_of(b).redis_available)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("did not answer a PING" in m or "Timeout" in m for m in errors), errors
    await a.close()
    await b.close()
    await factory.aclose()


@pytest.mark.redis
async def test_dynamic_namespaces_across_servers(cluster):
    import re

    a, b = cluster
    for io in (a, b):
        io.of(re.compile(r"^/doc-\d+$"))
    sa, _ = connect(a, "/doc-1")
    sb, _ = connect(b, "/doc-1")
    other, _ = connect(b, "/doc-2")
    await adapter_of(a, "/doc-1").ready()
    await adapter_of(b, "/doc-1").ready()
    a.of("/doc-1").emit("edit", {"pos": 3})
    await wait_until(lambda: sb.events("/doc-1") == [["edit", {"pos": 3}]])
    assert sa.events("/doc-1") == [["edit", {"pos": 3}]]
    a.of(re.compile(r"^/doc-\d+$")).emit("to-all-docs")  # the parent: each local child
    await wait_until(lambda: ["to-all-docs"] in sb.events("/doc-1"))
    await asyncio.sleep(0.2)
    assert other.events("/doc-2") == []  # no /doc-2 on server a: nothing published for it


@pytest.mark.redis
async def test_binary_and_several_ack_arguments_cross(cluster):
    a, b = cluster
    sb, _ = connect(b)

    async def answer() -> None:
        await wait_until(lambda: any(p.id is not None for p in sb.packets()))
        packet = next(p for p in sb.packets() if p.id is not None)
        # a BINARY_ACK with two arguments, the second one binary
        sb.receive(f'61-{packet.id}["ok",{{"_placeholder":true,"num":0}}]', b"\x00\x01\xff")

    task = asyncio.ensure_future(answer())
    assert await a.call("question", timeout=2) == [("ok", b"\x00\x01\xff")]
    await task

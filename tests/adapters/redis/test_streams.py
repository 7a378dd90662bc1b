"""The Redis Streams adapter in one process: two Servers with fake sessions on a real
redis-server; recovery of a session on the other server; what Redis holds."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import msgpack
import pytest
import redis.asyncio as aioredis

from jupyter_rt.adapters.redis import RedisStreamsAdapter, RedisUnavailable
from jupyter_rt.server import Server
from jupyter_rt.testing import wait_until
from tests.helpers import free_port
from tests.server.fakes import FakeSession

pytestmark = pytest.mark.redis

CREDENTIAL = "user:ada"


def adapter_of(io: Server, nsp: str = "/") -> RedisStreamsAdapter:
    adapter = io.of(nsp).adapter
    assert isinstance(adapter, RedisStreamsAdapter)
    return adapter


def settings(prefix: str) -> dict[str, Any]:
    return {
        "stream_name": f"{prefix}-stream",
        "channel_prefix": prefix,
        "session_key_prefix": f"{prefix}:session:",
        "request_timeout": 2,
        "block_time": 1,
    }


@pytest.fixture
async def cluster(redis_server, prefix):
    """Two Servers with recovery on, in this process, sharing one factory."""
    factory = RedisStreamsAdapter.factory(redis_server.url, **settings(prefix))
    servers = [Server(adapter=factory, connection_state_recovery=True) for _ in range(2)]
    for io in servers:
        await io.ready()
    yield servers
    for io in servers:
        await io.close()
    await factory.aclose()


@pytest.fixture
async def redis_client(redis_server):
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


class Client:
    """One client as the official ones behave: it keeps its ``pid`` and the last offset it
    processed, and sends both when it connects again (to whichever server)."""

    def __init__(self, credential: str | None = CREDENTIAL) -> None:
        self.credential = credential
        self.pid: str | None = None
        self.offset: str | None = None
        self.session: FakeSession | None = None
        self.sid: str | None = None
        self.got: list[list[Any]] = []
        self._seen = 0

    async def connect(self, io: Server) -> dict[str, Any]:
        """Connect to ``io`` (recovering if it can); the CONNECT reply's data."""
        self.session = FakeSession(io, credential=self.credential).open()
        self._seen = 0
        auth = {"pid": self.pid, "offset": self.offset} if self.pid and self.offset else None
        self.session.receive("0" + (json.dumps(auth) if auth else ""))
        await wait_until(lambda: self._reply() is not None, 5)
        reply = self._reply()
        assert reply is not None
        self.sid, self.pid = reply["sid"], reply.get("pid")
        return reply

    def _reply(self) -> dict[str, Any] | None:
        assert self.session is not None
        for packet in self.session.packets():
            if packet.type == 0:
                assert isinstance(packet.data, dict)
                return packet.data
        return None

    def process(self) -> list[list[Any]]:
        """Events that came since the last call, offsets stripped and remembered."""
        assert self.session is not None
        events = self.session.events()
        new, self._seen = events[self._seen :], len(events)
        out = []
        for data in new:
            if isinstance(data[-1], str) and len(data) > 1:
                self.offset = data[-1]
                data = data[:-1]
            out.append(data)
        self.got.extend(out)
        return out

    async def wait_events(self, count: int, timeout: float = 5) -> list[list[Any]]:
        await wait_until(lambda: len(self.process()) >= 0 and len(self.got) >= count, timeout)
        return self.got

    def drop(self) -> None:
        """The transport closes under the client (a recoverable reason)."""
        assert self.session is not None
        self.session.close("transport close")


async def test_broadcasts_rooms_and_offsets_across_servers(cluster):
    a, b = cluster
    ca, cb = Client(), Client()
    await ca.connect(a)
    await cb.connect(b)
    b.of("/").sockets[cb.sid].join("room")
    a.to("room").emit("hello", 1)
    a.emit("all", {"x": [1, 2]}, b"\x00\xff")
    await cb.wait_events(2)
    assert cb.got == [["hello", 1], ["all", {"x": [1, 2]}, b"\x00\xff"]]
    await ca.wait_events(1)
    assert ca.got == [["all", {"x": [1, 2]}, b"\x00\xff"]]
    assert ca.offset == cb.offset  # one offset per broadcast: its stream entry id
    assert await adapter_of(a).server_count() == 2


async def test_a_client_that_drops_on_one_server_recovers_on_the_other(cluster):
    a, b = cluster
    client, other = Client(), Client()
    first = await client.connect(a)
    await other.connect(b)
    a.of("/").sockets[client.sid].join("news")
    a.of("/").sockets[client.sid].data["name"] = "ada"
    a.emit("seen", 0)
    await client.wait_events(1)
    client.drop()
    await asyncio.sleep(0.2)  # the session is written to Redis
    b.to("news").emit("missed", 1)
    b.except_("news").emit("not-for-news")
    await other.wait_events(2)  # so "missed 1" is in the stream before "missed 2"
    a.emit("missed", 2)
    other_sid = other.sid
    assert other_sid is not None
    b.to(other_sid).emit("for-other")
    b.to("elsewhere").emit("for-nobody")
    await other.wait_events(4)
    assert other.got == [["seen", 0], ["not-for-news"], ["missed", 2], ["for-other"]]
    again = await client.connect(b)
    assert again == {"sid": first["sid"], "pid": first["pid"]}
    socket = b.of("/").sockets[first["sid"]]
    assert socket.recovered is True
    assert socket.rooms == {first["sid"], "news"}
    assert socket.data == {"name": "ada"}
    await client.wait_events(3)
    b.emit("after")
    await client.wait_events(4)
    await asyncio.sleep(0.3)
    client.process()
    assert client.got == [["seen", 0], ["missed", 1], ["missed", 2], ["after"]]


async def stream_events(client: aioredis.Redis, stream: str, event: str) -> list[list[Any]]:
    """The arguments of the broadcasts of ``event`` in the stream, in its order."""
    out = []
    for _, fields in await client.xrange(stream):
        data = json.loads(fields.get(b"data", b"{}"))
        packet = data.get("packet", {}).get("data", [])
        if packet[:1] == [event]:
            out.append(packet[1:])
    return out


async def test_packets_sent_while_recovering_are_neither_lost_nor_doubled(
    cluster, redis_client, prefix
):
    a, b = cluster
    client = Client()
    await client.connect(a)
    a.emit("n", 0)
    await client.wait_events(1)
    client.drop()
    await asyncio.sleep(0.2)
    stop = asyncio.Event()

    async def keep_sending() -> None:
        n = 1
        while not stop.is_set():
            (a if n % 2 else b).emit("n", n)
            n += 1
            await asyncio.sleep(0.001)

    sender = asyncio.create_task(keep_sending())
    await asyncio.sleep(0.1)
    await client.connect(b)
    await asyncio.sleep(0.2)
    stop.set()
    await sender
    await asyncio.sleep(0.5)
    client.process()
    # Every broadcast once, in the stream's order (the one every server delivers in).
    assert client.got == [
        ["n", *args] for args in await stream_events(redis_client, f"{prefix}-stream", "n")
    ]
    assert len(client.got) > 10


async def test_what_cannot_be_recovered_gives_a_fresh_session(cluster, redis_client, prefix):
    a, b = cluster
    client = Client()
    first = await client.connect(a)
    a.emit("x")
    await client.wait_events(1)
    client.drop()
    await asyncio.sleep(0.2)
    # Another login with the same pid and offset: refused, the session stays for its owner.
    thief = Client(credential="user:eve")
    thief.pid, thief.offset = client.pid, client.offset
    stolen = await thief.connect(b)
    assert stolen["sid"] != first["sid"]
    # An offset that is not in the stream: a fresh session, the session still kept.
    liar = Client()
    liar.pid, liar.offset = client.pid, "1-0"
    assert (await liar.connect(b))["sid"] != first["sid"]
    assert await redis_client.exists(f"{prefix}:session:{client.pid}") == 1
    # The owner still comes back.
    assert (await client.connect(b))["sid"] == first["sid"]
    # Once recovered, the session is gone from Redis: a second use gives a fresh one.
    assert await redis_client.exists(f"{prefix}:session:{client.pid}") == 0


async def test_sessions_in_redis_hold_no_credential_and_expire(redis_server, redis_client, prefix):
    factory = RedisStreamsAdapter.factory(redis_server.url, **settings(prefix))
    io = Server(adapter=factory, connection_state_recovery=True, max_disconnection_duration=30)
    await io.ready()
    try:
        client = Client(credential="token:" + "f" * 64)
        await client.connect(io)
        io.emit("x")
        await client.wait_events(1)
        client.drop()
        key = f"{prefix}:session:{client.pid}"
        await wait_until(lambda: redis_client.exists(key), 5)
        raw = await redis_client.get(key)
        assert b"ffff" not in base64.b64decode(raw)
        stored = msgpack.unpackb(base64.b64decode(raw))
        assert stored["sid"] == client.sid and stored["pid"] == client.pid
        assert stored["rooms"] == [client.sid]
        assert stored["jrt"]["owner"].startswith("sealed-sha256:")
        assert 25_000 < await redis_client.pttl(key) <= 30_000
    finally:
        await io.close()
        await factory.aclose()


async def test_node_shaped_entries_and_sessions_are_understood(cluster, redis_client, prefix):
    """What a Node server on @socket.io/redis-streams-adapter writes: entries with JSON data
    and a packet without nsp, a session without jupyter_rt's fields."""
    a, b = cluster
    client = Client(credential=None)
    await client.connect(a)
    stream = f"{prefix}-stream"
    data = {"packet": {"type": 2, "data": ["from-node", 1]}, "opts": {"rooms": [], "except": []}}
    await redis_client.xadd(
        stream, {"uid": "nodeuid", "nsp": "/", "type": "3", "data": json.dumps(data)}
    )
    await client.wait_events(1)
    assert client.got == [["from-node", 1]]
    entry_id = client.offset
    assert entry_id is not None
    session = {"sid": "node-sid", "pid": "node-pid", "rooms": ["node-sid", "r"], "data": {"k": 1}}
    await redis_client.set(
        f"{prefix}:session:node-pid", base64.b64encode(msgpack.packb(session)), px=60_000
    )
    data = {"packet": {"type": 2, "data": ["to-r"]}, "opts": {"rooms": ["r"], "except": []}}
    await redis_client.xadd(
        stream, {"uid": "nodeuid", "nsp": "/", "type": "3", "data": json.dumps(data)}
    )
    returning = Client(credential=None)
    returning.pid, returning.offset = "node-pid", entry_id
    assert (await returning.connect(b))["sid"] == "node-sid"
    await returning.wait_events(1)
    assert returning.got == [["to-r"]]
    assert b.of("/").sockets["node-sid"].data == {"k": 1}


async def test_remote_joins_fetch_and_server_side_emits(cluster):
    a, b = cluster
    ca, cb = Client(), Client()
    await ca.connect(a)
    await cb.connect(b)
    a.in_(cb.sid).sockets_join("vip")
    await wait_until(lambda: "vip" in b.of("/").sockets[cb.sid].rooms, 5)
    handles = await a.fetch_sockets()
    assert {h.id for h in handles} == {ca.sid, cb.sid}
    assert "vip" in await adapter_of(a).all_rooms()
    got: list[Any] = []
    b.of("/").on("note", lambda *args: got.append(args))
    b.of("/").on("ask", lambda *args: "answer-b")
    a.of("/").server_side_emit("note", 1)
    await wait_until(lambda: got == [(1,)], 5)
    assert await a.of("/").server_side_call("ask") == ["answer-b"]
    a.in_("vip").disconnect_sockets()
    await wait_until(lambda: cb.sid not in b.of("/").sockets, 5)


async def test_malformed_and_oversized_entries_are_dropped(cluster, redis_client, prefix, caplog):
    a, _ = cluster
    client = Client()
    await client.connect(a)
    stream = f"{prefix}-stream"
    caplog.set_level(logging.WARNING, "jupyter_rt")
    for fields in (
        {"uid": "x", "nsp": "/", "type": "3", "data": "{not json"},
        {"uid": "x", "nsp": "/", "type": "3", "data": "////"},
        {"uid": "x", "nsp": "/", "type": "99"},
        {"uid": "x", "nsp": "/", "type": "3", "data": "[" * 100_000},
        {"uid": "x", "nsp": "/", "type": "3", "data": "{" + " " * (9 * 1024 * 1024) + "}"},
        {"nothing": "here"},
    ):
        await redis_client.xadd(stream, fields)
    a.emit("still-works")
    await client.wait_events(1)
    assert client.got == [["still-works"]]
    assert "Dropping a malformed entry" in caplog.text


async def test_without_redis_local_sockets_are_still_served(prefix):
    url = f"redis://127.0.0.1:{free_port()}/0"
    factory = RedisStreamsAdapter.factory(url, **settings(prefix))
    io = Server(adapter=factory, connection_state_recovery=True)
    with pytest.raises(RedisUnavailable):
        await io.ready()
    try:
        client = Client()
        await client.connect(io)
        io.emit("local")
        await client.wait_events(1)
        assert client.got == [["local"]]
        assert client.offset is None  # not in the stream: nothing to recover it from
    finally:
        await io.close()
        await factory.aclose()


async def test_a_server_shutting_down_leaves_its_sessions_to_the_others(redis_server, prefix):
    """A rolling restart: ``Server.close()`` disconnects its clients ("server shutting down",
    recoverable) and writes their sessions before its connections close."""
    factory = RedisStreamsAdapter.factory(redis_server.url, **settings(prefix))
    a, b = (Server(adapter=factory, connection_state_recovery=True) for _ in range(2))
    await a.ready()
    await b.ready()
    try:
        clients = [Client() for _ in range(20)]
        for client in clients:
            await client.connect(a)
            a.of("/").sockets[client.sid].join("team")
        a.emit("hello")
        for client in clients:
            await client.wait_events(1)
        await a.close()
        b.to("team").emit("while-away")
        await asyncio.sleep(0.2)
        for client in clients:
            sid = client.sid
            assert (await client.connect(b))["sid"] == sid
            await client.wait_events(2)
            assert client.got == [["hello"], ["while-away"]]
    finally:
        await a.close()
        await b.close()
        await factory.aclose()


@pytest.mark.parametrize(
    "value",
    [
        b"not base64 !",
        base64.b64encode(b"\xc1"),
        base64.b64encode(msgpack.packb([1, 2])),
        base64.b64encode(msgpack.packb({"sid": 1, "pid": "p"})),
        base64.b64encode(msgpack.packb({"sid": "s", "pid": "p", "rooms": [[1]]})),
        base64.b64encode(b"\xdd\xff\xff\xff\xff"),  # an array claiming 4 billion items
        b"A" * (9 * 1024 * 1024),  # over max_message_bytes
    ],
    ids=["base64", "msgpack", "list", "sid", "rooms", "huge-array", "oversized"],
)
async def test_a_malformed_session_in_redis_gives_a_fresh_session(
    cluster, redis_client, prefix, value, caplog
):
    a, b = cluster
    client = Client()
    first = await client.connect(a)
    a.emit("x")
    await client.wait_events(1)
    client.drop()
    key = f"{prefix}:session:{client.pid}"
    await wait_until(lambda: redis_client.exists(key), 5)
    await redis_client.set(key, value)
    caplog.set_level(logging.WARNING, "jupyter_rt")
    again = await client.connect(b)
    assert again["sid"] != first["sid"]
    assert "malformed session" in caplog.text
    b.emit("still-works")
    await client.wait_events(2)


async def test_garbage_on_the_channels_is_dropped_with_one_warning(
    cluster, redis_client, prefix, caplog
):
    a, b = cluster
    ca, cb = Client(), Client()
    await ca.connect(a)
    await cb.connect(b)
    caplog.set_level(logging.WARNING, "jupyter_rt")
    garbage = [
        b"",
        b"\x00\x01",
        b"{broken json",
        msgpack.packb({"uid": "x", "nsp": "/", "type": 99}),
        msgpack.packb({"uid": "x", "nsp": "/", "type": 3, "data": {"packet": "no"}}),
        msgpack.packb({"uid": "x", "nsp": "/", "type": 7, "data": {"requestId": "r"}}),
        msgpack.packb({"uid": "x", "nsp": "/", "type": 8, "data": {"sockets": 1}}),
        msgpack.packb({"uid": "x", "nsp": "/", "type": 9, "data": {"packet": [1]}}),
        b"\xdd\xff\xff\xff\xff",
        b"\x91" * 100_000,  # deeply nested arrays
        b"\xc4" + b"\x00" * (9 * 1024 * 1024),  # over max_message_bytes
    ]
    for channel in (f"{prefix}#/#", f"{prefix}#/#{adapter_of(a).uid}#"):
        for payload in garbage:
            await redis_client.publish(channel, payload)
    a.emit("still-works")
    await ca.wait_events(1)
    await cb.wait_events(1)
    assert len(await a.fetch_sockets()) == 2
    assert caplog.text.count("Dropping a malformed message") == 2  # once a minute per server
    assert ca.got == cb.got == [["still-works"]]


async def test_sessions_lost_while_redis_is_away_are_logged_once(own_redis, prefix, caplog):
    factory = RedisStreamsAdapter.factory(own_redis.url, **settings(prefix))
    io = Server(adapter=factory, connection_state_recovery=True)
    await io.ready()
    try:
        clients = [Client() for _ in range(5)]
        for client in clients:
            await client.connect(io)
        io.emit("x")
        for client in clients:
            await client.wait_events(1)
        own_redis.stop()
        caplog.set_level(logging.WARNING, "jupyter_rt")
        for client in clients:
            client.drop()
        await asyncio.sleep(0.3)
        for client in clients:  # Redis is away: fresh sessions, at once, nothing raised
            sid = client.sid
            assert (await client.connect(io))["sid"] != sid
        assert caplog.text.count("Cannot keep sessions for recovery") == 1
        assert caplog.text.count("Cannot restore sessions") == 1
        assert not [r for r in caplog.records if r.exc_info]
    finally:
        await io.close()
        await factory.aclose()

"""The Redis emitter: events from a process without sockets reach clients on every server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import msgpack
import pytest
import redis.asyncio as aioredis
import redis.exceptions

from jupyter_rt.adapters.redis import Emitter, SyncEmitter
from jupyter_rt.testing import wait_until
from tests.adapters.redis.fixtures import own_redis, peers, prefix, start_servers
from tests.adapters.redis.support import answer_is, log_of, rooms_of, settle
from tests.helpers import free_port, node_env, require_node_packages

__all__ = ["own_redis", "peers", "prefix", "start_servers"]

pytestmark = [pytest.mark.redis]


async def capture(url: str, pattern: str, action) -> list[tuple[str, Any]]:
    """Run ``action()`` and return what was published on channels matching ``pattern``."""
    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.psubscribe(pattern)
    await pubsub.get_message(timeout=1)
    try:
        await action()
        out = []
        while (message := await pubsub.get_message(timeout=0.5)) is not None:
            if message["type"] == "pmessage":
                out.append((message["channel"].decode(), msgpack.unpackb(message["data"])))
        return out
    finally:
        await pubsub.aclose()
        await client.aclose()


async def test_emitter_message_format(redis_server, prefix):
    async with Emitter(redis_server.url, prefix) as emitter:

        async def act() -> None:
            await emitter.to("room1").emit("ev", 1, b"\x00")
            await emitter.of("chat").except_(["x", "y"]).volatile.emit("ev2")
            await emitter.sockets_join("new")
            await emitter.to("a").disconnect_sockets(close=True)
            await emitter.server_side_emit("note", "hi")

        got = await capture(redis_server.url, f"{prefix}*", act)
    channels = [c for c, _ in got]
    assert channels == [
        f"{prefix}#/#room1#",
        f"{prefix}#/chat#",
        f"{prefix}-request#/#",
        f"{prefix}-request#/#",
        f"{prefix}-request#/#",
    ]
    assert got[0][1] == [
        "emitter",
        {"type": 2, "data": ["ev", 1, b"\x00"], "nsp": "/"},
        {"rooms": ["room1"], "except": [], "flags": {}},
    ]
    uid, packet, opts = got[1][1]
    assert uid == "emitter"
    assert packet["nsp"] == "/chat"
    assert sorted(opts["except"]) == ["x", "y"]
    assert opts["flags"] == {"volatile": True}
    assert got[2][1] == {
        "type": 2,
        "uid": "emitter",
        "opts": {"rooms": [], "except": []},
        "rooms": ["new"],
    }
    assert got[3][1]["type"] == 4 and got[3][1]["close"] is True
    assert got[4][1] == {"type": 6, "uid": "emitter", "data": ["note", "hi"]}


def test_reserved_and_bad_names_are_refused():
    emitter = SyncEmitter("redis://127.0.0.1:1/0")
    with pytest.raises(ValueError):
        emitter.emit("disconnect")
    with pytest.raises(TypeError):
        emitter.emit(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        emitter.to(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        emitter.server_side_emit("connection")
    with pytest.raises(TypeError):
        emitter.emit("ev", object())


@pytest.mark.slow
@pytest.mark.parametrize("kinds", [("python", "python"), ("python", "node")], ids=["py", "node"])
async def test_emitter_reaches_clients_on_every_server(start_servers, peers, prefix, kinds):
    a, b = await start_servers("A", "B", kinds=kinds)
    pa, pb = await asyncio.gather(peers(a, "/", "/chat"), peers(b, "/", "/chat"))
    outsider = await peers(b, label="outsider")
    await pa.ask("join", "news")
    await pb.ask("join", "news")
    await pb.ask("join", "quiet")
    async with Emitter(a.redis_url, prefix) as emitter:
        assert await emitter.to("news").emit("headline", "héllo", {"b": b"\x01\x02"}) >= 2
        await pa.wait_for("headline")
        assert await pb.wait_for("headline") == [["héllo", {"b": b"\x01\x02"}]]
        await emitter.to("news").except_("quiet").emit("filtered")
        await pa.wait_for("filtered")
        await emitter.of("/chat").emit("in-chat", 1)
        await pa.wait_for("in-chat", nsp="/chat")
        await pb.wait_for("in-chat", nsp="/chat")
        await settle()
        assert pb.got("filtered") == []
        assert outsider.got("headline") == []
        assert pb.got("in-chat") == []


@pytest.mark.slow
async def test_emitter_room_operations_and_server_side_emit(start_servers, peers, prefix):
    a, b = await start_servers("A", "B")
    pa, pb = await asyncio.gather(peers(a), peers(b))
    await pb.ask("join", "src")
    async with Emitter(a.redis_url, prefix) as emitter:
        await emitter.to("src").sockets_join("dst")
        await wait_until(answer_is(rooms_of(pb), lambda rooms: "dst" in rooms), 10, 0.05)
        assert "dst" not in await pa.ask("join", [])
        await emitter.to("src").sockets_leave("dst")
        await wait_until(answer_is(rooms_of(pb), lambda rooms: "dst" not in rooms), 10, 0.05)
        await emitter.server_side_emit("note", "from-emitter")
        for peer in (pa, pb):
            await wait_until(answer_is(log_of(peer), lambda log: log != []), 10, 0.05)
            assert await peer.ask("server-side-log") == [["/", "from-emitter"]]
        await emitter.to("src").disconnect_sockets()
        await pb.wait_disconnected()
        assert pa.sio.connected


@pytest.mark.slow
async def test_sync_emitter(start_servers, peers, prefix):
    (a,) = await start_servers("A")
    pa = await peers(a)
    await pa.ask("join", "r")

    def push() -> int:
        with SyncEmitter(a.redis_url, prefix) as emitter:
            return emitter.to("r").emit("progress", 0.5)

    assert await asyncio.to_thread(push) == 1
    assert await pa.wait_for("progress") == [[0.5]]


async def test_emitter_raises_when_redis_is_unreachable():
    emitter = Emitter(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(redis.exceptions.ConnectionError):
        await emitter.emit("ev")
    await emitter.aclose()


@pytest.mark.slow
@pytest.mark.node
@pytest.mark.interop
async def test_node_redis_emitter_reaches_jupyter_rt_clients(start_servers, peers, prefix):
    """Node's ``@socket.io/redis-emitter`` (JSON requests without uid, msgpack Dates)."""
    require_node_packages("@socket.io/redis-emitter", "redis")
    a, b = await start_servers("A", "B")
    pa, pb = await asyncio.gather(peers(a, "/", "/chat"), peers(b, "/", "/chat"))
    await pb.ask("join", "news")
    await pa.ask("join", "src")

    async def node_emit(*actions: dict[str, Any]) -> None:
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(Path(__file__).parent / "node_emitter.cjs"),
            a.redis_url,
            prefix,
            json.dumps(list(actions)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=node_env(),
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0 and b"DONE" in out, out.decode()

    await node_emit(
        {
            "op": "emit",
            "to": ["news"],
            "event": "headline",
            "args": [
                "héllo",
                {"$bin": "00ff"},
                {"at": {"$date": "2024-05-06T07:08:09.123Z"}, "n": 1.5},
            ],
        },
        {"op": "emit", "nsp": "/chat", "event": "in-chat", "args": [1]},
        {"op": "socketsJoin", "to": ["src"], "rooms": ["joined"]},
        {"op": "serverSideEmit", "event": "note", "args": ["from-node"]},
    )
    assert await pb.wait_for("headline") == [
        ["héllo", b"\x00\xff", {"at": "2024-05-06T07:08:09.123Z", "n": 1.5}]
    ]
    await pa.wait_for("in-chat", nsp="/chat")
    await pb.wait_for("in-chat", nsp="/chat")
    await wait_until(answer_is(rooms_of(pa), lambda rooms: "joined" in rooms), 10, 0.05)
    assert "joined" not in await pb.ask("join", [])
    await wait_until(answer_is(lambda: pa.ask("server-side-log"), lambda log: log != []), 10, 0.05)
    assert await pa.ask("server-side-log") == [["/", "from-node"]]
    await settle()
    assert pa.got("headline") == []
    await node_emit({"op": "disconnectSockets", "to": ["src"]})
    await pa.wait_disconnected()
    assert pb.sio.connected

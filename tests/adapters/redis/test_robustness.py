"""Foreign and malformed messages on the channels: dropped with one warning, never a crash."""

from __future__ import annotations

import asyncio
import json
import pickle
import re

import msgpack
import pytest
import redis.asyncio as aioredis

from tests.adapters.redis.support import settle

pytestmark = [pytest.mark.redis, pytest.mark.slow]


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


GARBAGE = [
    b"",
    b"\x00\x01\x02",
    pickle.dumps(_Evil()),
    b"{broken json",
    json.dumps({"type": 2, "opts": "nope"}).encode(),
    json.dumps({"type": 99}).encode(),
    msgpack.packb(["uid", {"type": 2, "data": ["connect"]}, {}]),
    msgpack.packb(["uid", {"type": 2, "data": ["x"], "nsp": "/"}, {"rooms": [[1]]}]),
    msgpack.packb(["uid", {"type": 2, "data": [1]}, {}]),
    msgpack.packb({"requestId": 5}),
    msgpack.packb([1, 2, 3]),
    b"\xdd\xff\xff\xff\xff",  # an array header claiming 4 billion items
    msgpack.packb(["uid", {"type": 2, "data": ["x", float("nan")], "nsp": "/"}, {}]),
    msgpack.packb(["uid", {"type": 2, "data": ["x", {(1, 2): 3}], "nsp": "/"}, {}]),
]


async def test_garbage_on_every_channel_is_dropped(start_servers, peers, redis_server, prefix):
    a, b = await start_servers("A", "B")
    pa, pb = await asyncio.gather(peers(a), peers(b))
    await pb.ask("join", "r")
    client = aioredis.Redis.from_url(redis_server.url)
    channels = [
        f"{prefix}#/#",
        f"{prefix}#/#r#",
        f"{prefix}-request#/#",
        f"{prefix}-response#/#",
    ]
    try:
        for _ in range(5):
            for channel in channels:
                for payload in GARBAGE:
                    await client.publish(channel, payload)
    finally:
        await client.aclose()
    await settle(0.5)
    await pa.ask("emit-to", {"rooms": ["r"], "event": "still-works", "args": []})
    await pb.wait_for("still-works")
    assert len(await pa.ask("fetch", {})) == 2
    for server in (a, b):
        output = server.output()
        assert server.process.running
        assert "unpickled!" not in output
        assert "Traceback" not in output
        warnings = re.findall(r"WARNING jupyter_rt\.redis: Dropping", output)
        assert len(warnings) == 1, output[-3000:]
    # nothing reached the clients
    assert [e for _, e, _ in pb.events if e not in ("still-works",)] == []


async def test_other_prefixes_and_namespaces_are_ignored(
    start_servers, peers, redis_server, prefix
):
    (a,) = await start_servers("A")
    pa = await peers(a)
    client = aioredis.Redis.from_url(redis_server.url)
    opts: dict[str, list[str]] = {"rooms": [], "except": []}
    for_chat = msgpack.packb(["someone", {"type": 2, "data": ["wrong"], "nsp": "/chat"}, opts])
    for_root = msgpack.packb(["someone", {"type": 2, "data": ["wrong"], "nsp": "/"}, opts])
    try:
        await client.publish(f"{prefix}#/#", for_chat)  # another namespace inside the packet
        await client.publish(f"other-{prefix}#/#", for_root)  # another prefix
        await client.publish(f"{prefix}#/#nobody-here#", for_root)  # a room with no member
    finally:
        await client.aclose()
    await settle(0.5)
    assert pa.events == []
    assert "WARNING" not in a.output()

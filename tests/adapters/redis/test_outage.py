"""Redis killed and restarted mid-stream: servers keep serving, then deliver across again."""

from __future__ import annotations

import asyncio
import re

import pytest

from jupyter_rt.testing import wait_until
from tests.adapters.redis.support import ClusterServer, settle

pytestmark = [pytest.mark.redis, pytest.mark.slow]


async def until_delivered(sender, receiver, event: str, timeout: float = 20) -> int:
    """Emit ``event`` (numbered) from ``sender`` to room ``r`` until ``receiver`` gets one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    index = 0
    while loop.time() < deadline:
        await sender.ask("emit-to", {"rooms": ["r"], "event": event, "args": [index]})
        index += 1
        try:
            await receiver.wait_for(event, timeout=0.25)
            return index
        except AssertionError:
            continue
    raise AssertionError(f"{event!r} never crossed after {timeout} s")


async def logged(servers, pattern: str, count: int = 1, timeout: float = 20) -> None:
    """Wait until each server's output holds ``count`` lines matching ``pattern``."""
    await wait_until(
        lambda: all(len(re.findall(pattern, s.output())) >= count for s in servers),
        timeout,
        0.05,
        f"{count} x {pattern!r} in each server's output",
    )


UNREACHABLE = r"ERROR jupyter_rt\.redis: .* is unreachable"
BACK = r"WARNING jupyter_rt\.redis: .* is back after"


async def test_servers_survive_a_redis_restart(own_redis, start_servers, peers):
    a, b = await start_servers("A", "B", redis_url=own_redis.url)
    pa, pa2, pb = await asyncio.gather(peers(a), peers(a), peers(b))
    for peer in (pa, pa2, pb):
        await peer.ask("join", "r")
    await pa.ask("emit-to", {"rooms": ["r"], "event": "before", "args": [0]})
    await pb.wait_for("before")

    own_redis.stop()
    await logged((a, b), UNREACHABLE)  # both servers noticed
    for i in range(30):  # local sockets are still served, with no error flood
        await pa.ask("emit-to", {"rooms": ["r"], "event": "during", "args": [i]})
        await pb.ask("emit-to", {"rooms": ["r"], "event": "during-b", "args": [i]})
    assert len(await pa2.wait_for("during", count=30)) == 30
    assert len(await pb.wait_for("during-b", count=30)) == 30
    fetched = await pa.ask("fetch", {"rooms": ["r"]})
    assert fetched["error"] == "RedisUnavailable"
    called = await pa.ask("call", {"rooms": ["r"], "event": "answer", "args": [], "timeout": 1})
    assert called["error"] == "RedisUnavailable"
    await settle(1.0)
    assert pb.got("during") == []
    assert pa.got("during-b") == []

    own_redis.start()
    await until_delivered(pa, pb, "after")
    await until_delivered(pb, pa, "after-b")
    # Once back, everything crosses again, in order.
    for i in range(20):
        await pa.ask("emit-to", {"rooms": ["r"], "event": "steady", "args": [i]})
    assert [args[0] for args in await pb.wait_for("steady", count=20)] == list(range(20))
    fetched = await pa.ask("fetch", {"rooms": ["r"]})
    assert {s["id"] for s in fetched} == {pa.sid(), pa2.sid(), pb.sid()}

    for server in (a, b):
        assert server.process.running, server.output()[-2000:]
        output = server.output()
        assert len(re.findall(r"ERROR jupyter_rt\.redis: Redis at .* is unreachable", output)) == 1
        assert len(re.findall(r"WARNING jupyter_rt\.redis: Redis at .* is back", output)) == 1
        assert "Traceback" not in output


async def test_two_outages_are_logged_once_each(own_redis, start_servers, peers):
    (a, b) = await start_servers("A", "B", redis_url=own_redis.url)
    pa, pb = await asyncio.gather(peers(a), peers(b))
    for peer in (pa, pb):
        await peer.ask("join", "r")
    for round_ in range(2):
        own_redis.stop()
        for i in range(10):
            await pa.ask("emit-to", {"rooms": ["r"], "event": f"lost{round_}", "args": [i]})
        await logged((a, b), UNREACHABLE, count=round_ + 1)
        own_redis.start()
        await until_delivered(pa, pb, f"back{round_}")
    for server in (a, b):
        output = server.output()
        assert len(re.findall(r"ERROR jupyter_rt\.redis: .* is unreachable", output)) == 2, output
        assert len(re.findall(r"WARNING jupyter_rt\.redis: .* is back after", output)) == 2, output


async def test_a_server_started_while_redis_is_down_joins_later(
    own_redis, start_servers, peers, spawn, prefix
):
    own_redis.stop()
    late = ClusterServer(spawn, own_redis.url, "late", prefix=prefix)
    await logged((late,), UNREACHABLE)  # it tried, and keeps running
    assert late.process.running, late.output()
    own_redis.start()
    await late.ready(timeout=30)
    (other,) = await start_servers("other", redis_url=own_redis.url)
    pl, po = await asyncio.gather(peers(late), peers(other))
    for peer in (pl, po):
        await peer.ask("join", "r")
    await until_delivered(po, pl, "hello")
    await until_delivered(pl, po, "hello-back")


async def test_a_quiet_outage_leaves_no_stale_connection(own_redis, start_servers, peers):
    a, b = await start_servers("A", "B", redis_url=own_redis.url)
    pa, pb = await asyncio.gather(peers(a), peers(b))
    for peer in (pa, pb):
        await peer.ask("join", "r")
    assert len(await pa.ask("fetch", {})) == 2
    own_redis.stop()
    await logged((a, b), UNREACHABLE)
    own_redis.start()
    await logged((a, b), BACK)  # resubscribed; nothing was published meanwhile
    await pa.ask("emit-to", {"rooms": ["r"], "event": "first", "args": []})
    await pb.wait_for("first")
    assert len(await pa.ask("fetch", {})) == 2
    for server in (a, b):
        output = server.output()
        assert len(re.findall(r"ERROR jupyter_rt\.redis: .* is unreachable", output)) == 1, output
        assert len(re.findall(r"WARNING jupyter_rt\.redis: .* is back after", output)) == 1, output

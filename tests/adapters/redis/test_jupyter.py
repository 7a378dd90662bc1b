"""Two real ``jupyter server`` processes with ``c.RealtimeApp.redis_url``: one chat across them."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest
import socketio

from jupyter_rt.adapters.redis import ClusterError, RedisAdapter
from jupyter_rt.server import Server
from jupyter_rt.testing import JupyterServer, wait_until
from tests.adapters.redis.support import unique_prefix
from tests.adapters.redis.test_streams_cluster import check_recovered
from tests.helpers import RedisServer, jupyter_server, require_binary
from tests.interop.support import run_scenario

pytestmark = [pytest.mark.redis, pytest.mark.jupyter, pytest.mark.slow]


PROBE = ["tests.adapters.redis.jupyter_probe:setup"]


def start_jupyter(
    spawn, tmp_path: Path, name: str, redis_url: str, *, apps=None, prefix=None
) -> JupyterServer:
    """Launch (not waiting for it) a Jupyter server on ``redis_url``, in ``tmp_path/name``."""
    traits = {"RealtimeApp.redis_url": redis_url}
    if prefix is not None:
        traits["RealtimeApp.redis_prefix"] = prefix
    return jupyter_server(spawn, tmp_path / name, apps=apps, traits=traits).launch()


async def chat_client(port: int, token: str, inbox: list[Any]) -> socketio.AsyncClient:
    sio = socketio.AsyncClient(reconnection=False)

    def on_message(data: Any) -> None:
        inbox.append(data)

    sio.on("message", on_message, namespace="/chat")
    await sio.connect(
        f"http://127.0.0.1:{port}",
        headers={"Authorization": f"token {token}"},
        namespaces=["/chat"],
        transports=["websocket"],
        wait_timeout=10,
    )
    return sio


async def test_one_chat_across_two_jupyter_servers(own_redis, spawn, tmp_path):
    one = start_jupyter(spawn, tmp_path, "one", own_redis.url)
    two = start_jupyter(spawn, tmp_path, "two", own_redis.url)
    await asyncio.gather(*(asyncio.to_thread(s.wait_ready, 60) for s in (one, two)))
    got1: list[Any] = []
    got2: list[Any] = []
    c1 = await chat_client(one.port, one.token, got1)
    c2 = await chat_client(two.port, two.token, got2)
    sent = itertools.count()

    async def crossed() -> bool:
        # Pub/sub is at-most-once: resend until one crosses.
        if any("across" in str(m) for m in got2):
            return True
        text = f"across {next(sent)}"
        await c1.emit("message", {"room": "Lobby", "text": text}, namespace="/chat")
        return False

    try:
        await wait_until(crossed, 20, 0.2, lambda: f"nothing crossed; server two got {got2}")
        await c2.emit("message", {"room": "Lobby", "text": "and back"}, namespace="/chat")
        await wait_until(
            lambda: any("and back" in str(m) for m in got1),
            20,
            0.05,
            lambda: f"nothing came back; server one got {got1}",
        )
    finally:
        await c1.disconnect()
        await c2.disconnect()


async def cluster_answers(io: Server, want: int, timeout: float = 30) -> list[Any]:
    """``whoami`` answers from the other servers, once ``want`` of them answer."""
    answers: list[Any] = []

    async def enough() -> list[Any] | None:
        nonlocal answers
        try:
            answers = await io.server_side_call("whoami", timeout=1)
        except ClusterError:
            answers = []
        return answers if len(answers) >= want else None

    return await wait_until(enough, timeout, 0.2, lambda: f"only {answers} answered")


async def test_servers_join_the_cluster_at_start_before_any_client(own_redis, spawn, tmp_path):
    prefix = unique_prefix()
    started = [
        start_jupyter(spawn, tmp_path, name, own_redis.url, apps=PROBE, prefix=prefix)
        for name in ("one", "two")
    ]
    await asyncio.gather(*(asyncio.to_thread(s.wait_ready, 60) for s in started))
    io = Server(adapter=RedisAdapter.factory(own_redis.url, prefix, request_timeout=2))
    try:
        await io.ready()
        # No client ever connected to the Jupyter servers: they subscribed at start.
        answers = await cluster_answers(io, 2)
        assert len(set(answers)) == 2 and all(a.startswith("jupyter-") for a in answers)
        assert await io.sockets.adapter.server_count() == 3
    finally:
        await io.close()
    # Another prefix is another cluster.
    other = Server(adapter=RedisAdapter.factory(own_redis.url, unique_prefix(), 2))
    try:
        await other.ready()
        assert await other.sockets.adapter.server_count() == 1
        assert await other.server_side_call("whoami") == []
    finally:
        await other.close()


async def test_redis_down_at_start_is_logged_and_joined_later(spawn, tmp_path):
    redis = RedisServer(require_binary("redis-server"))  # not started yet
    prefix = unique_prefix()
    jupyter = start_jupyter(spawn, tmp_path, "early", redis.url, apps=PROBE, prefix=prefix)
    try:
        await jupyter.process.await_output(r"Redis at \S+ is not reachable yet", timeout=60)
        await asyncio.to_thread(redis.start)
        io = Server(adapter=RedisAdapter.factory(redis.url, prefix, request_timeout=2))
        try:
            await io.ready()
            answers = await cluster_answers(io, 1)
            assert answers[0].startswith("jupyter-")
        finally:
            await io.close()
    finally:
        redis.stop()


@pytest.mark.node
async def test_recovery_across_two_jupyter_servers_on_redis_streams(own_redis, spawn, tmp_path):
    """Two Jupyter servers with ``redis_adapter = "streams"`` and recovery on, the same token
    (so the same credentials), behind a balancer: the official JS client dropped by one comes
    back to the other with its id, rooms, data and the events it missed."""
    token = "shared-" + unique_prefix()
    traits = {
        "RealtimeApp.redis_url": own_redis.url,
        "RealtimeApp.redis_adapter": "streams",
        "RealtimeApp.redis_prefix": unique_prefix(),
        "RealtimeApp.connection_state_recovery": True,
        "RealtimeApp.ping_interval": 1,
        "RealtimeApp.ping_timeout": 1,
    }
    servers = []
    for name in ("A", "B"):
        server = jupyter_server(
            spawn,
            tmp_path / name,
            apps=["tests.adapters.redis.cluster_app:setup"],
            traits=traits,
            env={"JRT_CLUSTER_NAME": name},
            token=token,
        )
        servers.append(server.launch())
    await asyncio.gather(*(asyncio.to_thread(s.wait_ready, 60) for s in servers))
    a, b = servers
    r = await asyncio.to_thread(
        run_scenario,
        "recovery-across-servers",
        f"{a.url}?token={token}",
        other=f"{b.url}?token={token}",
        transport="websocket",
        timeout=40,
    )
    check_recovered(r, "B")

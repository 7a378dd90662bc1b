"""Two real ``jupyter server`` processes with ``c.RealtimeApp.redis_url``: one chat across them."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest
import socketio

from jupyter_rt.adapters.redis import ClusterError, RedisAdapter
from jupyter_rt.server import Server
from tests.adapters.redis.support import unique_prefix
from tests.helpers import REPO, Process, RedisServer, free_port, require_binary, wait_for_port

pytestmark = [pytest.mark.redis, pytest.mark.jupyter, pytest.mark.slow]


def start_jupyter(
    spawn, tmp_path: Path, name: str, redis_url: str, *extra: str
) -> tuple[int, str, Process]:
    port = free_port()
    token = secrets.token_hex(16)
    home = tmp_path / name
    (home / "root").mkdir(parents=True)
    env = dict(os.environ)
    env.update(
        {
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        }
    )
    return (
        port,
        token,
        spawn(
            [
                sys.executable,
                "-m",
                "jupyter",
                "server",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                f"--ServerApp.root_dir={home / 'root'}",
                f"--IdentityProvider.token={token}",
                "--allow-root",
                "--ServerApp.jpserver_extensions=jupyter_rt=True",
                f"--RealtimeApp.redis_url={redis_url}",
                *extra,
            ],
            name=f"jupyter-{name}",
            env=env,
            cwd=home,
        ),
    )


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
    (p1, t1, _), (p2, t2, _) = (
        start_jupyter(spawn, tmp_path, "one", own_redis.url),
        start_jupyter(spawn, tmp_path, "two", own_redis.url),
    )
    await asyncio.gather(
        asyncio.to_thread(wait_for_port, p1, timeout=60),
        asyncio.to_thread(wait_for_port, p2, timeout=60),
    )
    got1: list[Any] = []
    got2: list[Any] = []
    c1 = await chat_client(p1, t1, got1)
    c2 = await chat_client(p2, t2, got2)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        # Pub/sub is at-most-once: resend until one crosses.
        n = 0
        while not any("across" in str(m) for m in got2):
            assert loop.time() < deadline, f"nothing crossed; server two got {got2}"
            await c1.emit("message", {"room": "Lobby", "text": f"across {n}"}, namespace="/chat")
            n += 1
            await asyncio.sleep(0.2)
        await c2.emit("message", {"room": "Lobby", "text": "and back"}, namespace="/chat")
        while not any("and back" in str(m) for m in got1):
            assert loop.time() < deadline, f"nothing came back; server one got {got1}"
            await asyncio.sleep(0.05)
    finally:
        await c1.disconnect()
        await c2.disconnect()


PROBE = "--RealtimeApp.apps=tests.adapters.redis.jupyter_probe:setup"


async def cluster_answers(io: Server, want: int, timeout: float = 30) -> list[Any]:
    """``whoami`` answers from the other servers, once ``want`` of them answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    answers: list[Any] = []
    while True:
        try:
            answers = await io.server_side_call("whoami", timeout=1)
        except ClusterError:
            answers = []
        if len(answers) >= want:
            return answers
        assert loop.time() < deadline, f"only {answers} answered"
        await asyncio.sleep(0.2)


async def test_servers_join_the_cluster_at_start_before_any_client(own_redis, spawn, tmp_path):
    prefix = unique_prefix()
    started = [
        start_jupyter(
            spawn, tmp_path, name, own_redis.url, PROBE, f"--RealtimeApp.redis_prefix={prefix}"
        )
        for name in ("one", "two")
    ]
    await asyncio.gather(*(asyncio.to_thread(wait_for_port, p, timeout=60) for p, _, _ in started))
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
    _, _, jupyter = start_jupyter(
        spawn, tmp_path, "early", redis.url, PROBE, f"--RealtimeApp.redis_prefix={prefix}"
    )
    try:
        await jupyter.await_output(r"Redis at \S+ is not reachable yet", timeout=60)
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

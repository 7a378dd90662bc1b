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

from tests.helpers import REPO, free_port, wait_for_port

pytestmark = [pytest.mark.redis, pytest.mark.jupyter, pytest.mark.slow]


def start_jupyter(spawn, tmp_path: Path, name: str, redis_url: str) -> tuple[int, str]:
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
        ],
        name=f"jupyter-{name}",
        env=env,
        cwd=home,
    )
    return port, token


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
    (p1, t1), (p2, t2) = (
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
        # Each server subscribes when its first client connects: resend until it crosses.
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

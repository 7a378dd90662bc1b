"""The client against the reference implementation: Node's socket.io 4.8 server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import jupyter_rt
from jupyter_rt.client import AsyncClient
from jupyter_rt.testing import wait_until
from tests.helpers import Process, free_port, node_env

pytestmark = [pytest.mark.node, pytest.mark.interop]

SERVER = Path(__file__).with_name("node_server.cjs")


@pytest.fixture
def node_server(node_bin: str, node_dir: Path, spawn: Callable[..., Process]) -> str:
    port = free_port()
    process = spawn([node_bin, SERVER, str(port)], name="node-server", env=node_env())
    process.wait_for_output("READY", timeout=20)
    return f"http://127.0.0.1:{port}"


async def test_events_acks_binary_and_calls(node_server: str) -> None:
    client = AsyncClient(connect_timeout=5)

    @client.on("question")
    def question(text: str, blob: bytes) -> dict[str, Any]:
        return {"text": text, "blob": blob, "answer": 42}

    await client.connect(node_server, auth={"token": "t"})
    try:
        assert await client.call("whoami") == {"id": client.sid, "auth": {"token": "t"}}
        payload = {"bin": b"\x00\xff" * 100, "nested": [b"x", {"y": b""}]}
        assert await client.call("echo", payload, "two") == (payload, "two")
        answer = await client.call("ask", "life?")
        assert answer == {"text": "life?", "blob": b"\x01\x02\x03", "answer": 42}
        await asyncio.sleep(1.0)  # several of Node's pings, answered
        assert client.connected
        with pytest.raises(jupyter_rt.AckTimeout):
            await client.call("nobody-listens", timeout=0.3)
    finally:
        await client.disconnect()


async def test_reconnection_and_server_disconnect(node_server: str) -> None:
    client = AsyncClient(reconnection_delay=0.05, reconnection_delay_max=0.2)
    reasons: list[str] = []
    client.on("disconnect", reasons.append)
    await client.connect(node_server)
    first = client.sid
    await client.emit("drop")
    await wait_until(
        lambda: client.connected and client.sid != first, 5, 0.02, lambda: f"a new sid; {reasons}"
    )
    assert reasons == ["transport close"]
    await client.emit("kick")
    await asyncio.wait_for(client.wait(), 5)
    assert reasons == ["transport close", "io server disconnect"]


async def test_refusal_by_middleware(node_server: str) -> None:
    client = AsyncClient()
    with pytest.raises(jupyter_rt.ConnectionRefused) as info:
        await client.connect(node_server + "/refuse")
    assert info.value.message == "not you" and info.value.data == {"code": 7}

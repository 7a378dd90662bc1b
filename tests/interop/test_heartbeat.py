"""Heartbeat with short intervals (ping every 0.3 s, 0.5 s to answer), with both official clients.

A client that answers the server's pings stays connected however long it idles; one that stops
answering is dropped with the reason "ping timeout". A connection that never joins a namespace is
closed after the connect timeout (1 s here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import engineio
import pytest
import socketio

from tests.interop.support import ServerProcess, disconnects, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

BOTH = ["polling", "websocket"]


@pytest.fixture(scope="module")
def fast_ping_server() -> Iterator[ServerProcess]:
    server = ServerProcess(
        None, "--ping-interval", "0.3", "--ping-timeout", "0.5", "--connect-timeout", "1"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.node
@pytest.mark.parametrize("transport", BOTH)
def test_node_client_idles_through_pings(
    fast_ping_server: ServerProcess, tag: str, transport: str
) -> None:
    r = run_scenario("idle", fast_ping_server.url, tag=tag, transport=transport, idle=2000)
    # 0.3 s intervals over 2 s: the client saw the server's pings and answered them.
    assert r["pings"] >= 4
    assert r["reasons"] == []
    assert r["echo"] == ["still here"]
    assert r["transport"] == transport
    assert disconnects(fast_ping_server.log(tag)) in ([], ["client namespace disconnect"])


@pytest.mark.node
@pytest.mark.parametrize("transport", BOTH)
def test_silent_node_client_is_dropped_with_ping_timeout(
    fast_ping_server: ServerProcess, tag: str, transport: str
) -> None:
    run_scenario("freeze", fast_ping_server.url, tag=tag, transport=transport, freeze=2000)
    log = fast_ping_server.wait_log(tag, lambda e: bool(disconnects(e)), timeout=5)
    assert disconnects(log) == ["ping timeout"]


@pytest.mark.parametrize("transport", BOTH)
async def test_python_client_idles_through_pings(
    fast_ping_server: ServerProcess, tag: str, transport: str
) -> None:
    reasons: list[Any] = []
    sio = socketio.AsyncClient(reconnection=False)

    @sio.event
    def disconnect(reason: str) -> None:
        reasons.append(reason)

    await asyncio.wait_for(
        sio.connect(
            fast_ping_server.url, auth={"tag": tag}, transports=[transport], wait_timeout=5
        ),
        10,
    )
    try:
        await asyncio.sleep(2)
        assert reasons == []
        assert sio.connected
        assert await sio.call("echo", "still here", timeout=5) == "still here"
    finally:
        await asyncio.wait_for(sio.disconnect(), 5)
    assert "ping timeout" not in disconnects(fast_ping_server.log(tag))


@pytest.mark.parametrize("transport", BOTH)
async def test_connection_without_namespace_is_closed_after_connect_timeout(
    fast_ping_server: ServerProcess, transport: str
) -> None:
    # python-engineio's client opens an Engine.IO session and never sends a Socket.IO CONNECT.
    closed = asyncio.Event()
    eio = engineio.AsyncClient()

    @eio.on("disconnect")
    def on_disconnect(*args: Any) -> None:
        closed.set()

    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.wait_for(
        eio.connect(fast_ping_server.url, transports=[transport], engineio_path="socket.io"), 5
    )
    try:
        await asyncio.wait_for(closed.wait(), 5)
    finally:
        await asyncio.wait_for(eio.disconnect(), 5)
    # Answering pings does not keep it open: it is closed after about 1 s.
    assert 0.8 <= loop.time() - start < 4

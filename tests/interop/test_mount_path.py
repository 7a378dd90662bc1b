"""The server mounted under a prefix, as in a Jupyter server with a base_url."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import socketio

from tests.interop.support import ServerProcess, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

PATH = "/user/someone/socket.io"


@pytest.fixture(scope="module")
def prefixed_server() -> Iterator[ServerProcess]:
    server = ServerProcess(None, "--path", PATH + "/")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.node
@pytest.mark.parametrize("transport", ["polling", "websocket", "upgrade"])
def test_node_client_with_path(prefixed_server: ServerProcess, tag: str, transport: str) -> None:
    r = run_scenario("basic", prefixed_server.url, tag=tag, transport=transport, path=PATH)
    assert r["echo"] == [1, "two", {"three": [3, None, True]}]
    assert r["finalTransport"] == ("polling" if transport == "polling" else "websocket")


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_python_client_with_path(
    prefixed_server: ServerProcess, tag: str, transport: str
) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    await asyncio.wait_for(
        sio.connect(
            prefixed_server.url,
            socketio_path=PATH.lstrip("/"),
            auth={"tag": tag},
            transports=[transport],
            wait_timeout=5,
        ),
        10,
    )
    try:
        assert await sio.call("echo", "prefixed", timeout=5) == "prefixed"
    finally:
        await asyncio.wait_for(sio.disconnect(), 5)


async def test_default_path_is_not_served(prefixed_server: ServerProcess) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await asyncio.wait_for(sio.connect(prefixed_server.url, transports=["polling"]), 10)

"""The client's transports against a real jupyter_rt server: long-polling, the upgrade to a
WebSocket, WebSocket only; their limits; Jupyter's credentials on every request."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import jupyter_rt
from jupyter_rt.client import AsyncClient, Client, ConnectError
from jupyter_rt.client import _async as async_client
from jupyter_rt.testing import InProcessServer, JupyterServer, wait_until
from tests.helpers import jupyter_server

TRANSPORTS = [None, ["polling"], ["websocket"]]


def transports_id(transports: list[str] | None) -> str:
    return "upgrade" if transports is None else "+".join(transports)


by_transport = pytest.mark.parametrize("transports", TRANSPORTS, ids=transports_id)


class App:
    """Records each socket's transport at connection and what it receives; ``burst(n)`` makes
    it emit ``n`` numbered events, ``echo`` acks its arguments."""

    def __init__(self, io: jupyter_rt.Server) -> None:
        self.sockets: list[jupyter_rt.Socket] = []
        self.first_transports: list[str] = []
        self.notes: list[Any] = []
        io.on("connection", self.on_connection)

    def on_connection(self, socket: jupyter_rt.Socket) -> None:
        self.sockets.append(socket)
        self.first_transports.append(socket.transport)
        socket.on("echo", lambda *args: args)
        socket.on("note", self.notes.append)

        @socket.on("burst")
        async def burst(count: int, size: int = 0) -> None:
            for i in range(count):
                await socket.emit("n", i, "x" * size)


@by_transport
async def test_each_transport_carries_events_both_ways_in_order(
    rt_server: InProcessServer, transports: Any
) -> None:
    app = App(rt_server.io)
    client = AsyncClient()
    got: list[int] = []
    client.on("n", lambda i, _: got.append(i))
    await client.connect(rt_server.url, transports=transports)
    try:
        # Sent at once, across the upgrade when there is one: nothing lost, nothing reordered.
        sends = [client.emit("note", i) for i in range(200)]
        await client.emit("burst", 200)
        await asyncio.gather(*sends)
        await wait_until(lambda: len(got) == 200 and len(app.notes) == 200)
        assert got == list(range(200)) and app.notes == list(range(200))
        assert app.first_transports == [(transports or ["polling"])[0]]
        expected = "polling" if transports == ["polling"] else "websocket"
        await wait_until(lambda: client.transport == expected)
        assert app.sockets[0].transport == expected
        blob = bytes(range(256)) * 3
        assert await client.call("echo", {"b": blob}, b"") == ({"b": blob}, b"")
        await asyncio.sleep(1.5)  # the server pings every 0.5 s and waits 0.5 s
        assert client.connected and client.sid == app.sockets[0].id
        assert client.transport == expected
    finally:
        await client.disconnect()
    await wait_until(lambda: not app.sockets[0].connected, message="the server sees it go")


@pytest.mark.parametrize("rt_server_options", [{"transports": ("polling",)}])
async def test_stays_on_polling_when_the_server_offers_no_upgrade(
    rt_server: InProcessServer,
) -> None:
    App(rt_server.io)
    client = await rt_server.connect()
    await asyncio.sleep(0.3)
    assert client.transport == "polling"
    assert await client.call("echo", "still") == "still"
    with pytest.raises(ConnectError, match="HTTP 400"):
        await AsyncClient().connect(rt_server.url, transports=["websocket"])


@pytest.mark.parametrize("transports", [["polling"], None], ids=transports_id)
async def test_polling_sessions_come_back_after_a_drop(
    rt_server: InProcessServer, transports: Any
) -> None:
    app = App(rt_server.io)
    client = AsyncClient(reconnection_delay=0.05, reconnection_delay_max=0.1)
    reasons: list[str] = []
    client.on("disconnect", reasons.append)
    await client.connect(rt_server.url, transports=transports)
    try:
        rt_server.drop()  # the server's side: the pending GET is refused
        await wait_until(lambda: len(app.sockets) == 2 and client.connected)
        client.drop()  # the client's side
        await wait_until(lambda: len(app.sockets) == 3 and client.connected)
        assert reasons[1] == "transport close"
        assert not app.sockets[1].connected  # the server saw the dropped session go
        assert await client.call("echo", "back") == "back"
    finally:
        await client.disconnect()


async def test_polling_posts_stay_under_the_servers_max_payload() -> None:
    """Many sends at once go in few POSTs, none over ``maxPayload`` (the server would close the
    session), binary counted as the base64 it travels as."""
    async with InProcessServer(max_payload=1000) as server:
        app = App(server.io)
        client = await server.connect(transports=["polling"])
        reasons: list[str] = []
        client.on("disconnect", reasons.append)
        await asyncio.gather(*(client.emit("note", "y" * 90) for _ in range(100)))
        await client.emit("note", b"\x00" * 700)  # 700 bytes, 936 as base64
        with pytest.raises(ValueError, match="over the server's 1000"):
            await client.emit("note", b"\x00" * 800)  # fits a WebSocket, not a POST
        await wait_until(lambda: len(app.notes) == 101)
        assert app.notes[-1] == b"\x00" * 700 and reasons == [] and len(app.sockets) == 1


@by_transport
async def test_a_server_message_over_the_limit_closes_the_connection(
    rt_server: InProcessServer,
    transports: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a server can make the client hold is capped (64 MiB; 20 kB here): the
    connection is closed, the client comes back, the next messages arrive."""
    monkeypatch.setattr(async_client, "MAX_MESSAGE", 20_000)
    app = App(rt_server.io)
    client = AsyncClient(reconnection_delay=0.05)
    got: list[int] = []
    client.on("n", lambda i, _: got.append(i))
    await client.connect(rt_server.url, transports=transports)
    try:
        await wait_until(lambda: client.transport == (transports or ["websocket"])[-1])
        await client.emit("burst", 1, 30_000)
        await wait_until(lambda: len(app.sockets) == 2 and client.connected)
        assert got == []
        await client.emit("burst", 1, 10_000)
        await wait_until(lambda: got == [0])
    finally:
        await client.disconnect()


async def test_the_blocking_client_over_polling(rt_server: InProcessServer) -> None:
    App(rt_server.io)

    def scenario() -> tuple[Any, str | None]:
        with Client() as client:
            client.connect(rt_server.url, transports=["polling"])
            return client.call("echo", b"\x01", "two"), client.transport

    assert await asyncio.to_thread(scenario) == ((b"\x01", "two"), "polling")


# -- Jupyter's credentials --------------------------------------------------------------------


@pytest.mark.jupyter
@pytest.mark.slow
async def test_every_transport_through_jupyter_with_a_token(rt_jupyter: JupyterServer) -> None:
    """The token goes with every polling request and the WebSocket (no XSRF needed)."""

    async def join(transports: list[str] | None) -> None:
        client = AsyncClient()
        await client.connect(
            rt_jupyter.url,
            path=rt_jupyter.path,
            token=rt_jupyter.token,
            namespaces=["/hub"],
            transports=transports,
        )
        try:
            name = transports_id(transports)
            assert await client.call("join", name, namespace="/hub") == {"ok": True, "room": name}
            if transports is None:
                await wait_until(lambda: client.transport == "websocket")
        finally:
            await client.disconnect()

    for transports in TRANSPORTS:
        await join(transports)
    with pytest.raises(ConnectError, match="403"):
        await AsyncClient().connect(
            rt_jupyter.url, path=rt_jupyter.path, token="wrong", transports=["polling"]
        )


@pytest.mark.jupyter
@pytest.mark.slow
async def test_polling_on_a_jupyter_server_without_auth(spawn: Any, tmp_path: Path) -> None:
    """No token: POSTs carry a double-submit XSRF pair, as Jupyter wants of them."""
    server = jupyter_server(spawn, tmp_path)
    server.argv = [a for a in server.argv if not a.startswith("--IdentityProvider.token=")]
    server.argv.append("--IdentityProvider.token=")
    await asyncio.to_thread(server.start)
    client = AsyncClient()
    await client.connect(server.url, path=server.path, namespaces=["/hub"], transports=["polling"])
    try:
        assert await client.call("join", "open", namespace="/hub") == {"ok": True, "room": "open"}
    finally:
        await client.disconnect()

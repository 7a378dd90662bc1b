"""Memory that comes back: a crowd of WebSocket clients connects and leaves, and nothing of it
stays alive (``bench/soak.py`` measures the RSS of a real Jupyter server over minutes).

The handler sets Jupyter's ``CallContext`` in ``prepare`` as ``JupyterHandler`` does: a
WebSocket's transport must not run in (and keep) the request's context, which holds the handler
and through it the request, its headers, Tornado's connection and stream.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import weakref
from collections.abc import Awaitable
from typing import Any

from jupyter_server import CallContext
from tornado import web
from tornado.websocket import WebSocketClientConnection, websocket_connect

import jupyter_rt
import jupyter_rt._shrink
import jupyter_rt.transports
import jupyter_rt.transports.driver
from jupyter_rt.engine import EngineSession
from jupyter_rt.server import Socket
from jupyter_rt.server.server import Client
from jupyter_rt.testing import wait_until
from jupyter_rt.transports import EngineIOHandler, mount
from tests.helpers import free_port

CLIENTS = 60


class ContextHandler(EngineIOHandler):
    """An endpoint whose requests put their handler in a context variable, like Jupyter's."""

    handlers: weakref.WeakSet[ContextHandler] = weakref.WeakSet()

    def prepare(self) -> Awaitable[None] | None:
        ContextHandler.handlers.add(self)
        CallContext.set(CallContext.JUPYTER_HANDLER, self)
        return super().prepare()


def live(kind: type[Any]) -> list[Any]:
    gc.collect()
    return [o for o in gc.get_objects() if type(o) is kind]


async def connect(port: int) -> WebSocketClientConnection:
    url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
    ws = await websocket_connect(url)
    opened = await asyncio.wait_for(ws.read_message(), 5)
    assert isinstance(opened, str) and opened.startswith("0")
    await ws.write_message("40/room,")
    joined = await asyncio.wait_for(ws.read_message(), 5)
    assert isinstance(joined, str) and joined.startswith("40/room,")
    return ws


async def test_a_crowd_leaves_nothing_alive() -> None:
    io = jupyter_rt.Server(ping_interval=5, ping_timeout=5)
    room = io.of("/room")
    room.on("connection", lambda socket: socket.join("crowd"))
    app = web.Application()
    driver = mount(app, io, handler_class=ContextHandler)
    port = free_port()
    http = app.listen(port, "127.0.0.1")
    sessions_before = len(live(EngineSession))
    shared_before = len(jupyter_rt.transports.handler._shared_strings)
    try:
        clients = [await connect(port) for _ in range(CLIENTS)]
        await wait_until(lambda: len(room.sockets) == CLIENTS, timeout=10)
        await room.to("crowd").emit("beat", 1)
        for ws in clients:
            assert await asyncio.wait_for(ws.read_message(), 5) == '42/room,["beat",1]'

        # Values unique to each request (Sec-WebSocket-Key) stay out of the shared strings,
        # which would keep them for the process's life.
        assert len(jupyter_rt.transports.handler._shared_strings) - shared_before < CLIENTS // 2

        # While the crowd is connected: its handlers (and requests) are gone already.
        await asyncio.sleep(0.1)
        assert live(ContextHandler) == []
        assert not ContextHandler.handlers

        for ws in clients:
            ws.close()
        await wait_until(lambda: not room.sockets and not driver.engine.sessions, timeout=10)
        del clients, ws
        await asyncio.sleep(0.1)  # the transports' connection_lost callbacks

        assert live(Socket) == []
        assert live(Client) == []
        from jupyter_rt.transports.websocket import SocketConnection

        assert live(SocketConnection) == []
        # Closed sessions may wait in the engine's timer heap until its next sweep (bounded).
        left = live(EngineSession)
        assert len(left) - sessions_before <= 32
        assert all(s.closed for s in left)
    finally:
        http.stop()
        await io.close()
        driver.shutdown()


async def test_a_crowd_gives_back_its_tables_and_memory(monkeypatch: Any) -> None:
    """The tables keyed by connection (the engine's sessions, a namespace's sockets, the
    adapter's rooms of each socket) shrink back once a crowd has left (a dict keeps the slots of
    its largest size otherwise), and the C allocator is asked, once, to give the freed pages back.
    """
    monkeypatch.setattr(jupyter_rt._shrink, "SHRINK_FROM", 16)  # a crowd of 60 is a crowd here
    trims: list[float] = []
    monkeypatch.setattr(
        jupyter_rt.transports.driver, "give_back_memory", lambda: trims.append(1) or True
    )
    io = jupyter_rt.Server(ping_interval=5, ping_timeout=5)
    room = io.of("/room")
    room.on("connection", lambda socket: socket.join("crowd"))
    app = web.Application()
    driver = mount(app, io)
    port = free_port()
    http = app.listen(port, "127.0.0.1")
    try:
        tables = {
            "engine sessions": lambda: driver.engine.sessions,
            "namespace sockets": lambda: room.sockets,
            "rooms of each socket": lambda: room.adapter.sids,
        }
        empty = {name: sys.getsizeof(table()) for name, table in tables.items()}
        clients = [await connect(port) for _ in range(CLIENTS)]
        await wait_until(lambda: len(room.sockets) == CLIENTS, timeout=10)
        crowded = {name: sys.getsizeof(table()) for name, table in tables.items()}
        assert all(crowded[name] > 4 * empty[name] for name in tables), crowded

        for ws in clients:
            ws.close()
        await wait_until(lambda: not room.sockets and not driver.engine.sessions, timeout=10)
        left = {name: sys.getsizeof(table()) for name, table in tables.items()}
        assert all(left[name] * 4 <= crowded[name] for name in tables), (left, crowded)
        await wait_until(lambda: bool(trims), timeout=5)  # once the loop is done with the leaving
        await asyncio.sleep(1.5)
        assert trims == [1]
    finally:
        http.stop()
        await io.close()
        driver.shutdown()


def test_giving_memory_back_is_throttled(monkeypatch: Any) -> None:
    """At most one ``malloc_trim`` a minute, however many crowds leave (it walks the heap)."""
    monkeypatch.setattr(jupyter_rt.transports.driver, "_trimmed_at", -1e9)
    first = jupyter_rt.transports.driver.give_back_memory()
    assert first is sys.platform.startswith("linux")
    assert jupyter_rt.transports.driver.give_back_memory() is False

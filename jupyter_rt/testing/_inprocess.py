"""A ``jupyter_rt.Server`` on a Tornado app in the test's own event loop, with its clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tornado import httpserver, web

from jupyter_rt.client import AsyncClient
from jupyter_rt.server import Server
from jupyter_rt.testing._process import free_port
from jupyter_rt.transports import EngineDriver, mount

__all__ = ["InProcessServer"]


class InProcessServer:
    """A ``jupyter_rt.Server`` served at ``/socket.io/`` on 127.0.0.1 and a free port.

    Register handlers on :attr:`io` (or give ``setup``, a function taking the server, as a
    ``c.RealtimeApp.apps`` entry would), then connect clients with :meth:`connect`::

        async with InProcessServer(setup=my_app.setup) as server:
            client = await server.connect("/notes")
            assert await client.call("open", "a.ipynb") == {"ok": True, "path": "a.ipynb"}

    ``options`` go to ``Server`` (``ping_interval=0.5`` ...). :meth:`close` disconnects the
    clients and stops the server. :meth:`drop` closes every session without a CLOSE packet
    (clients reconnect); :meth:`stop` and :meth:`start` take the port down and up again.
    """

    def __init__(self, *, setup: Callable[[Server], object] | None = None, **options: Any) -> None:
        self.io = Server(**options)
        """The server under test."""
        if setup is not None:
            setup(self.io)
        self.app = web.Application()
        self.driver: EngineDriver = mount(self.app, self.io)
        self.port = free_port()
        self.http: httpserver.HTTPServer | None = None
        self.clients: list[AsyncClient] = []
        """Every client made by :meth:`client`, disconnected at :meth:`close`."""

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; Socket.IO is at the default path ``/socket.io/``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> InProcessServer:
        """Listen (again) on :attr:`port`; return ``self``."""
        self.http = httpserver.HTTPServer(self.app)
        self.http.listen(self.port, "127.0.0.1")
        return self

    def drop(self) -> None:
        """Drop every transport the way a restarting server does: no CLOSE packet."""
        self.driver.engine.close_all("transport close")

    async def stop(self) -> None:
        """Stop listening and drop every session; :meth:`start` listens again."""
        if self.http is not None:
            self.http.stop()
            self.http = None
        self.drop()
        await asyncio.sleep(0)

    async def close(self) -> None:
        """Disconnect the clients, stop the server and its timers."""
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.disconnect()
        self.clients.clear()
        await self.stop()
        self.driver.shutdown()

    def client(self, **options: Any) -> AsyncClient:
        """A new, unconnected ``AsyncClient(**options)``, disconnected at :meth:`close`."""
        client = AsyncClient(**options)
        self.clients.append(client)
        return client

    async def connect(
        self,
        *namespaces: str,
        auth: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        transports: Sequence[str] | None = None,
        client: AsyncClient | None = None,
        **options: Any,
    ) -> AsyncClient:
        """Connect a client (``client``, or a new one made with ``options``) to ``namespaces``
        (default ``/``) over ``transports`` (as in ``AsyncClient.connect``); return it once
        every namespace accepted it."""
        if client is None:
            client = self.client(**options)
        elif client not in self.clients:
            self.clients.append(client)
        await client.connect(
            self.url,
            namespaces=list(namespaces) or None,
            auth=auth,
            headers=headers,
            query=query,
            transports=transports,
        )
        return client

    async def __aenter__(self) -> InProcessServer:
        return self.start() if self.http is None else self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

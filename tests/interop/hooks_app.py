"""A jupyter_rt server with the engine's hooks and per-packet middleware, for the official
clients (``tests/node/hooks.mjs``, driven by ``tests/interop/test_node_hooks.py``).

    python -m tests.serve tests.interop.hooks_app --port N [--max-payload 100]

The events of ``tests.interop.server_app`` on ``/`` (``echo``, ``whoami`` ...; and its
``GET /_interop/log``), and:

``allow_request``
    async, 10 ms (as the official client's own test server); refuses a handshake whose query
    has ``deny=1`` with ``ConnectionRefused("Thou shall not pass")``
``initial_headers``
    sets the cookies ``io-test=1`` and ``lb=a`` on the response that opens each session
``headers``
    logs each polling request and WebSocket handshake as ``{"kind": "request", "tag", "sid",
    "transport", "cookie"}`` (the tag from the query), so a test sees what the client sent back
``/late``
    like ``/``, but its (namespace) middleware takes 30 ms: the CONNECT reply comes after an
    upgrading client's probe
per-packet middleware on ``/`` and ``/late``
    refuses the event ``forbidden`` (``ConnectionRefused("unauthorized event")``; the socket's
    ``error`` handler emits ``refused {"message": ...}`` back); upper-cases the arguments of
    ``shout`` (acked with them)
"""

from __future__ import annotations

import asyncio
from typing import Any

import tornado.web

import jupyter_rt.transports
from jupyter_rt.engine import Handshake
from jupyter_rt.errors import ConnectionRefused
from jupyter_rt.options import ResponseHeaders
from jupyter_rt.server import Server
from tests.interop.server_app import LOG, LogHandler, attach_handlers


async def allow_request(request: Handshake) -> None:
    await asyncio.sleep(0.01)
    if request.query.get("deny") == "1":
        raise ConnectionRefused("Thou shall not pass")


def initial_headers(headers: ResponseHeaders, request: Handshake) -> None:
    headers["Set-Cookie"] = ["io-test=1; Path=/", "lb=a; Path=/; HttpOnly"]


def log_request(headers: ResponseHeaders, request: Handshake) -> None:
    query = request.query
    LOG.append(
        {
            "kind": "request",
            "tag": query.get("tag"),
            "sid": query.get("sid"),
            "transport": query.get("transport"),
            "cookie": request.headers.get("cookie"),
        }
    )


def guard(socket: Any) -> None:
    """The per-packet middleware of every socket of ``/``."""

    @socket.use
    def authorize(packet: list[Any]) -> None:
        if packet[0] == "forbidden":
            raise ConnectionRefused("unauthorized event")

    @socket.use
    async def shout(packet: list[Any]) -> None:
        await asyncio.sleep(0)
        if packet[0] == "shout":
            packet[1:] = [arg.upper() for arg in packet[1:]]

    @socket.on("error")
    def refused(exc: Exception) -> None:
        socket.emit("refused", {"message": str(exc)})

    socket.on("shout", lambda *args: args)


def make_app(max_payload: int = 1_000_000) -> tornado.web.Application:
    io = Server(
        allow_request=allow_request,
        initial_headers=initial_headers,
        headers=log_request,
        max_payload=max_payload,
    )

    def on_connection(socket: Any) -> None:
        guard(socket)
        attach_handlers(io, socket)

    async def take_30_ms(socket: Any) -> None:
        await asyncio.sleep(0.03)

    io.on("connection", on_connection)
    late = io.of("/late")
    late.use(take_30_ms)
    late.on("connection", on_connection)

    app = tornado.web.Application([(r"/_interop/log", LogHandler)])
    jupyter_rt.transports.mount(app, io)
    return app

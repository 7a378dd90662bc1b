"""The Socket.IO server the official Socket.IO v5 test suite expects.

    python -m tests.serve tests.server.suite_server --port 3000

serves ``/socket.io/`` on 127.0.0.1 with ``pingInterval`` 300 ms, ``pingTimeout`` 200 ms,
``maxPayload`` 1 000 000 and a 2 s connect timeout. On ``/`` and ``/custom`` a new socket is sent
``auth`` with its handshake auth; ``message`` is answered with ``message-back`` and the same
arguments; ``message-with-ack`` is acknowledged with its arguments.

The suite's reference configuration has a 1 s connect timeout, but its polling heartbeat test
keeps a session without a Socket.IO CONNECT for about 0.9 s, which a loaded machine stretches
past 1 s. No test needs the shorter one: without a CONNECT, the suite's WebSocket clients never
answer pings either, so they are dropped by the ping timeout after 0.5 s.
"""

from __future__ import annotations

from typing import Any

from tornado import web

from jupyter_rt.server import Namespace, Server, Socket
from jupyter_rt.transports import EngineDriver, mount

SUITE_OPTIONS: dict[str, Any] = {
    "ping_interval": 0.3,
    "ping_timeout": 0.2,
    "max_payload": 1_000_000,
    "connect_timeout": 2,
}


def build_server(**options: Any) -> Server:
    io = Server(**{**SUITE_OPTIONS, **options})

    def setup(namespace: Server | Namespace) -> None:
        @namespace.on("connection")
        def on_connection(socket: Socket) -> None:
            socket.emit("auth", dict(socket.handshake.auth))

            @socket.on("message")
            def on_message(*args: Any) -> None:
                socket.emit("message-back", *args)

            @socket.on("message-with-ack")
            def on_message_with_ack(*args: Any) -> tuple[Any, ...]:
                return args

    setup(io)
    setup(io.of("/custom"))
    return io


def make_app(**options: Any) -> tuple[web.Application, EngineDriver, Server]:
    io = build_server(**options)
    app = web.Application()
    driver = mount(app, io)
    return app, driver, io

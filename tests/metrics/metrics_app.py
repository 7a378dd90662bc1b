"""The realtime app the metrics tests drive: ``c.RealtimeApp.apps =
["tests.metrics.metrics_app:setup"]``.

``/metrics-test`` refuses clients whose CONNECT auth says ``{"uninvited": true}``; its events:
``join(room)`` acks ``true``; ``shout(room, text)`` broadcasts ``shouted(text)`` to the room;
``ask(seconds)`` calls the client's ``question`` with that timeout and acks ``"answered"`` or
``"no answer"``. Names matching ``/doc-<word>`` are dynamic namespaces of the same app.
"""

from __future__ import annotations

import re

from jupyter_rt.errors import AckTimeout, ConnectionRefused
from jupyter_rt.server import Server, Socket

NAMESPACE = "/metrics-test"
DOCS = re.compile(r"^/doc-\w+$")


def setup(io: Server) -> None:
    nsp = io.of(NAMESPACE)

    @nsp.use
    def invited_only(socket: Socket) -> None:
        if socket.handshake.auth.get("uninvited"):
            raise ConnectionRefused("not invited")

    @nsp.on("connection")
    def on_connection(socket: Socket) -> None:
        @socket.on("join")
        def join(room: str) -> bool:
            socket.join(room)
            return True

        @socket.on("shout")
        async def shout(room: str, text: str) -> bool:
            await nsp.to(room).emit("shouted", text)
            return True

        @socket.on("ask")
        async def ask(seconds: float) -> str:
            try:
                await socket.call("question", timeout=seconds)
            except AckTimeout:
                return "no answer"
            return "answered"

    io.of(DOCS)

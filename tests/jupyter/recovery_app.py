"""A realtime app for the recovery tests (``c.RealtimeApp.apps =
["tests.jupyter.recovery_app:setup"]``, with ``c.RealtimeApp.connection_state_recovery = True``).

``/recovery``: a new socket joins ``news`` and keeps its Jupyter user name in ``socket.data``;
every socket is sent ``welcome recovered`` once connected. ``whoami`` acks ``{id, recovered,
rooms, data}``; ``emit-later delay`` has the server send ``missed 1`` to ``news`` and ``missed 2``
to the socket, ``delay`` seconds later, whether the socket is connected then or not.
"""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_rt.server import Server, Socket

NAMESPACE = "/recovery"


def setup(io: Server) -> None:
    nsp = io.of(NAMESPACE)

    @nsp.on("connection")
    def on_connection(socket: Socket) -> None:
        if not socket.recovered:
            socket.join("news")
            socket.data["user"] = (socket.handshake.user or {}).get("username")

        @socket.on("whoami")
        def whoami() -> dict[str, Any]:
            return {
                "id": socket.id,
                "recovered": socket.recovered,
                "rooms": sorted(socket.rooms),
                "data": socket.data,
            }

        @socket.on("emit-later")
        def emit_later(delay: float) -> str:
            def send() -> None:
                nsp.to("news").emit("missed", 1)
                socket.emit("missed", 2)

            asyncio.get_running_loop().call_later(delay, send)
            return "scheduled"

        socket.emit("welcome", socket.recovered)

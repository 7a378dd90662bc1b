"""``/tick``: every connection gets a tick a second, and the server logs each answer.

Events:

- server → client ``tickEvent {"tick": n}``, every second, ``n`` counting from 0 per connection;
- client → server ``tickReceivedEvent {"tick": n}``: logged as ``Socket <id> got <n>``.

Ticks are volatile: with connection state recovery on none is kept for replay (a missed tick is
stale), so a tick socket that lost its connection comes back as a new one, counting from 0. Each
tick waits until the client can take it, so none is dropped while it is connected.
"""

from __future__ import annotations

import asyncio
import logging

from jupyter_rt.server import Server, Socket

log = logging.getLogger("jupyter_rt")

NAMESPACE = "/tick"
INTERVAL = 1.0
WAIT = 0.05
"""Seconds between looks at a client that cannot take a tick yet (connecting, upgrading)."""


def setup(io: Server) -> None:
    """Serve the tick demo on ``/tick``."""
    tick = io.of(NAMESPACE)

    @tick.on("connection")
    def on_connection(socket: Socket) -> None:
        ticking = asyncio.ensure_future(_tick(socket))

        @socket.on("tickReceivedEvent")
        def on_tick_received(message: object) -> None:
            n = message.get("tick") if isinstance(message, dict) else None
            if isinstance(n, int) and not isinstance(n, bool):  # log no client-chosen text
                log.info("Socket %s got %d", socket.id, n)

        @socket.on("disconnect")
        def on_disconnect(reason: str) -> None:
            ticking.cancel()


async def _tick(socket: Socket) -> None:
    n = 0
    while socket.connected:
        if not socket.conn.writable:  # a volatile tick would be dropped: wait for the client
            await asyncio.sleep(WAIT)
            continue
        socket.volatile.emit("tickEvent", {"tick": n})
        n += 1
        await asyncio.sleep(INTERVAL)

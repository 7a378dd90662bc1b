"""A realtime app with slow handlers: ``c.RealtimeApp.apps = ["tests.jupyter.slow_app:setup"]``."""

from __future__ import annotations

import asyncio
import time

from jupyter_rt.server import Server, Socket

NAMESPACE = "/slow"
NAP = 0.3


def setup(io: Server) -> None:
    """``/slow``: ``nap`` blocks the loop for 0.3 s; ``report`` sleeps as long in a thread,
    emitting ``progress`` through the loop; ``echo`` acks its argument."""
    slow = io.of(NAMESPACE)

    @slow.on("connection")
    def on_connection(socket: Socket) -> None:
        loop = asyncio.get_running_loop()

        @socket.on("nap")
        def nap() -> str:
            time.sleep(NAP)
            return "rested"

        @socket.on("report", thread=True)
        def report(name: str) -> dict[str, object]:
            time.sleep(NAP)
            loop.call_soon_threadsafe(socket.emit, "progress", 100)
            return {"ok": True, "report": name}

        @socket.on("echo")
        def echo(value: object) -> object:
            return value

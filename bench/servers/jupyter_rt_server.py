"""The server under test: jupyter_rt on Tornado with the bench scenario handlers.

Usage: python jupyter_rt_server.py PORT [--recovery]   (prints "READY <port>" once listening)

``--recovery``: with connection state recovery on (every broadcast kept, with an offset).
"""

from __future__ import annotations

import asyncio
import inspect
import signal
import sys
from typing import Any

import tornado.web

import jupyter_rt
import jupyter_rt.transports


def make_app(recovery: bool = False) -> tornado.web.Application:
    io = jupyter_rt.Server(connection_state_recovery=recovery)

    @io.on("connection")
    def on_connection(socket: Any) -> None:
        @socket.on("join")
        async def join(room: str) -> bool:
            joined = socket.join(room)
            if inspect.isawaitable(joined):
                await joined
            return True

        @socket.on("echo")
        def echo(*args: Any) -> tuple[Any, ...]:
            return args

        @socket.on("fanout")
        async def fanout(room: str, data: Any) -> None:
            await io.to(room).emit("tick", data)

    app = tornado.web.Application()
    jupyter_rt.transports.mount(app, io, path="/socket.io/")
    return app


async def main(port: int, recovery: bool) -> None:
    app = make_app(recovery)
    server = app.listen(port, address="127.0.0.1")
    bound = next(iter(server._sockets.values())).getsockname()[1]
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0, "--recovery" in sys.argv[2:]))

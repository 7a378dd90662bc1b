"""The server under test: jupyter_rt on Tornado with the bench scenario handlers.

Usage: python jupyter_rt_server.py PORT [--recovery] [--admin MODE]
(prints "READY <port>" once listening)

``--recovery``: with connection state recovery on (every broadcast kept, with an offset).
``--admin production`` (or ``development``) instruments the server for the Admin UI, as
``c.RealtimeApp.admin_ui`` does in Jupyter, to measure what it costs.
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


def make_app(recovery: bool = False, admin_mode: str | None = None) -> tornado.web.Application:
    io = jupyter_rt.Server(connection_state_recovery=recovery)
    if admin_mode is not None:
        from jupyter_rt.admin import instrument

        instrument(io, auth=False, mode=admin_mode)  # type: ignore[arg-type]

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


async def main(port: int, recovery: bool, admin_mode: str | None) -> None:
    app = make_app(recovery, admin_mode)
    server = app.listen(port, address="127.0.0.1")
    bound = next(iter(server._sockets.values())).getsockname()[1]
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


if __name__ == "__main__":
    args = sys.argv[1:]
    mode = None
    if "--admin" in args:
        at = args.index("--admin")
        mode = args[at + 1]
        del args[at : at + 2]
    recovery = "--recovery" in args
    args = [a for a in args if a != "--recovery"]
    asyncio.run(main(int(args[0]) if args else 0, recovery, mode))

"""Reference server: python-socketio on Tornado with the bench scenario handlers.

Usage: python pysio_server.py PORT   (prints "READY <port>" once listening)
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import socketio
import tornado.web


def make_app() -> tornado.web.Application:
    sio = socketio.AsyncServer(async_mode="tornado")

    @sio.on("join")
    async def join(sid: str, room: str) -> bool:
        await sio.enter_room(sid, room)
        return True

    @sio.on("echo")
    async def echo(sid: str, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("fanout")
    async def fanout(sid: str, room: str, data: Any) -> None:
        await sio.emit("tick", data, room=room)

    return tornado.web.Application([(r"/socket.io/", socketio.get_tornado_handler(sio))])


async def main(port: int) -> None:
    app = make_app()
    server = app.listen(port, address="127.0.0.1")
    bound = next(iter(server._sockets.values())).getsockname()[1]
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))

"""The cluster scenario's jupyter_rt server: the bench handlers on the Redis adapter.

Usage: python cluster_rt_server.py PORT REDIS_URL PREFIX
(prints "READY <port>" once listening and subscribed)
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import tornado.web

import jupyter_rt
import jupyter_rt.transports
from jupyter_rt.adapters.redis import RedisAdapter


async def main(port: int, redis_url: str, prefix: str) -> None:
    io = jupyter_rt.Server(adapter=RedisAdapter.factory(redis_url, prefix))

    @io.on("connection")
    def on_connection(socket: Any) -> None:
        @socket.on("join")
        def join(room: str) -> bool:
            socket.join(room)
            return True

        @socket.on("echo")
        def echo(*args: Any) -> tuple[Any, ...]:
            return args

        @socket.on("fanout")
        def fanout(room: str, data: Any) -> None:
            io.to(room).emit("tick", data)

    app = tornado.web.Application()
    jupyter_rt.transports.mount(app, io, path="/socket.io/")
    server = app.listen(port, address="127.0.0.1")
    await io.ready()
    bound = next(iter(server._sockets.values())).getsockname()[1]
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await io.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))

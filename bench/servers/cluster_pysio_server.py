"""The cluster scenario's python-socketio server: the bench handlers on AsyncRedisManager.

Usage: python cluster_pysio_server.py PORT REDIS_URL PREFIX   (prints "READY <port>")

python-socketio's Redis manager has its own wire format (it cannot share rooms with the other
two); the prefix is its channel name.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import socketio
import tornado.web


async def main(port: int, redis_url: str, prefix: str) -> None:
    manager = socketio.AsyncRedisManager(redis_url, channel=prefix)
    sio = socketio.AsyncServer(async_mode="tornado", client_manager=manager)

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

    app = tornado.web.Application([(r"/socket.io/", socketio.get_tornado_handler(sio))])
    server = app.listen(port, address="127.0.0.1")
    bound = next(iter(server._sockets.values())).getsockname()[1]
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))

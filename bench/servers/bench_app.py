"""The bench handlers on namespace ``/bench``, for a Jupyter server with jupyter_rt.

The same code runs both ways ``bench/hosted.py`` compares:

- in the Jupyter server: ``--RealtimeApp.apps=bench_app:setup`` (an app, in-process);
- in a kernel: ``import bench_app; bench_app.install(host("/bench"))`` in a cell.

Handlers as in ``jupyter_rt_server.py``: ``join(room)`` joins and acks ``true``; ``echo(*args)``
acks its arguments; ``fanout(room, data)`` broadcasts ``tick(data)`` to the room.
"""

from __future__ import annotations

import inspect
from typing import Any

NAMESPACE = "/bench"


def install(nsp: Any) -> None:
    """Register the handlers on ``nsp``: a :class:`jupyter_rt.Namespace` or what
    :func:`jupyter_rt.kernel.host` returns."""

    @nsp.on("connection")
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
            await nsp.to(room).emit("tick", data)


def setup(io: Any) -> None:
    """The in-process app (``c.RealtimeApp.apps = ["bench_app:setup"]``)."""
    install(io.of(NAMESPACE))

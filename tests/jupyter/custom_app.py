"""A realtime app for the tests: ``c.RealtimeApp.apps = ["tests.jupyter.custom_app:setup"]``."""

from __future__ import annotations

import re
from typing import Any

from jupyter_rt.server import Server, Socket

NAMESPACE = "/custom"


def setup(io: Server) -> None:
    """``/custom``: ``echo *args`` acks its arguments, ``whoami`` acks the Jupyter user."""
    custom = io.of(NAMESPACE)

    @custom.on("connection")
    def on_connection(socket: Socket) -> None:
        @socket.on("echo")
        def echo(*args: Any) -> list[Any]:
            return list(args)

        @socket.on("whoami")
        def whoami() -> Any:
            return dict(socket.handshake.user or {})


def documents(io: Server) -> None:
    """``/doc-<name>``: a dynamic namespace per document (it only exists)."""
    io.of(re.compile(r"/doc-\w+"))


def broken(io: Server) -> None:
    """An app whose setup fails."""
    raise RuntimeError("this app cannot start")

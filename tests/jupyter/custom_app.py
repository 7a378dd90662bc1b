"""A realtime app for the tests: ``c.RealtimeApp.apps = ["tests.jupyter.custom_app:setup"]``,
and engine hooks: ``c.RealtimeApp.allow_request = "tests.jupyter.custom_app:allow_request"``,
``c.RealtimeApp.initial_headers = "tests.jupyter.custom_app:initial_headers"``."""

from __future__ import annotations

import re
from typing import Any

from jupyter_rt.engine import Handshake
from jupyter_rt.errors import ConnectionRefused
from jupyter_rt.options import ResponseHeaders
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


SEEN_USERS: list[object] = []
"""The ``handshake.user`` of each request ``allow_request`` saw."""


async def allow_request(request: Handshake) -> None:
    """Lets through the handshakes that ask for ``?room=open`` (and records who asked)."""
    SEEN_USERS.append(request.user)
    if request.query.get("room") != "open":
        raise ConnectionRefused("This room is closed")


def initial_headers(headers: ResponseHeaders, request: Handshake) -> None:
    """Sets the cookie ``realtime-room`` on the response that opens a session."""
    headers["Set-Cookie"] = f"realtime-room={request.query.get('room', '')}; Path=/; HttpOnly"

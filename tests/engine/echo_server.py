"""A bare Engine.IO echo endpoint, as the official Engine.IO v4 test suite expects it.

    python -m tests.serve tests.engine.echo_server --port 3000

serves ``/engine.io/`` on 127.0.0.1 with ``pingInterval`` 300 ms, ``pingTimeout`` 200 ms and
``maxPayload`` 1 000 000, and sends every MESSAGE back to its sender. Tests import
:func:`make_app` to run the same server in process.
"""

from __future__ import annotations

from typing import Any

from tornado import web

from jupyter_rt.engine import EngineSession
from jupyter_rt.transports import EngineDriver, mount_engine

SUITE_OPTIONS: dict[str, Any] = {
    "ping_interval": 0.3,
    "ping_timeout": 0.2,
    "max_payload": 1_000_000,
}


class EchoListener:
    """Sends each message back to its sender and records what happened."""

    def __init__(self) -> None:
        self.opened: list[EngineSession] = []
        self.messages: list[tuple[str, str | bytes]] = []
        self.closed: list[tuple[str, str]] = []

    def on_engine_open(self, session: EngineSession) -> None:
        self.opened.append(session)

    def on_engine_message(self, session: EngineSession, data: str | bytes) -> None:
        self.messages.append((session.sid, data))
        session.send([data])

    def on_engine_close(self, session: EngineSession, reason: str) -> None:
        self.closed.append((session.sid, reason))


def make_app(
    listener: EchoListener | None = None, path: str = "/engine.io/", **options: Any
) -> tuple[web.Application, EngineDriver, EchoListener]:
    """An application serving the echo endpoint at ``path``, with the suite's options."""
    listener = listener or EchoListener()
    app = web.Application()
    driver = mount_engine(app, listener, path, **{**SUITE_OPTIONS, **options})
    return app, driver, listener

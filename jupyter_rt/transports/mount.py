"""Serve an Engine.IO endpoint or a Socket.IO server from any Tornado app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tornado import web

from jupyter_rt.clock import Clock
from jupyter_rt.engine import Engine, EngineListener
from jupyter_rt.options import Options
from jupyter_rt.transports.driver import EngineDriver
from jupyter_rt.transports.handler import EngineIOHandler

if TYPE_CHECKING:
    from jupyter_rt.server import Server


def mount_engine(
    app: web.Application,
    listener: EngineListener,
    path: str = "/engine.io/",
    *,
    handler_class: type[EngineIOHandler] = EngineIOHandler,
    options: Options | None = None,
    clock: Clock | None = None,
    **changes: Any,
) -> EngineDriver:
    """Serve a bare Engine.IO endpoint at ``path``, delivering messages to ``listener``; the
    engine takes ``options`` with ``changes`` (``ping_interval=5``...) and runs on ``clock``
    (the loop's by default)."""
    driver = EngineDriver(Engine(listener, options, **changes), clock)
    pattern = path.rstrip("/") + "/?"
    app.add_handlers(r".*", [(pattern, handler_class, {"driver": driver})])
    return driver


def mount(
    app: web.Application,
    io: Server,
    path: str = "/socket.io/",
    *,
    handler_class: type[EngineIOHandler] = EngineIOHandler,
) -> EngineDriver:
    """Serve the Socket.IO server ``io`` at ``path`` of ``app``, with ``io.options``, on
    ``io.clock`` (so a test's manual clock also drives the connect timeout and heartbeats)."""
    return mount_engine(
        app, io, path, handler_class=handler_class, options=io.options, clock=io.clock
    )

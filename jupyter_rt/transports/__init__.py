"""Engine.IO over Tornado: long-polling and WebSocket, and :func:`mount` for any Tornado app.

::

    io = jupyter_rt.Server()
    app = tornado.web.Application()
    jupyter_rt.transports.mount(app, io)          # serves /socket.io/

The modules, each importing only those above it:

- ``tornado_internals``: every Tornado private attribute used, in one class, checked by a test.
- ``admission``: :class:`AdmissionGate`, a few handshakes or new connections per loop turn.
- ``driver``: :class:`EngineDriver`, the engine on the asyncio loop (its timer, sliced work).
- ``websocket``: the upgraded socket served by an asyncio transport (or a TLS stream).
- ``handler``: :class:`EngineIOHandler`, polling GET/POST and the WebSocket handshake.
- ``mount``: :func:`mount` and :func:`mount_engine`.
"""

from __future__ import annotations

from jupyter_rt.transports.driver import EngineDriver
from jupyter_rt.transports.handler import EngineIOHandler
from jupyter_rt.transports.mount import mount, mount_engine
from jupyter_rt.transports.tornado_internals import TornadoStreamInternals

__all__ = ["EngineDriver", "EngineIOHandler", "TornadoStreamInternals", "mount", "mount_engine"]

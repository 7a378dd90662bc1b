"""A test app that reports server internals black-box tests cannot see from outside:
``c.RealtimeApp.apps = [..., "tests.jupyter.probe_app:setup"]``."""

from __future__ import annotations

from jupyter_rt.server import Server, Socket

NAMESPACE = "/probe"


def setup(io: Server) -> None:
    """``/probe``: ``sessions`` acks how many Engine.IO sessions the server holds."""
    probe = io.of(NAMESPACE)

    @probe.on("connection")
    def on_connection(socket: Socket) -> None:
        @socket.on("sessions")
        def sessions() -> int:
            return len(io._clients)

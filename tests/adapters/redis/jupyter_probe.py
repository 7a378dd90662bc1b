"""A realtime app for the Jupyter tests: answers the server-side call ``whoami``.

``--RealtimeApp.apps=tests.adapters.redis.jupyter_probe:setup``
"""

from __future__ import annotations

import os

from jupyter_rt.server import Server


def setup(io: Server) -> None:
    io.on("whoami", lambda: f"jupyter-{os.getpid()}")

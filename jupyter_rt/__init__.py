"""Socket.IO-style realtime events for Jupyter.

``Server`` is the Socket.IO server (namespaces, events, acks, rooms); the Jupyter extension
(:mod:`jupyter_rt.extension`) serves one at ``{base_url}socket.io/`` of every notebook server,
and :func:`jupyter_rt.transports.mount` serves one from any Tornado app.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from jupyter_rt.errors import (
    AckTimeout,
    ClusterError,
    ClusterTimeout,
    ConnectError,
    ConnectionRefused,
    HostingError,
    LimitExceeded,
    NotConnected,
    ProtocolError,
    RealtimeError,
    RedisUnavailable,
    ServerNotFound,
)
from jupyter_rt.server import BroadcastOperator, Namespace, RemoteSocket, Server, Socket

__version__ = version("jupyter_rt")
"""The package version, read from its metadata (one source: ``labextension/package.json``)."""

__all__ = [
    "AckTimeout",
    "BroadcastOperator",
    "ClusterError",
    "ClusterTimeout",
    "ConnectError",
    "ConnectionRefused",
    "HostingError",
    "LimitExceeded",
    "Namespace",
    "NotConnected",
    "ProtocolError",
    "RealtimeError",
    "RedisUnavailable",
    "RemoteSocket",
    "Server",
    "ServerNotFound",
    "Socket",
    "__version__",
]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from jupyter_rt.extension import RealtimeApp

    return [{"module": "jupyter_rt.extension", "app": RealtimeApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-rt"}]

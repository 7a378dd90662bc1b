"""The Socket.IO server layer: namespaces, sockets, rooms, acks, middleware, adapters.

It sits on Engine.IO sessions (:class:`Server` is the engine's listener) and knows nothing of
Tornado or Jupyter. Handlers and middleware may be sync or async; emits are sent at once and may
be awaited or not.
"""

from __future__ import annotations

from jupyter_rt.server.adapter import Adapter, BroadcastFlags, BroadcastOptions, MemoryAdapter
from jupyter_rt.server.broadcast import BroadcastOperator
from jupyter_rt.server.namespace import Middleware, Namespace, ParentNamespace
from jupyter_rt.server.server import AdapterFactory, Server
from jupyter_rt.server.socket import (
    DisconnectReason,
    RemoteSocket,
    Socket,
    SocketHandle,
    SocketHandshake,
)

__all__ = [
    "Adapter",
    "AdapterFactory",
    "BroadcastFlags",
    "BroadcastOperator",
    "BroadcastOptions",
    "DisconnectReason",
    "MemoryAdapter",
    "Middleware",
    "Namespace",
    "ParentNamespace",
    "RemoteSocket",
    "Server",
    "Socket",
    "SocketHandle",
    "SocketHandshake",
]

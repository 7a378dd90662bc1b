"""A Python Socket.IO client, so kernels and scripts take part.

- :class:`AsyncClient`: asyncio; long-polling upgraded to a WebSocket (or either alone), acks
  with default timeouts, binary, several handlers per event and a catch-all ``"*"``,
  reconnection (also of the first connection, with ``retry=True``) and connection state
  recovery with servers that keep sessions;
- :class:`Client`: the same with blocking methods, on its own thread (busy cells, scripts);
- :func:`connect` / :func:`connect_async`: a client connected to the Jupyter server that
  hosts this kernel (found by :func:`find_server`).

::

    from jupyter_rt.client import connect

    chat = connect("/chat")
    chat.emit("message", {"room": "Lobby", "text": "hello from a kernel"})
    print(chat.call("rooms"))  # methods act on the namespace connected to
    chat.close()
"""

from __future__ import annotations

from jupyter_rt.errors import ConnectError, ServerNotFound

from ._async import AsyncClient, Handler
from ._sync import Client
from .discovery import ServerInfo, connect, connect_async, find_server

__all__ = [
    "AsyncClient",
    "Client",
    "ConnectError",
    "Handler",
    "ServerInfo",
    "ServerNotFound",
    "connect",
    "connect_async",
    "find_server",
]

"""Notebook widgets whose browser side talks Socket.IO to the notebook's own server.

- :class:`RealtimeClient`: a general client (``/hub`` rooms, emit, kernel-side handlers);
- :class:`TickWidget`: the ``/tick`` demo;
- :class:`ChatWidget`: the ``/chat`` demo;
- :class:`RoomsView`: a live table of namespaces, rooms and members.

The browser connects to ``{base_url}socket.io/`` directly, with the page's credentials;
the kernel only sends and receives the events it asks for.
"""

from __future__ import annotations

from ._base import SocketWidget
from ._frontend import MODULE_NAME, MODULE_VERSION
from .chat import ChatWidget
from .client import RealtimeClient
from .rooms import RoomsView
from .tick import TickWidget

__all__ = [
    "MODULE_NAME",
    "MODULE_VERSION",
    "ChatWidget",
    "RealtimeClient",
    "RoomsView",
    "SocketWidget",
    "TickWidget",
]

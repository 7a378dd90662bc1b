"""The client's bookkeeping: its limits, and the state of each namespace and pending ack."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jupyter_rt.protocol.events import DisconnectReason

__all__ = [
    "FINAL_REASONS",
    "LIFECYCLE_EVENTS",
    "MAX_BUFFERED",
    "MAX_MESSAGE",
    "MAX_PENDING_ACKS",
    "Handler",
    "NamespaceState",
    "PendingAck",
]

Handler = Callable[..., Any]
"""An event handler: called with the event's arguments, sync or async; its result is the ack."""

LIFECYCLE_EVENTS = frozenset({"connect", "connect_error", "disconnect"})
"""Local events a handler may listen to: ``connect()``, ``connect_error(error)``,
``disconnect(reason)``."""

MAX_BUFFERED = 1000
"""Packets kept for sending while the client reconnects; the oldest go first past this."""

MAX_MESSAGE = 64 * 1024 * 1024
"""The largest WebSocket message this client accepts from a server, in bytes."""

MAX_PENDING_ACKS = 10_000
"""Acks waited for at once; past this the oldest is given up (a ``call`` gets AckTimeout)."""

FINAL_REASONS = frozenset(
    {DisconnectReason.IO_SERVER_DISCONNECT, DisconnectReason.IO_CLIENT_DISCONNECT}
)
"""Reasons after which the client does not come back on its own."""


@dataclass(slots=True)
class NamespaceState:
    """One namespace of the client: its socket id, whether it is connected, what waits."""

    name: str
    auth: dict[str, Any] | None
    sid: str | None = None
    connected: bool = False
    active: bool = True  # False once the server (41) or the user disconnected it
    waiter: asyncio.Future[str] | None = None
    buffer: list[list[str | bytes]] = field(default_factory=list)


@dataclass(slots=True)
class PendingAck:
    """An ack the client waits for: a ``call``'s future or an ``emit``'s callback."""

    namespace: str
    future: asyncio.Future[list[Any]] | None = None
    callback: Handler | None = None

"""Socket.IO's rules about events, shared by the server, the clients, the widgets and the apps.

The reserved event names, the check of an event name before it is emitted, how a handler's
return value becomes ack arguments and back, and the disconnect reasons. Pure, like the rest of
``jupyter_rt.protocol``: any layer may import it without importing the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Literal

__all__ = [
    "CONNECTION_EVENTS",
    "RESERVED_EVENTS",
    "DisconnectReason",
    "EventNameTypeError",
    "Reason",
    "ack_args",
    "ack_value",
    "check_event_name",
    "check_server_side_event",
]

RESERVED_EVENTS: Final = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
"""Event names a peer may not send; they are refused while decoding, and refused to emitters."""

CONNECTION_EVENTS: Final = frozenset({"connection", "connect"})
"""The server's names of a namespace's connection handlers: not server-side events."""


class EventNameTypeError(TypeError, ValueError):
    """An event name that is not a ``str`` (a ``TypeError``; a ``ValueError`` too, as the
    clients have always raised for it)."""


def check_event_name(
    event: object, *, allow_empty: bool = True, allow_reserved: bool = False
) -> str:
    """``event`` if it may be emitted as an event name; else raise.

    Raises :class:`EventNameTypeError` if it is not a ``str``, ``ValueError`` if it is empty
    (unless ``allow_empty``) or one of :data:`RESERVED_EVENTS` (unless ``allow_reserved``, for
    listening to lifecycle events).
    """
    if not isinstance(event, str):
        raise EventNameTypeError(f"an event name must be a str, not {type(event).__name__}")
    if not event and not allow_empty:
        raise ValueError("event names are non-empty strings")
    if not allow_reserved and event in RESERVED_EVENTS:
        raise ValueError(f"{event!r} is a reserved event name")
    return event


def check_server_side_event(event: object) -> str:
    """``event`` if it may name a server-side event (one for the namespace handlers of the other
    servers of a cluster): as :func:`check_event_name`, and not one of
    :data:`CONNECTION_EVENTS` (``ValueError``)."""
    event = check_event_name(event)
    if event in CONNECTION_EVENTS:
        raise ValueError(f"{event!r} is a reserved event name")
    return event


def ack_args(result: object) -> list[Any]:
    """A handler's return value as ack arguments: ``None`` → none, a tuple → several, else one."""
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


def ack_value(args: Sequence[Any]) -> Any:
    """Ack arguments as one value: none → ``None``, one → itself, several → a tuple."""
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)


Reason = Literal[
    "client namespace disconnect",
    "server namespace disconnect",
    "transport close",
    "transport error",
    "ping timeout",
    "parse error",
    "forced close",
    "server shutting down",
    "io server disconnect",
    "io client disconnect",
]
"""A disconnect reason, as a type: one of the :class:`DisconnectReason` strings."""


class DisconnectReason:
    """The reasons ``disconnect`` (and, on the server, ``disconnecting``) handlers get (Node's
    strings; plain ``str`` values, so ``reason == "transport close"`` works).

    The client sees ``"io server disconnect"`` for a server namespace disconnect, and the server
    sees ``"client namespace disconnect"`` for the client's ``"io client disconnect"``.
    """

    CLIENT_NAMESPACE_DISCONNECT: Final = "client namespace disconnect"
    """The client left the namespace (``socket.disconnect()`` in the client)."""
    SERVER_NAMESPACE_DISCONNECT: Final = "server namespace disconnect"
    """The server called :meth:`Socket.disconnect <jupyter_rt.server.Socket.disconnect>`."""
    TRANSPORT_CLOSE: Final = "transport close"
    """The connection was closed (the user closed the tab, the network went down)."""
    TRANSPORT_ERROR: Final = "transport error"
    """The connection failed, or the client was too slow to take what was sent."""
    PING_TIMEOUT: Final = "ping timeout"
    """The peer stopped answering heartbeats."""
    PARSE_ERROR: Final = "parse error"
    """The peer sent something malformed or over a limit."""
    FORCED_CLOSE: Final = "forced close"
    """The server closed the whole connection (``disconnect(close=True)``, connect timeout)."""
    SERVER_SHUTTING_DOWN: Final = "server shutting down"
    """:meth:`Server.close <jupyter_rt.server.Server.close>`."""
    IO_SERVER_DISCONNECT: Final = "io server disconnect"
    """Client side: the server disconnected the socket (it does not reconnect by itself)."""
    IO_CLIENT_DISCONNECT: Final = "io client disconnect"
    """Client side: the client called ``disconnect()`` (it does not reconnect)."""

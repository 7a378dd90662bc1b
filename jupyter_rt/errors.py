"""The errors jupyter_rt raises.

::

    RealtimeError
    ├── ProtocolError        the peer sent something malformed or over a limit
    ├── AckTimeout           no acknowledgement arrived in time
    ├── ConnectionRefused    middleware or a connection handler refused a client
    ├── NotConnected         the socket or session is already closed
    └── LimitExceeded        a server-side call went over a configured limit (rooms per socket...)

A ``ProtocolError`` is always the peer's fault: the server closes that peer's session and logs the
reason; nobody else is affected.
"""

from __future__ import annotations


class RealtimeError(Exception):
    """Base of every error jupyter_rt raises."""


class ProtocolError(RealtimeError):
    """The peer sent something malformed or over a limit."""


class AckTimeout(RealtimeError):
    """No acknowledgement arrived before the timeout."""


class ConnectionRefused(RealtimeError):
    """Raise in middleware or a connection handler to refuse a client.

    ``message`` and ``data`` reach the client in the ``CONNECT_ERROR`` packet
    (``{"message": message, "data": data}``; ``data`` is left out when ``None``).
    """

    def __init__(self, message: str, data: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class NotConnected(RealtimeError):
    """The socket or session is closed; nothing can be sent on it."""


class LimitExceeded(RealtimeError):
    """A call would go over a configured limit (rooms per socket, name length, namespaces)."""

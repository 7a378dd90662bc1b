"""The errors jupyter_rt raises.

::

    RealtimeError
    ├── ProtocolError        the peer sent something malformed or over a limit
    │   ├── FrameError       … in WebSocket framing (jupyter_rt.protocol.websocket)
    │   └── WireError        … in a Redis channel message (jupyter_rt.adapters.redis.wire)
    ├── AckTimeout           no acknowledgement arrived in time
    ├── ConnectionRefused    middleware refused a client
    ├── NotConnected         the socket or session is already closed
    ├── LimitExceeded        a server-side call went over a configured limit (rooms per socket...)
    ├── ClusterError         a request to the other servers of a cluster failed
    │   ├── RedisUnavailable Redis cannot be reached
    │   └── ClusterTimeout   not every server answered in time
    ├── ConnectError         the client could not open its connection
    ├── ServerNotFound       the client's discovery found no Jupyter server
    └── HostingError         a kernel could not host a namespace (taken, reserved, a limit)

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
    """Raise in middleware to refuse a client.

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
    """A call would go over a configured limit (rooms per socket, name length, namespaces).

    Raised in a handler, the server answers that client with an error ack
    (``{"ok": False, "error": message}``) and logs a warning at most once a minute per ``kind``
    (a short name for the limit, e.g. ``"max_rooms_per_socket"``; by default the message).
    """

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind if kind is not None else message


class ClusterError(RealtimeError):
    """A request to the other servers of the cluster failed."""


class RedisUnavailable(ClusterError):
    """Redis cannot be reached (the request was not sent)."""


class ClusterTimeout(ClusterError):
    """Not every server answered in time. ``responses`` holds the answers that came."""

    def __init__(self, message: str, responses: list[object] | None = None) -> None:
        super().__init__(message)
        self.responses = responses if responses is not None else []


class ConnectError(RealtimeError):
    """The client's connection could not be opened: network or HTTP error, bad handshake,
    timeout."""


class ServerNotFound(RealtimeError):
    """No Jupyter server was given, set in the environment or found running for this directory."""


class HostingError(RealtimeError):
    """A kernel could not host a namespace: another kernel holds it, it is reserved or served
    by the Jupyter server itself, a limit was reached, or the server cannot be reached."""

"""Errors of the client, in the :class:`~jupyter_rt.RealtimeError` tree::

    RealtimeError
    ├── ConnectError         the server could not be reached or refused the WebSocket (HTTP)
    └── ServerNotFound       discovery found no Jupyter server to connect to

A namespace that refuses the client raises :class:`~jupyter_rt.ConnectionRefused`; an ack that
does not come raises :class:`~jupyter_rt.AckTimeout`.
"""

from __future__ import annotations

from jupyter_rt.errors import RealtimeError

__all__ = ["ConnectError", "ServerNotFound"]


class ConnectError(RealtimeError):
    """The connection could not be opened: network error, HTTP error, bad handshake, timeout."""


class ServerNotFound(RealtimeError):
    """No Jupyter server was given, set in the environment or found running for this directory."""

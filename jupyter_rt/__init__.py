"""Socket.IO-style realtime events for Jupyter."""
from __future__ import annotations

from jupyter_rt.errors import (
    AckTimeout,
    ConnectionRefused,
    NotConnected,
    ProtocolError,
    RealtimeError,
)

__version__ = "0.1.0"

__all__ = [
    "AckTimeout",
    "ConnectionRefused",
    "NotConnected",
    "ProtocolError",
    "RealtimeError",
    "__version__",
]

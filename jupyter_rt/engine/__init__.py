"""Engine.IO v4 sessions as state machines, driven by an I/O layer that passes in the time.

The I/O layer (``jupyter_rt.transports``) feeds requests, frames and the clock into an
:class:`Engine`, and implements :class:`Transport` (a WebSocket) and the wake-up of a pending
polling request. The layer above (``jupyter_rt.server``) is an :class:`EngineListener`.
"""

from __future__ import annotations

from jupyter_rt.engine.engine import Engine, Refusal
from jupyter_rt.engine.session import (
    EngineListener,
    EngineSession,
    Handshake,
    PayloadIntake,
    Transport,
)

__all__ = [
    "Engine",
    "EngineListener",
    "EngineSession",
    "Handshake",
    "PayloadIntake",
    "Refusal",
    "Transport",
]

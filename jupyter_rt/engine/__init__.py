"""Engine.IO v4 sessions as state machines, driven by an I/O layer that passes in the time.

The I/O layer (``jupyter_rt.transports``) feeds requests, frames and the clock into an
:class:`Engine`, and implements :class:`Transport` (a WebSocket) and the wake-up of a pending
polling request. The layer above (``jupyter_rt.server``) is an :class:`EngineListener`.
What the engine sees of a request is a :class:`Handshake` (:mod:`jupyter_rt.engine.requests`).
A session's life is the table of :mod:`jupyter_rt.engine.state`; a request the engine will not
serve is answered with a :class:`Refusal`.
"""

from __future__ import annotations

from jupyter_rt.engine.engine import Engine
from jupyter_rt.engine.requests import Handshake, Refusal
from jupyter_rt.engine.session import EngineListener, EngineSession, PayloadIntake, Transport
from jupyter_rt.engine.state import SessionEvent, SessionState, TransitionError

__all__ = [
    "Engine",
    "EngineListener",
    "EngineSession",
    "Handshake",
    "PayloadIntake",
    "Refusal",
    "SessionEvent",
    "SessionState",
    "TransitionError",
    "Transport",
]

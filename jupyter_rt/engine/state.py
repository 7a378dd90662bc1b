"""The life of an Engine.IO session as one table: its states, the events that move it, the rules.

:class:`~jupyter_rt.engine.EngineSession` keeps one :class:`SessionState` and changes it only
through :func:`next_state`, so every transition is in :data:`TRANSITIONS` and nowhere else. The
session checks a peer's request against the table first (:func:`allows`) and answers a request
the table does not allow with a refusal; an event the table does not allow that the session
applies anyway is a bug in jupyter_rt and raises :class:`TransitionError`.

::

    OPENING ──polling──▶ POLLING ──probe──▶ PROBING ──2probe──▶ UPGRADING ──5──▶ WEBSOCKET
       │                   ▲                   │ dropped            │ dropped          │
       │                   └───────────────────┴────────────────────┘                  │
       └──────────────────────────────── websocket ───────────────────────────────────▶┤
    POLLING, PROBING, UPGRADING ──closed, packets left──▶ CLOSING ──drained──▶ CLOSED   │
    POLLING, PROBING, UPGRADING, WEBSOCKET ──closed──▶ CLOSED ◀────────────────────────┘
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class SessionState(enum.Enum):
    """Where a session is in its life (see :data:`TRANSITIONS`)."""

    OPENING = "opening"
    """Created, its handshake not yet sent (only inside ``Engine.open``)."""
    POLLING = "polling"
    """Open on HTTP long-polling."""
    PROBING = "probing"
    """Polling, with a WebSocket attached that has not yet sent its ``2probe``."""
    UPGRADING = "upgrading"
    """Polling, the WebSocket probe answered with ``3probe``: waiting for its ``5``."""
    WEBSOCKET = "websocket"
    """Open on a WebSocket (from the start, or once an upgrade completed)."""
    CLOSING = "closing"
    """Closed, with packets (the CLOSE packet, say) left for the client's next polling GET."""
    CLOSED = "closed"
    """Closed and forgotten by the engine (final)."""


# The states by name, as h11 has them: ``state is POLLING`` is a global lookup, where
# ``SessionState.POLLING`` goes through the enum's class machinery each time (the engine checks
# the state on every message).
OPENING = SessionState.OPENING
POLLING = SessionState.POLLING
PROBING = SessionState.PROBING
UPGRADING = SessionState.UPGRADING
WEBSOCKET = SessionState.WEBSOCKET
CLOSING = SessionState.CLOSING
CLOSED = SessionState.CLOSED


class SessionEvent(enum.Enum):
    """What moves a session from one :class:`SessionState` to another."""

    OPENED_POLLING = "opened on polling"
    """The handshake was queued for the first GET."""
    OPENED_WEBSOCKET = "opened on a WebSocket"
    """The handshake was written to the session's WebSocket."""
    PROBE_ATTACHED = "probe attached"
    """A WebSocket came with the session's sid to upgrade it."""
    PROBE_PINGED = "probe pinged"
    """The probe sent ``2probe`` and was answered ``3probe``."""
    UPGRADED = "upgraded"
    """The probe sent ``5``: it is now the session's WebSocket."""
    PROBE_DROPPED = "probe dropped"
    """The probe closed, sent something unexpected or timed out; polling goes on."""
    CLOSED_DRAINING = "closed, draining"
    """Closed on polling with packets left for the client."""
    CLOSED = "closed"
    """Closed with nothing left for the client (or no way to reach it)."""
    DRAINED = "drained"
    """A GET took the last packets, or the drain deadline passed."""


_OPEN_ON_POLLING = (SessionState.POLLING, SessionState.PROBING, SessionState.UPGRADING)

# Invariants (``EngineSession`` keeps them; tests/engine/test_state.py walks the table):
#
# - A session is created OPENING and leaves it once, when ``Engine.open`` sends the handshake:
#   to WEBSOCKET if it was created with a WebSocket, else to POLLING. Nothing returns to OPENING.
# - POLLING, PROBING and UPGRADING are polling: packets wait in the session's outbox for a GET,
#   and at most one GET and one POST are pending at a time. PROBING and UPGRADING, and only they,
#   have an upgrade probe, with its upgrade deadline. In UPGRADING a GET takes the queued
#   packets as in POLLING (the client waits for that GET to end before it sends 5); with none
#   queued, it gets a NOOP from UPGRADE_NOOP_DELAY after the 3probe on (a 100 ms check, as
#   Node's), never at once, where the NOOP would race the client's first packets. What is still
#   queued at UPGRADED goes to the WebSocket, first.
# - One upgrade at a time, and only from POLLING: a probe is refused in any other state. A
#   dropped probe returns the session to POLLING, where a new attempt may start.
# - WEBSOCKET is final for the transport: packets go straight to the WebSocket (the outbox stays
#   empty) and a session on a WebSocket never polls again.
# - Every open state ends in CLOSING or CLOSED, and that first step into either is when the
#   listener's ``on_engine_close`` is called (so exactly once). CLOSING is only reached from
#   polling: the session stays findable until a GET takes its last packets or for one ping
#   interval and timeout at most (its drain deadline), then it is CLOSED. A session closed by a
#   protocol error or its ``set_deadline`` (the connect timeout) goes to CLOSED at once.
# - CLOSED is final: the engine no longer finds the session and holds no wake-up for it. A GET
#   already holding it may still take what its outbox had left.
# - Closing a closed session does nothing; callers check ``closed`` rather than the table.
TRANSITIONS: Mapping[SessionState, Mapping[SessionEvent, SessionState]] = {
    SessionState.OPENING: {
        SessionEvent.OPENED_POLLING: SessionState.POLLING,
        SessionEvent.OPENED_WEBSOCKET: SessionState.WEBSOCKET,
    },
    SessionState.POLLING: {
        SessionEvent.PROBE_ATTACHED: SessionState.PROBING,
        SessionEvent.CLOSED_DRAINING: SessionState.CLOSING,
        SessionEvent.CLOSED: SessionState.CLOSED,
    },
    SessionState.PROBING: {
        SessionEvent.PROBE_PINGED: SessionState.UPGRADING,
        SessionEvent.PROBE_DROPPED: SessionState.POLLING,
        SessionEvent.CLOSED_DRAINING: SessionState.CLOSING,
        SessionEvent.CLOSED: SessionState.CLOSED,
    },
    SessionState.UPGRADING: {
        SessionEvent.UPGRADED: SessionState.WEBSOCKET,
        SessionEvent.PROBE_DROPPED: SessionState.POLLING,
        SessionEvent.CLOSED_DRAINING: SessionState.CLOSING,
        SessionEvent.CLOSED: SessionState.CLOSED,
    },
    SessionState.WEBSOCKET: {
        SessionEvent.CLOSED: SessionState.CLOSED,
    },
    SessionState.CLOSING: {
        SessionEvent.DRAINED: SessionState.CLOSED,
    },
    SessionState.CLOSED: {},
}

POLLING_STATES = frozenset(_OPEN_ON_POLLING)
"""The open states in which the session is polling."""
CLOSED_STATES = frozenset((SessionState.CLOSING, SessionState.CLOSED))
"""The states of a closed session."""


class TransitionError(RuntimeError):
    """A session was given an event its state does not allow: a bug in jupyter_rt, never the
    peer's fault (a peer's out-of-turn request is refused before it reaches the table)."""


def allows(state: SessionState, event: SessionEvent) -> bool:
    """Whether :data:`TRANSITIONS` has a move for ``event`` in ``state``."""
    return event in TRANSITIONS[state]


def next_state(state: SessionState, event: SessionEvent) -> SessionState:
    """The state ``event`` moves a session in ``state`` to; raises :class:`TransitionError` if
    the table has no such move."""
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise TransitionError(f"cannot handle event {event.name} in state {state.name}") from None

"""The table of Engine.IO sessions and the HTTP rules that pick a session for a request."""

from __future__ import annotations

import heapq
import hmac
import itertools
import logging
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from jupyter_rt.engine.session import EngineListener, EngineSession, Handshake, Transport
from jupyter_rt.protocol import engineio

log = logging.getLogger("jupyter_rt")

TRANSPORTS = ("polling", "websocket")


@dataclass(frozen=True, slots=True)
class Refusal:
    """An HTTP error answer to a request the engine will not serve."""

    status: int
    message: str


class Engine:
    """All Engine.IO sessions of one server, their heartbeats and their HTTP request rules.

    The I/O layer calls :meth:`check_request`, then :meth:`open` or :meth:`find`, feeds the
    session, and calls :meth:`tick` at :meth:`next_deadline` (one timer for every heartbeat).
    Times are seconds; ``now`` is a monotonic clock reading supplied by the caller.
    """

    def __init__(
        self,
        listener: EngineListener,
        *,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        max_payload: int = 1_000_000,
        transports: Collection[str] = TRANSPORTS,
        upgrade_timeout: float = 10.0,
        max_poll_packets: int = 16,
        max_buffered_bytes: int = 16_000_000,
    ) -> None:
        unknown = set(transports) - set(TRANSPORTS)
        if unknown or not transports:
            raise ValueError(f"transports must be a non-empty subset of {TRANSPORTS}")
        self.listener = listener
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_payload = max_payload
        self.transports = tuple(t for t in TRANSPORTS if t in transports)
        self.upgrade_timeout = upgrade_timeout
        self.max_poll_packets = max_poll_packets
        self.max_buffered_bytes = max_buffered_bytes
        """Outbound bytes one client may have waiting before it is disconnected."""
        self.sessions: dict[str, EngineSession] = {}
        self._timers: list[tuple[float, int, EngineSession]] = []
        self._sequence = itertools.count()

    def check_request(self, query: Mapping[str, str]) -> Refusal | None:
        """Refuse a request whose ``EIO`` or ``transport`` argument is missing or unsupported."""
        if query.get("EIO") != engineio.PROTOCOL_VERSION:
            return Refusal(400, "Unsupported protocol version")
        if query.get("transport") not in self.transports:
            return Refusal(400, "Transport unknown")
        return None

    def find(self, sid: str, credential: str | None) -> EngineSession | Refusal:
        """The session ``sid`` if ``credential`` is the one that opened it."""
        session = self.sessions.get(sid)
        if session is None:
            return Refusal(400, "Session ID unknown")
        if not _same_credential(session.credential, credential):
            log.warning("Refused a request for session %s made with other credentials", sid)
            return Refusal(403, "Forbidden")
        return session

    def open(
        self,
        handshake: Handshake,
        *,
        now: float,
        credential: str | None = None,
        websocket: Transport | None = None,
    ) -> EngineSession:
        """Open a session on polling, or on ``websocket`` when given, and send the handshake.

        ``credential`` is an opaque string (say, a hash of the token or login cookie); every later
        request for this session must present the same one.
        """
        sid = secrets.token_urlsafe(15)
        transport = "websocket" if websocket is not None else "polling"
        session = EngineSession(self, sid, handshake, credential, transport)
        session._websocket = websocket
        self.sessions[sid] = session
        can_upgrade = transport == "polling" and "websocket" in self.transports
        upgrades = ["websocket"] if can_upgrade else []
        handshake_packet = engineio.open_packet(
            sid,
            upgrades=upgrades,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            max_payload=self.max_payload,
        )
        session._opened(handshake_packet, now)
        self.listener.on_engine_open(session)
        return session

    def tick(self, now: float) -> None:
        """Run every heartbeat and timeout due at ``now``."""
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, session = heapq.heappop(timers)
            session._on_timer(now)

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has work, or ``None`` when no session is open."""
        timers = self._timers
        sessions = self.sessions
        while timers and timers[0][2].sid not in sessions:
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    def close_all(self, reason: str = "server shutting down") -> None:
        """Drop every session without a CLOSE packet, so that clients come back later."""
        for session in list(self.sessions.values()):
            session.close(reason, notify=False)
        self.sessions.clear()  # with the closed ones still holding packets for their clients

    def _schedule(self, session: EngineSession, deadline: float) -> None:
        heapq.heappush(self._timers, (deadline, next(self._sequence), session))

    def _forget(self, session: EngineSession) -> None:
        self.sessions.pop(session.sid, None)


def _same_credential(expected: str | None, given: str | None) -> bool:
    if expected is None:
        return True
    return given is not None and hmac.compare_digest(expected, given)

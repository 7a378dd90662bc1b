"""The table of Engine.IO sessions and the HTTP rules that pick a session for a request."""

from __future__ import annotations

import heapq
import hmac
import itertools
import logging
import secrets
from collections.abc import Callable, Collection, Mapping
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
    session, and calls :meth:`tick` at :meth:`next_deadline` (one timer for every heartbeat and
    timeout). When that deadline moves earlier outside a request (say, a deadline set by server
    code), the engine calls :attr:`on_next_deadline`, so the I/O layer can re-arm its timer.
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
        self.on_next_deadline: Callable[[float], None] | None = None
        """Called with the new :meth:`next_deadline` when it moves earlier (the I/O layer's timer
        must then fire by that time); ``None`` when nobody needs telling."""
        # One live entry per session at most (entry[1] == session._timer_seq); entries made
        # stale by an earlier deadline or a forgotten session are counted and swept in bulk.
        self._timers: list[tuple[float, int, EngineSession]] = []
        self._stale = 0
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
        deadline = session._next_deadline()  # scheduled once the listener set its own deadline
        if deadline is not None:
            self._schedule(session, deadline)
        return session

    def tick(self, now: float) -> None:
        """Run every heartbeat and timeout due at ``now``."""
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, seq, session = heapq.heappop(timers)
            if seq != session._timer_seq:
                self._stale -= 1
                continue
            session._timer_seq = None
            session._on_timer(now)
            deadline = session._next_deadline()
            if deadline is not None:
                self._schedule(session, deadline)
        self._sweep()

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has work (maybe earlier), or ``None`` when no session is open."""
        timers = self._timers
        while timers and timers[0][1] != timers[0][2]._timer_seq:
            heapq.heappop(timers)
            self._stale -= 1
        return timers[0][0] if timers else None

    def close_all(self, reason: str = "server shutting down") -> None:
        """Drop every session without a CLOSE packet, so that clients come back later."""
        for session in list(self.sessions.values()):
            session.close(reason, notify=False)
        self.sessions.clear()  # with the closed ones still holding packets for their clients
        for _, _, session in self._timers:
            session._timer_seq = None
        self._timers.clear()
        self._stale = 0

    def _schedule(self, session: EngineSession, deadline: float) -> None:
        """Make ``session``'s timer run by ``deadline``; after it runs, the session is scheduled
        again for its next deadline (:meth:`EngineSession._next_deadline`)."""
        if session._timer_seq is not None:
            if session._timer_at <= deadline:
                return
            self._unschedule(session)
        timers = self._timers
        earlier = not timers or deadline < timers[0][0]
        seq = next(self._sequence)
        session._timer_seq = seq
        session._timer_at = deadline
        heapq.heappush(timers, (deadline, seq, session))
        if earlier and self.on_next_deadline is not None:
            self.on_next_deadline(deadline)

    def _unschedule(self, session: EngineSession) -> None:
        if session._timer_seq is not None:
            session._timer_seq = None
            self._stale += 1
            self._sweep()

    def _sweep(self) -> None:
        """Drop the stale heap entries once they are half the heap (in place: :meth:`tick` may
        be iterating), so that the heap stays within twice the live sessions and releases the
        forgotten ones."""
        timers = self._timers
        if self._stale > 32 and 2 * self._stale >= len(timers):
            timers[:] = [entry for entry in timers if entry[1] == entry[2]._timer_seq]
            heapq.heapify(timers)
            self._stale = 0

    def _forget(self, session: EngineSession) -> None:
        self.sessions.pop(session.sid, None)
        self._unschedule(session)


def _same_credential(expected: str | None, given: str | None) -> bool:
    if expected is None:
        return True
    return given is not None and hmac.compare_digest(expected, given)

"""The table of Engine.IO sessions and the HTTP rules that pick a session for a request."""

from __future__ import annotations

import heapq
import itertools
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from jupyter_rt._credential import same_credential
from jupyter_rt._shrink import Shrinker
from jupyter_rt._throttle import LogThrottle
from jupyter_rt.engine.requests import FORBIDDEN, UNKNOWN_SID, Handshake, Refusal
from jupyter_rt.engine.session import EngineListener, EngineSession, Transport
from jupyter_rt.errors import ConnectionRefused
from jupyter_rt.options import Options, ResponseHeaders
from jupyter_rt.protocol import engineio
from jupyter_rt.protocol.engineio import ErrorCode
from jupyter_rt.protocol.events import Reason

__all__ = ["Engine", "Refusal"]

log = logging.getLogger("jupyter_rt")


class Engine:
    """All Engine.IO sessions of one server, their heartbeats and their HTTP request rules.

    The I/O layer calls :meth:`check_request`, then :meth:`find`, or :meth:`allow` and
    :meth:`open` for a handshake, feeds the session, adds :meth:`response_headers` to what it
    answers, and calls :meth:`tick` at :meth:`next_deadline` (one timer for every heartbeat and
    timeout). When that deadline moves earlier outside a request (say, a deadline set by server
    code), the engine calls :attr:`on_next_deadline`, so the I/O layer can re-arm its timer.
    Times are seconds; ``now`` is a monotonic clock reading supplied by the caller.
    """

    def __init__(
        self, listener: EngineListener, options: Options | None = None, **changes: Any
    ) -> None:
        """``options`` (or the defaults) with ``changes`` by name: ``Engine(l, ping_timeout=5)``."""
        options = (options or Options()).with_changes(changes)
        self.options = options
        self.listener = listener
        self.ping_interval = options.ping_interval
        self.ping_timeout = options.ping_timeout
        self.max_payload = options.max_payload
        self.transports = options.transports
        self.upgrade_timeout = options.upgrade_timeout
        self.max_poll_packets = options.max_poll_packets
        self.max_buffered_bytes = options.max_buffered_bytes
        """Outbound bytes one client may have waiting before it is disconnected."""
        self.sessions: dict[str, EngineSession] = {}
        self._sessions_size = Shrinker()
        self.on_crowd_left: Callable[[], None] | None = None
        """Called when :attr:`sessions` has fallen to an eighth of a peak of at least 1,024
        (a crowd has left: the I/O layer may give memory back to the system)."""
        self.on_next_deadline: Callable[[float], None] | None = None
        """Called with the new :meth:`next_deadline` when it moves earlier (the I/O layer's timer
        must then fire by that time); ``None`` when nobody needs telling."""
        self._timers = _TimerHeap()
        self._hook_errors = LogThrottle(log)
        self.refusals: dict[str, int] = {}
        """Requests refused since the engine started, by reason (:meth:`count_refusal`)."""
        self.slow_consumers = 0
        """Sessions closed since the engine started because more than
        :attr:`max_buffered_bytes` waited to be sent to their client."""

    def count_refusal(self, reason: str) -> None:
        """Count a request the I/O layer refused, for ``reason`` (a word of a short fixed list:
        :attr:`Refusal.reason`, or the host's own, such as ``"not_authorized"``). Past
        :data:`MAX_REFUSAL_REASONS` distinct reasons, new ones count as ``"other"``."""
        refusals = self.refusals
        if reason not in refusals and len(refusals) >= MAX_REFUSAL_REASONS:
            reason = "other"
        refusals[reason] = refusals.get(reason, 0) + 1

    def check_request(self, query: Mapping[str, str], method: str = "GET") -> Refusal | None:
        """Refuse what engine.io refuses before it looks at a session, in its order: a missing or
        unknown ``transport``; for a handshake (no ``sid``), a method other than GET, then an
        ``EIO`` other than 4. The body says which (``{"code": 0, "message": "Transport
        unknown"}``...)."""
        if query.get("transport") not in self.transports:
            return Refusal.of(ErrorCode.UNKNOWN_TRANSPORT)
        if "sid" in query:
            return None
        if method != "GET":
            return Refusal.of(ErrorCode.BAD_HANDSHAKE_METHOD)
        if query.get("EIO") != engineio.PROTOCOL_VERSION:
            return Refusal.of(ErrorCode.UNSUPPORTED_PROTOCOL_VERSION)
        return None

    def find(self, sid: str, credential: str | None) -> EngineSession | Refusal:
        """The session ``sid`` if ``credential`` is the one that opened it."""
        session = self.sessions.get(sid)
        if session is None:
            return UNKNOWN_SID
        if not same_credential(session.credential, credential):
            log.warning("Refused a request for session %s made with other credentials", sid)
            return FORBIDDEN
        return session

    def allow(self, request: Handshake) -> Refusal | Awaitable[Refusal | None] | None:
        """Run the ``allow_request`` option on a handshake ``request``: ``None`` to go on and
        :meth:`open` the session, the refusal to answer with, or an awaitable of either (an
        async ``allow_request``; the caller awaits it, then checks the client is still there).
        """
        hook = self.options.allow_request
        if hook is None:
            return None
        try:
            verdict = hook(request)
        except Exception as exc:
            return self._refused_by_hook(exc, request)
        if isinstance(verdict, Awaitable):
            return self._await_verdict(verdict, request)
        return self._verdict(verdict)

    async def _await_verdict(
        self, verdict: Awaitable[bool | None], request: Handshake
    ) -> Refusal | None:
        try:
            value = await verdict
        except Exception as exc:
            return self._refused_by_hook(exc, request)
        return self._verdict(value)

    def _verdict(self, value: object) -> Refusal | None:
        if value is None or value is True:
            return None
        if value is not False:
            self._hook_errors.log(
                logging.ERROR,
                ("allow_request", "result"),
                "allow_request returned %s, not None, True or False: the request is refused",
                type(value).__name__,
            )
        return FORBIDDEN

    def _refused_by_hook(self, exc: Exception, request: Handshake) -> Refusal:
        if isinstance(exc, ConnectionRefused):
            log.info("allow_request refused a handshake from %s: %s", request.remote_address, exc)
            return Refusal.of(ErrorCode.FORBIDDEN, exc.message)
        self._hook_errors.log(
            logging.ERROR,
            ("allow_request", type(exc)),
            "allow_request raised: the request is refused",
            exc_info=exc,
        )
        return FORBIDDEN

    def response_headers(self, request: Handshake, *, initial: bool) -> list[tuple[str, str]]:
        """The headers the ``initial_headers`` (when ``initial``: the response that opens a
        session) and ``headers`` options add to the response to ``request``, as ``(name,
        value)`` pairs in order (a name may repeat). What a hook raises, and the names and
        values it may not set, are logged and left out."""
        options = self.options
        hooks = (options.initial_headers, options.headers) if initial else (options.headers,)
        added: ResponseHeaders = {}
        for hook in hooks:
            if hook is None:
                continue
            before = dict(added)
            try:
                hook(added, request)
            except Exception as exc:
                added.clear()
                added.update(before)
                self._hook_errors.log(
                    logging.ERROR,
                    ("headers", type(exc)),
                    "A headers hook raised: the response goes without what it added",
                    exc_info=exc,
                )
        return self._checked_headers(added) if added else []

    def _checked_headers(self, added: ResponseHeaders) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for name, value in added.items():
            values = value if isinstance(value, list) else [value]
            if not isinstance(name, str) or not _TOKEN.fullmatch(name):
                problem = "not a header name"
            elif name.lower() in PROTECTED_HEADERS or name.lower().startswith("sec-websocket-"):
                problem = "set by the protocol"
            elif not all(isinstance(v, str) and not _BAD_VALUE.search(v) for v in values):
                problem = "a value that is not a one-line str"
            else:
                pairs.extend((name, v) for v in values)
                continue
            self._hook_errors.log(
                logging.WARNING,
                ("header", problem),
                "A headers hook set %r, %s: left out of the response",
                name if isinstance(name, str) else type(name).__name__,
                problem,
            )
        return pairs

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
        session = EngineSession(self, sid, handshake, credential, websocket)
        self.sessions[sid] = session
        self._sessions_size.grew(len(self.sessions))
        can_upgrade = websocket is None and "websocket" in self.transports
        upgrades = ["websocket"] if can_upgrade else []
        handshake_packet = engineio.open_packet(
            sid,
            upgrades=upgrades,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            max_payload=self.max_payload,
        )
        session.send_handshake(handshake_packet, now)
        self.listener.on_engine_open(session)
        deadline = session.next_deadline  # scheduled once the listener set its own deadline
        if deadline is not None:
            self.wake_at(session, deadline)
        return session

    def tick(self, now: float) -> None:
        """Run every heartbeat and timeout due at ``now``."""
        timers = self._timers
        while (session := timers.pop_due(now)) is not None:
            session.on_timer(now)
            deadline = session.next_deadline
            if deadline is not None:
                self.wake_at(session, deadline)
        timers.sweep()

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has work (maybe earlier), or ``None`` when no session is open."""
        return self._timers.next_deadline()

    def close_all(self, reason: Reason = "server shutting down") -> None:
        """Drop every session without a CLOSE packet, so that clients come back later."""
        for session in list(self.sessions.values()):
            session.close(reason, notify=False)
        self.sessions.clear()  # with the closed ones still holding packets for their clients
        self._timers.clear()

    def wake_at(self, session: EngineSession, deadline: float) -> None:
        """Make :meth:`tick` run ``session``'s :meth:`EngineSession.on_timer` by ``deadline``.

        The session's own way to ask for a timer: each session has one wake-up, at the earliest
        deadline asked for since it last ran (a later one is ignored, as the session asks again
        for its :attr:`EngineSession.next_deadline` after each run). Calls
        :attr:`on_next_deadline` when this brings :meth:`next_deadline` earlier.
        """
        if self._timers.schedule(session, deadline) and self.on_next_deadline is not None:
            self.on_next_deadline(deadline)

    def forget(self, session: EngineSession) -> None:
        """Drop ``session``, closed and with nothing left for its client: a later request for it
        is refused with ``Session ID unknown``, and it has no wake-up left. Sessions call this
        themselves when they are done."""
        self.sessions.pop(session.sid, None)
        self._timers.cancel(session)
        if self._sessions_size.shrunk(self.sessions) and self.on_crowd_left is not None:
            self.on_crowd_left()


MAX_REFUSAL_REASONS = 32
"""Distinct reasons :attr:`Engine.refusals` keeps apart."""

PROTECTED_HEADERS = frozenset(
    {
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "transfer-encoding",
        "upgrade",
    }
)
"""Response headers (lower-case) that the headers hooks may not set: the protocol's own, which
frame the response (``Sec-WebSocket-*`` too)."""

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")


class _TimerHeap:
    """The wake-ups of an engine's sessions, earliest first (a heap of ``(deadline, sequence,
    session)`` entries, the sequence number breaking ties so that sessions are never compared).

    A session has one live entry at most, the one recorded for it in ``_live``. An entry made
    stale by an earlier deadline or a cancelled session stays in the heap, counted in
    :attr:`stale`, until it reaches the top or is swept with the other stale ones.
    """

    __slots__ = ("_entries", "_live", "_sequence", "stale")

    def __init__(self) -> None:
        self._entries: list[tuple[float, int, EngineSession]] = []
        self._live: dict[EngineSession, tuple[float, int, EngineSession]] = {}
        self._sequence = itertools.count()
        self.stale = 0
        """How many entries of the heap are not live."""

    def __len__(self) -> int:
        """Entries in the heap, stale ones included."""
        return len(self._entries)

    def schedule(self, session: EngineSession, deadline: float) -> bool:
        """Give ``session`` an entry at ``deadline`` unless it has one by then already; returns
        whether the new entry is now the heap's earliest."""
        current = self._live.get(session)
        if current is not None:
            if current[0] <= deadline:
                return False
            self.cancel(session)
        entries = self._entries
        earliest = not entries or deadline < entries[0][0]
        entry = (deadline, next(self._sequence), session)
        self._live[session] = entry
        heapq.heappush(entries, entry)
        return earliest

    def cancel(self, session: EngineSession) -> None:
        """Make ``session``'s entry, if any, stale."""
        if self._live.pop(session, None) is not None:
            self.stale += 1
            self.sweep()

    def pop_due(self, now: float) -> EngineSession | None:
        """Remove the earliest live entry due at ``now`` (and the stale ones before it); returns
        its session, which then has no entry, or ``None`` when no entry is due."""
        entries = self._entries
        live = self._live
        while entries and entries[0][0] <= now:
            entry = heapq.heappop(entries)
            session = entry[2]
            if live.get(session) is not entry:
                self.stale -= 1
                continue
            del live[session]
            return session
        return None

    def next_deadline(self) -> float | None:
        """The deadline of the earliest live entry (stale ones on top are dropped), or ``None``."""
        entries = self._entries
        live = self._live
        while entries and live.get(entries[0][2]) is not entries[0]:
            heapq.heappop(entries)
            self.stale -= 1
        return entries[0][0] if entries else None

    def sweep(self) -> None:
        """Drop the stale entries once there are over 32 of them and they are half the heap, so
        that the heap stays within twice the live sessions and releases the cancelled ones."""
        entries = self._entries
        if self.stale > 32 and 2 * self.stale >= len(entries):
            entries[:] = self._live.values()
            heapq.heapify(entries)
            self.stale = 0

    def clear(self) -> None:
        """Drop every entry."""
        self._entries.clear()
        self._live.clear()
        self.stale = 0

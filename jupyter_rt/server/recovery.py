"""Connection state recovery in one server (Node's ``connectionStateRecovery``).

With ``Server(connection_state_recovery=True)`` every socket gets a private id (``pid``, sent in
its CONNECT reply beside ``sid``), and every packet that may be recovered carries an offset as its
last argument: the EVENTs of broadcasts and of ``socket.emit`` without an ack callback; not
volatile ones, nor ones asking for an ack (as in Node). A socket that loses its connection for a
recoverable reason (:data:`RECOVERABLE_REASONS`) leaves a :class:`SessionToPersist` behind; a
client that connects again with ``{"pid": ..., "offset": ...}`` in its CONNECT auth, with the same
credentials, within ``max_disconnection_duration``, gets the same socket id, its rooms and
``socket.data`` back, then the packets it missed, in order, once. Anything else (an unknown or
expired pid, another user's, an offset whose successors are gone) gives a fresh session.

:class:`RecoveryStore` keeps the sessions and packets of one server, for all its namespaces, in
memory, within the caps of :class:`~jupyter_rt.options.ConnectionStateRecovery`;
:class:`SessionAwareAdapter` is the memory adapter that fills it. The connection uses
:func:`recover`, :func:`give_back` and :func:`persist`, which work with any adapter.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import secrets
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from jupyter_rt.options import ConnectionStateRecovery
from jupyter_rt.protocol.events import DisconnectReason
from jupyter_rt.protocol.socketio import Packet, PacketType, encode_fields
from jupyter_rt.server._util import log
from jupyter_rt.server.adapter import (
    Adapter,
    BroadcastOptions,
    MemoryAdapter,
    Session,
    SessionToPersist,
)

if TYPE_CHECKING:
    from jupyter_rt._throttle import LogThrottle
    from jupyter_rt.clock import Clock, Timer
    from jupyter_rt.server.namespace import Namespace

__all__ = [
    "RECOVERABLE_REASONS",
    "Recovery",
    "RecoveryStore",
    "SessionAwareAdapter",
    "give_back",
    "persist",
    "recover",
    "recovery_request",
    "without_recovery_fields",
]

RECOVERABLE_REASONS: Final = frozenset(
    {
        DisconnectReason.TRANSPORT_ERROR,
        DisconnectReason.TRANSPORT_CLOSE,
        DisconnectReason.FORCED_CLOSE,
        DisconnectReason.PING_TIMEOUT,
        DisconnectReason.SERVER_SHUTTING_DOWN,
    }
)
"""The disconnect reasons after which a socket's state is kept (Node's): the connection was
lost or closed under it, not left on purpose by either side."""

MAX_FIELD_LENGTH: Final = 64
"""Longest ``pid`` or ``offset`` a client may send; a longer one gives a fresh session."""

_RECOVERY_FIELDS: Final = ("pid", "offset")


def recovery_request(auth: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(pid, offset)`` if a CONNECT's ``auth`` asks to recover a session, else ``None``."""
    pid = auth.get("pid")
    offset = auth.get("offset")
    if (
        isinstance(pid, str)
        and isinstance(offset, str)
        and 0 < len(pid) <= MAX_FIELD_LENGTH
        and 0 < len(offset) <= MAX_FIELD_LENGTH
    ):
        return pid, offset
    return None


def without_recovery_fields(auth: Mapping[str, Any]) -> Mapping[str, Any]:
    """``auth`` as the app sees it (``socket.handshake.auth``): without ``pid`` and ``offset``,
    which only the server reads."""
    if "pid" not in auth and "offset" not in auth:
        return auth
    return {k: v for k, v in auth.items() if k not in _RECOVERY_FIELDS}


class Recovery:
    """A socket being recovered, between :func:`recover` and its CONNECT reply.

    ``stale``: time passed since (an async middleware ran), so packets may have been missed
    after ``session.missed_packets`` was made; the connection asks again before it connects.
    """

    __slots__ = ("adapter", "offset", "session", "stale")

    def __init__(self, adapter: Adapter, session: Session, offset: str) -> None:
        self.adapter = adapter
        self.session = session
        self.offset = offset
        self.stale = False


def _kept(session: SessionToPersist, data: Any = None) -> SessionToPersist:
    """``session`` without its missed packets (and with ``data`` if given), to keep again."""
    return SessionToPersist(
        session.sid,
        session.pid,
        session.rooms,
        session.data if data is None else data,
        session.credential,
    )


async def persist(adapter: Adapter, session: SessionToPersist) -> None:
    """``adapter.persist_session(session)``, its errors logged (a socket just disconnected)."""
    try:
        await adapter.persist_session(session)
    except Exception:
        log.exception("Cannot keep the session of socket %s for recovery", session.sid)


async def give_back(adapter: Adapter, session: SessionToPersist, data: Any = None) -> None:
    """Keep a session taken by :func:`recover` again, when it was not used after all (its
    client left, or came with other credentials)."""
    await persist(adapter, _kept(session, data))


async def recover(
    adapter: Adapter, pid: str, offset: str, credential: str | None, throttle: LogThrottle
) -> Session | None:
    """The session ``pid`` with the packets missed after ``offset``, if the connection asking
    (with ``credential``) may have it; ``None`` for a fresh session. Never raises."""
    try:
        session = await adapter.restore_session(pid, offset)
    except Exception:
        log.exception("Cannot restore a session in %s: a fresh one instead", adapter.nsp.name)
        return None
    if session is None:
        return None
    if not adapter.may_recover(session, credential):
        throttle.log(
            logging.WARNING,
            ("recovery", "credential"),
            "Refused to recover socket %s in %s for other credentials; a fresh session instead",
            session.sid,
            adapter.nsp.name,
        )
        await give_back(adapter, session)
        return None
    if session.sid in adapter.nsp.sockets:  # connected again meanwhile, by another attempt
        return None
    return session


_Entry = tuple[int, str, BroadcastOptions, list[str | bytes], float]
"""A stored packet: (sequence number, namespace, who it was for, frames, when it expires)."""


class RecoveryStore:
    """The disconnected sessions and recent packets one server keeps, for all its namespaces.

    Packets are numbered in one sequence; a packet's offset is the store's random prefix and its
    number, so an offset of another server or of an earlier run is refused. Memory is bounded:
    each session and packet is dropped ``max_disconnection_duration`` seconds after it came
    (swept by one timer on ``clock``), the oldest first past ``max_stored_sessions`` or
    ``max_stored_packets``; a session that missed more than ``max_missed_packets`` is refused.
    What is dropped before its time is counted in :attr:`counts` and logged (at most once a
    minute per kind).
    """

    __slots__ = (
        "_closed",
        "_duration",
        "_last",
        "_max_packets",
        "_now",
        "_packets",
        "_prefix",
        "_sessions",
        "_throttle",
        "_timer",
        "clock",
        "counts",
        "settings",
    )

    def __init__(
        self, settings: ConnectionStateRecovery, clock: Clock, throttle: LogThrottle
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._now = clock.now
        self._duration = settings.max_disconnection_duration
        self._max_packets = settings.max_stored_packets
        self._throttle = throttle
        self._prefix = secrets.token_urlsafe(6) + "-"
        self._last = 0
        self._packets: deque[_Entry] = deque()
        self._sessions: OrderedDict[tuple[str, str], tuple[SessionToPersist, float]] = OrderedDict()
        self._timer: Timer | None = None
        self._closed = False
        self.counts: Counter[str] = Counter()
        """How many were dropped, by kind: ``evicted_packets`` and ``evicted_sessions`` (over a
        cap), ``overflowed_sessions`` (missed too much), ``expired_packets`` and
        ``expired_sessions`` (their time was up), ``refused_offsets`` and ``unknown_sessions``
        (recovery asked for and not possible)."""

    def __repr__(self) -> str:
        return f"<RecoveryStore sessions={len(self._sessions)} packets={len(self._packets)}>"

    @property
    def stored_packets(self) -> int:
        """How many packets are kept."""
        return len(self._packets)

    @property
    def stored_sessions(self) -> int:
        """How many disconnected sessions are kept."""
        return len(self._sessions)

    # -- packets ------------------------------------------------------------------------------

    def add(self, nsp: str, packet: Packet, opts: BroadcastOptions) -> list[str | bytes]:
        """Number an EVENT of ``nsp`` for ``opts``, keep it, and return its frames (its offset
        appended to its data, encoded once)."""
        seq = self._last + 1
        data = [*packet.data, f"{self._prefix}{seq}"]
        frames = encode_fields(packet.type, packet.nsp, data)  # raises before anything is kept
        if self._closed:
            return frames
        self._last = seq
        packets = self._packets
        packets.append((seq, nsp, opts, frames, self._now() + self._duration))
        if len(packets) > self._max_packets:
            packets.popleft()
            self._dropped(
                "evicted_packets",
                "Connection state recovery keeps %d packets at most (max_stored_packets): the "
                "oldest are dropped, and clients that missed them get fresh sessions",
                self.settings.max_stored_packets,
            )
        if self._timer is None:
            self._schedule()
        return frames

    def _sequence(self, offset: str) -> int | None:
        """The sequence number of one of our offsets, if it is one still usable: no packet
        after it has been dropped, and it is not in the future."""
        if not offset.startswith(self._prefix):
            return None
        digits = offset[len(self._prefix) :]
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
            return None
        seq = int(digits)
        first = self._packets[0][0] if self._packets else self._last + 1
        return seq if first - 1 <= seq <= self._last else None

    # -- sessions -----------------------------------------------------------------------------

    def keep(self, nsp: str, session: SessionToPersist) -> None:
        """Keep ``session`` of ``nsp`` for ``max_disconnection_duration`` seconds."""
        if self._closed:
            return
        key = (nsp, session.pid)
        sessions = self._sessions
        sessions.pop(key, None)
        sessions[key] = (session, self.clock.now() + self.settings.max_disconnection_duration)
        if len(sessions) > self.settings.max_stored_sessions:
            sessions.popitem(last=False)
            self._dropped(
                "evicted_sessions",
                "Connection state recovery keeps %d disconnected sessions at most "
                "(max_stored_sessions): the oldest are dropped",
                self.settings.max_stored_sessions,
            )
        if self._timer is None:
            self._schedule()

    def take(self, nsp: str, pid: str, offset: str) -> Session | None:
        """The session ``pid`` of ``nsp`` and the packets it missed after ``offset``, no longer
        kept; or ``None`` (a session whose offset does not fit stays kept until it expires)."""
        key = (nsp, pid)
        found = self._sessions.get(key)
        if found is None:
            self.counts["unknown_sessions"] += 1
            return None
        session, expires = found
        if expires <= self.clock.now():
            del self._sessions[key]
            self.counts["expired_sessions"] += 1
            return None
        seq = self._sequence(offset)
        if seq is None:
            self.counts["refused_offsets"] += 1
            log.debug("Socket %s came back with an offset that cannot be used", session.sid)
            return None
        del self._sessions[key]
        packets = self._packets
        start = seq + 1 - packets[0][0] if packets else 0
        rooms = session.rooms
        limit = self.settings.max_missed_packets
        missed: list[list[str | bytes]] = []
        for _, name, opts, frames, _ in itertools.islice(packets, start, None):
            if (
                name == nsp
                and (not opts.rooms or not opts.rooms.isdisjoint(rooms))
                and opts.except_.isdisjoint(rooms)
            ):
                if len(missed) == limit:
                    self._dropped(
                        "overflowed_sessions",
                        "Socket %s missed more than %d packets (max_missed_packets): it gets a "
                        "fresh session",
                        session.sid,
                        limit,
                    )
                    return None
                missed.append(frames)
        return Session(
            session.sid, session.pid, rooms, session.data, session.credential, tuple(missed)
        )

    # -- upkeep -------------------------------------------------------------------------------

    def _dropped(self, kind: str, message: str, *args: Any) -> None:
        self.counts[kind] += 1
        held = self._throttle.allow(("recovery", kind))  # at most once a minute per kind
        if held is not None:
            if held:
                message += f" ({held} more since the last time, not logged)"
            log.warning(message, *args)

    def _schedule(self) -> None:
        """One timer for the next expiry, at most every eighth of the duration (a packet may
        outlive its time by that much; it is never replayed to a session that expired)."""
        self._timer = None
        due = []
        if self._packets:
            due.append(self._packets[0][4])
        if self._sessions:
            due.append(next(iter(self._sessions.values()))[1])
        if not due:
            return
        settle = self.settings.max_disconnection_duration / 8
        when = max(min(due), self.clock.now() + settle)
        with contextlib.suppress(RuntimeError):  # no loop yet: the next add or keep tries again
            self._timer = self.clock.call_at(when, self._sweep)

    def _sweep(self) -> None:
        now = self.clock.now()
        packets = self._packets
        while packets and packets[0][4] <= now:
            packets.popleft()
            self.counts["expired_packets"] += 1
        sessions = self._sessions
        while sessions:
            key, (_, expires) = next(iter(sessions.items()))
            if expires > now:
                break
            del sessions[key]
            self.counts["expired_sessions"] += 1
        self._schedule()

    def close(self) -> None:
        """Drop everything, stop the timer and keep nothing more (the server is closing)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._packets.clear()
        self._sessions.clear()


class SessionAwareAdapter(MemoryAdapter):
    """The memory adapter with connection state recovery (Node's ``SessionAwareAdapter``).

    ``Server(connection_state_recovery=True)`` uses it unless given an adapter. The namespaces
    of one server share ``store`` (:class:`RecoveryStore`); made without one, an adapter keeps
    its own, with the server's settings.
    """

    recovers_sessions = True

    def __init__(self, nsp: Namespace, store: RecoveryStore | None = None) -> None:
        super().__init__(nsp)
        if store is None:
            server = nsp.server
            settings = server.options.recovery or ConnectionStateRecovery()
            store = RecoveryStore(settings, server.clock, server.tasks.throttle)
        self.store = store

    @classmethod
    def factory(cls, store: RecoveryStore) -> Callable[[Namespace], SessionAwareAdapter]:
        """What ``Server(adapter=...)`` takes: adapters sharing ``store``."""

        def make(nsp: Namespace) -> SessionAwareAdapter:
            return cls(nsp, store)

        return make

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Keep the packet with an offset (unless volatile or asking for acks), then send it."""
        if packet.type != PacketType.EVENT or packet.id is not None or opts.flags.volatile:
            self.broadcast_local(packet, opts)
            return
        frames = self.store.add(self.nsp.name, packet, opts)
        for socket in self._apply(opts):
            socket.deliver(frames)

    async def persist_session(self, session: SessionToPersist) -> None:
        self.store.keep(self.nsp.name, session)

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        return self.store.take(self.nsp.name, pid, offset)

    async def aclose(self) -> None:
        """The server is closing: the store is emptied (every namespace may call it)."""
        self.close()
        self.store.close()

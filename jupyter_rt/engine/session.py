"""One Engine.IO v4 session: handshake, heartbeat, polling, WebSocket and the upgrade between them.

Its states, the events between them and their invariants are one table, in
:mod:`jupyter_rt.engine.state`; the session changes state only through that table. Besides its
state, a session keeps what the state does not say: the pending GET and POST (one of each at
most), the packets waiting for a GET, and its deadlines.

Timers: every deadline (ping, pong, upgrade, drain, the listener's ``set_deadline``) is asked of
the engine with ``Engine.wake_at``; the engine keeps one wake-up per session and, from
``Engine.tick`` with no request needed, calls :meth:`EngineSession.on_timer`, then asks for
:attr:`EngineSession.next_deadline`. ``Engine.forget`` drops a session that is done, wake-up and
all.

Nothing here reads a clock or touches a socket: callers pass ``now`` (seconds, monotonic).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from jupyter_rt.engine.requests import NOT_POLLING, UNKNOWN_SID, Handshake, Refusal
from jupyter_rt.engine.state import (
    CLOSED,
    CLOSING,
    OPENING,
    POLLING,
    POLLING_STATES,
    PROBING,
    UPGRADING,
    WEBSOCKET,
    SessionEvent,
    SessionState,
    TransitionError,
    allows,
    next_state,
)
from jupyter_rt.errors import ProtocolError
from jupyter_rt.protocol import engineio
from jupyter_rt.protocol.engineio import Packet, PacketType
from jupyter_rt.protocol.events import Reason

if TYPE_CHECKING:
    from jupyter_rt.engine.engine import Engine

log = logging.getLogger("jupyter_rt")

_last_messages: Sequence[str | bytes] = ()
_last_frames: list[str | bytes] = []


def _message_frames(messages: Sequence[str | bytes]) -> list[str | bytes]:
    """The WebSocket frames of ``messages``. A broadcast hands every recipient the same
    ``messages`` object, so they all get the same list back, which lets the transport build the
    wire bytes once (the reference kept here stops the object's id from being reused)."""
    global _last_messages, _last_frames
    if messages is not _last_messages:
        _last_frames = [engineio.message_frame(m) for m in messages]
        _last_messages = messages
    return _last_frames


UPGRADE_NOOP_DELAY = 0.1
"""Seconds from the ``3probe`` to the NOOP that ends the pending GET of an upgrade (Node's check
interval): answered at once, it would race the packets of the client's first moments."""


class Transport(Protocol):
    """A WebSocket as the engine sees it; the I/O layer implements it."""

    def write(self, frames: Sequence[str | bytes]) -> None:
        """Send the frames in order (text for ``str``, binary for ``bytes``). Never blocks."""

    @property
    def buffered_amount(self) -> int:
        """Bytes written but not yet taken by the kernel (the engine limits it)."""

    def close(self) -> None:
        """Close the WebSocket. Later writes are ignored."""


class EngineListener(Protocol):
    """The layer above the engine (the Socket.IO server). Called on the event loop thread."""

    def on_engine_open(self, session: EngineSession) -> None: ...

    def on_engine_message(self, session: EngineSession, data: str | bytes) -> None: ...

    def on_engine_close(self, session: EngineSession, reason: Reason) -> None: ...


class PayloadIntake:
    """One polling POST body being handled a slice at a time (from
    :meth:`EngineSession.payload_intake`), so that a body of many packets never holds the event
    loop: the I/O layer calls :meth:`step` and yields to the loop between calls.

    Handling stops at the first error and when the session closes (the rest of the body is
    dropped). Once :meth:`step` returns ``False``, answer the POST with HTTP 400 and
    :attr:`error` if it is set, else ``ok``.
    """

    __slots__ = ("_chunks", "_session", "error")

    def __init__(
        self, session: EngineSession, chunks: Iterator[str], error: Refusal | None
    ) -> None:
        self._session = session
        self._chunks = chunks
        self.error = error
        """``None``, or the answer to the POST (an HTTP 400; the session is then closed)."""

    def step(self, now: float, max_packets: int) -> bool:
        """Handle up to ``max_packets`` more packets; returns whether some may remain."""
        # Once error is set, the chunks are empty or the session closed: this returns False.
        more, error = self._session._receive_chunks(self._chunks, now, max_packets)
        if error is not None:
            self.error = error
        return more


class EngineSession:
    """One client's Engine.IO session. Created by :meth:`Engine.open`, with the WebSocket it
    opens on (``None`` on polling); an upgrade's WebSocket comes in through :meth:`attach_probe`."""

    __slots__ = (
        "__weakref__",
        "_clock",
        "_close_deadline",
        "_close_reason",
        "_drain_deadline",
        "_engine",
        "_outbox",
        "_outbox_bytes",
        "_ping_due",
        "_pong_deadline",
        "_posting",
        "_probe",
        "_state",
        "_upgrade_deadline",
        "_upgrade_noop_at",
        "_upgrade_noop_ready",
        "_wake_poll",
        "_websocket",
        "credential",
        "handshake",
        "sid",
    )

    def __init__(
        self,
        engine: Engine,
        sid: str,
        handshake: Handshake,
        credential: str | None,
        websocket: Transport | None,
    ) -> None:
        self.sid = sid
        self.handshake = handshake
        self.credential = credential
        self._state = OPENING
        self._engine = engine
        self._outbox: list[Packet] = []
        self._outbox_bytes = 0
        self._wake_poll: Callable[[], None] | None = None
        self._websocket = websocket
        """The session's WebSocket, from its creation or its upgrade on (kept once closed)."""
        self._probe: Transport | None = None
        """The upgrade probe, in the PROBING and UPGRADING states only."""
        self._ping_due: float | None = None
        self._pong_deadline: float | None = None
        self._upgrade_deadline: float | None = None
        self._upgrade_noop_at: float | None = None
        """When the pending GET of an upgrade gets its NOOP (UPGRADING only, until then)."""
        self._upgrade_noop_ready = False
        """Whether GETs get a NOOP when nothing else waits for them (UPGRADING only)."""
        self._drain_deadline: float | None = None
        self._close_deadline: float | None = None
        self._close_reason: Reason = "forced close"
        self._posting = False
        self._clock = 0.0
        """The latest ``now`` the caller passed in."""

    def __repr__(self) -> str:
        return f"<EngineSession {self.sid} {self.transport}{' closed' if self.closed else ''}>"

    # -- state ------------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """Where the session is in its life (:data:`jupyter_rt.engine.state.TRANSITIONS`)."""
        return self._state

    @property
    def closed(self) -> bool:
        """Whether the session is closed (CLOSING or CLOSED): nothing more is sent or received."""
        state = self._state
        return state is CLOSING or state is CLOSED

    @property
    def transport(self) -> str:
        """``"polling"`` or ``"websocket"``; changes once, when an upgrade completes."""
        return "polling" if self._websocket is None else "websocket"

    def _move(self, event: SessionEvent) -> None:
        """Apply ``event`` to the state; raises :class:`TransitionError` if the table has no
        such move (a bug here: callers check what a peer asks for before)."""
        try:
            self._state = next_state(self._state, event)
        except TransitionError as exc:
            raise TransitionError(f"session {self.sid}: {exc}") from None

    # -- sending ----------------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        """Whether a message sent now goes out at once (volatile messages are dropped if not):
        on a WebSocket, nothing is waiting in its buffer; on polling, a GET is waiting."""
        state = self._state
        if state is WEBSOCKET:
            assert self._websocket is not None
            return self._websocket.buffered_amount == 0
        if state is POLLING or state is PROBING or state is UPGRADING:
            return self._wake_poll is not None and not self._outbox
        return False

    def send(self, messages: Sequence[str | bytes]) -> None:
        """Queue Engine.IO MESSAGE packets in order. Does nothing once the session is closed."""
        state = self._state
        if state is WEBSOCKET:
            websocket = self._websocket
            assert websocket is not None
            websocket.write(_message_frames(messages))
            if websocket.buffered_amount > self._engine.max_buffered_bytes:
                self._refuse_slow_consumer(websocket.buffered_amount)
        elif state is POLLING or state is PROBING or state is UPGRADING:
            for message in messages:
                self._queue(Packet(PacketType.MESSAGE, message))

    def _queue(self, packet: Packet) -> None:
        self._outbox.append(packet)
        self._outbox_bytes += len(packet.data) + 1
        if self._outbox_bytes > self._engine.max_buffered_bytes:
            self._refuse_slow_consumer(self._outbox_bytes)
        elif self._wake_poll is not None:
            self._wake_poll()

    def _refuse_slow_consumer(self, pending: int) -> None:
        self._engine.slow_consumers += 1
        log.warning(
            "Closing session %s: %d bytes wait to be sent, over the limit of %d",
            self.sid,
            pending,
            self._engine.max_buffered_bytes,
        )
        self.close("transport error", notify=False)

    def close(self, reason: Reason = "forced close", *, notify: bool = True) -> None:
        """Close the session and tell the listener ``reason``.

        With ``notify`` the client is sent a CLOSE packet and will not reconnect; without it the
        transport is just dropped, which official clients answer by reconnecting.
        """
        self._close(reason, engineio.CLOSE if notify else None, drain=notify)

    def close_for_violation(self, reason: Reason) -> None:
        """Close the session for a peer that broke the protocol or a size limit.

        A WebSocket gets a CLOSE packet. On polling no CLOSE is sent: the session is forgotten
        at once (its sid is then unknown) and a pending GET is answered as for an unknown
        session once the POST that broke the rule is answered, so that the client reports that
        POST's error (an official client ends its session with the first error it sees).
        """
        self._close(reason, None if self._websocket is None else engineio.CLOSE, drain=False)

    def set_deadline(self, delay: float, reason: Reason, *, now: float | None = None) -> None:
        """Close the session with ``reason`` ``delay`` seconds after ``now`` unless
        :meth:`clear_deadline` is called first; a later call replaces the deadline.

        ``now`` defaults to the time of the request being handled, which is right inside the
        listener's callbacks (``on_engine_open`` …); pass it from anywhere else. The engine's
        timer fires it with no request needed. At the deadline a WebSocket or a pending GET gets
        a CLOSE packet, and the session is forgotten at once: a later request for it is refused
        with ``Session ID unknown`` (the Socket.IO connect timeout uses this).
        """
        if self.closed:
            return
        self._close_deadline = (self._clock if now is None else now) + delay
        self._close_reason = reason
        self._engine.wake_at(self, self._close_deadline)

    def clear_deadline(self) -> None:
        """Cancel the deadline of :meth:`set_deadline`, if any."""
        self._close_deadline = None

    def _close(
        self, reason: Reason, last: Packet | None, *, drain: bool, websocket_lost: bool = False
    ) -> None:
        """Close, ending with ``last`` (CLOSE, NOOP or nothing) on the transport.

        With ``drain``, a polling client with no GET pending gets ``last`` on its next GET.
        With ``websocket_lost``, the session's WebSocket is gone already and is left alone.
        """
        if self.closed:
            return
        websocket = self._websocket
        draining = drain and websocket is None and last is not None
        self._move(SessionEvent.CLOSED_DRAINING if draining else SessionEvent.CLOSED)
        if self._probe is not None:
            self._probe.close()
            self._probe = None
        if websocket is not None:
            if not websocket_lost:
                if last is engineio.CLOSE:
                    websocket.write([engineio.encode_frame(engineio.CLOSE)])
                websocket.close()
        elif last is engineio.CLOSE:
            self._outbox.append(engineio.CLOSE)
        else:
            self._outbox = [] if last is None else [last]
        if draining:
            # Findable until a GET takes the last packets (see take_poll_body), or this deadline.
            self._drain_deadline = (
                self._clock + self._engine.ping_interval + self._engine.ping_timeout
            )
            self._engine.wake_at(self, self._drain_deadline)
        else:
            self._engine.forget(self)
        if self._wake_poll is not None and (self._outbox or not self._posting):
            self._wake_poll()  # else once the POST in flight is answered (end_post)
        self._engine.listener.on_engine_close(self, reason)

    # -- polling ----------------------------------------------------------------------------

    def _drained(self) -> None:
        """The CLOSING session has nothing left for its client, or its time to take it is up."""
        self._move(SessionEvent.DRAINED)
        self._drain_deadline = None
        self._outbox.clear()
        self._engine.forget(self)

    def start_poll(self, wake: Callable[[], None]) -> Refusal | None:
        """Begin a polling GET; returns the refusal to answer it with (HTTP 400), else ``None``.

        ``wake`` is called (maybe many times) when :meth:`take_poll_body` may have something.
        The caller must call :meth:`end_poll` once the GET is answered.
        """
        # Served while polling, and once closed while packets are left (CLOSING, say).
        if self.closed and not self._outbox:
            return UNKNOWN_SID
        if self.transport != "polling":
            return NOT_POLLING
        if self._wake_poll is not None:
            log.warning("Closing session %s: a second concurrent polling GET", self.sid)
            self.close("transport error")
            return Refusal(400, "Bad request: a GET is already pending")
        self._wake_poll = wake
        if self._outbox or self._upgrade_noop_ready:
            wake()
        return None

    def take_poll_body(self) -> str | Refusal | None:
        """The answer to the pending GET: a body; a refusal once the session is closed with
        nothing left for it (an unknown session, HTTP 400); or ``None`` to keep waiting.

        While upgrading, a GET takes what is queued as on polling; with nothing queued, from
        :data:`UPGRADE_NOOP_DELAY` after the ``3probe`` on, a NOOP that ends it (the client waits
        for that GET to end before it completes the upgrade on the WebSocket).
        """
        state = self._state
        if state is WEBSOCKET:  # upgraded while this GET waited
            return engineio.encode_payload([engineio.NOOP])
        if not self._outbox:
            if self.closed:
                return None if self._posting else UNKNOWN_SID
            if self._upgrade_noop_ready:
                return engineio.encode_payload([engineio.NOOP])
            return None
        limit = self._engine.max_poll_packets
        if len(self._outbox) > 1 and self._outbox[-1] is engineio.CLOSE:
            # CLOSE goes alone, in a later response (as from Node): clients act on it before the
            # rest of its payload, so socket.io-client would report "transport close" first.
            limit = min(limit, len(self._outbox) - 1)
        batch, self._outbox = self._outbox[:limit], self._outbox[limit:]
        self._outbox_bytes = sum(len(p.data) + 1 for p in self._outbox)
        if self._state is CLOSING and not self._outbox:
            self._drained()
        return engineio.encode_payload(batch)

    def end_poll(self) -> None:
        """The pending GET was answered."""
        self._wake_poll = None

    def abort_poll(self) -> None:
        """The client went away while its GET was pending: the session ends."""
        self._wake_poll = None
        self.close("transport close", notify=False)

    def start_post(self) -> Refusal | None:
        """Begin a polling POST (at its headers); returns the refusal to answer it with (HTTP
        400), else ``None``. A second concurrent POST closes the session, as a second GET does.

        The caller must call :meth:`end_post` once the POST is answered or its connection is gone.
        """
        if self._state not in POLLING_STATES:
            return self._not_polling()
        if self._posting:
            log.warning("Closing session %s: a second concurrent polling POST", self.sid)
            self.close("transport error")
            return Refusal(400, "Bad request: a POST is already pending")
        self._posting = True
        return None

    def end_post(self) -> None:
        """The POST started by :meth:`start_post` was answered, or its connection is gone."""
        self._posting = False
        if self.closed and self._wake_poll is not None:
            self._wake_poll()  # a GET held back until this POST's answer (close_for_violation)

    def receive_payload(self, body: bytes, now: float) -> Refusal | None:
        """Handle a whole polling POST body; returns the refusal to answer it with (HTTP 400),
        else ``None``. :meth:`payload_intake` does the same a slice at a time."""
        intake = self.payload_intake(body, now)
        while intake.step(now, 1 << 30):
            pass
        return intake.error

    def payload_intake(self, body: bytes, now: float) -> PayloadIntake:
        """Start handling a polling POST body; call :meth:`PayloadIntake.step` until it returns
        ``False``, then answer the POST with :attr:`PayloadIntake.error`."""
        self._clock = now
        if self._state not in POLLING_STATES:
            return PayloadIntake(self, iter(()), self._not_polling())
        try:
            chunks = engineio.split_payload(body, max_bytes=self._engine.max_payload)
        except ProtocolError as exc:
            return PayloadIntake(self, iter(()), self._protocol_error(exc))
        return PayloadIntake(self, chunks, None)

    def _receive_chunks(
        self, chunks: Iterator[str], now: float, max_packets: int
    ) -> tuple[bool, Refusal | None]:
        """Handle up to ``max_packets`` packets of a POST body for :meth:`PayloadIntake.step`;
        returns whether some may remain, and the refusal to answer the POST with or ``None``."""
        self._clock = now
        listener = self._engine.listener
        for _ in range(max_packets):
            if self.closed:
                return False, None
            chunk = next(chunks, None)
            if chunk is None:
                return False, None
            if chunk[:1] == "4":  # the common case, without building a Packet
                listener.on_engine_message(self, chunk[1:])
                continue
            try:
                packet = engineio.decode_frame(chunk)
            except ProtocolError as exc:
                return False, self._protocol_error(exc)
            if packet.type is PacketType.UPGRADE or packet.type is PacketType.OPEN:
                error = ProtocolError(f"{packet.type.name} packet sent over polling")
                return False, self._protocol_error(error)
            self._receive(packet, now)
        return not self.closed, None

    def _not_polling(self) -> Refusal:
        return UNKNOWN_SID if self.closed else NOT_POLLING

    def _protocol_error(self, exc: ProtocolError) -> Refusal:
        log.warning("Closing session %s: %s", self.sid, exc)
        self.close_for_violation("parse error")
        return Refusal(400, f"Bad request: {exc}")

    # -- websocket --------------------------------------------------------------------------

    def attach_probe(self, websocket: Transport, now: float) -> Refusal | None:
        """A WebSocket came with this session's sid to upgrade it; returns the refusal to close
        it with (only from POLLING: one upgrade at a time), else ``None``."""
        self._clock = now
        if not allows(self._state, SessionEvent.PROBE_ATTACHED):
            return Refusal(400, "Bad request: the session cannot be upgraded")
        self._move(SessionEvent.PROBE_ATTACHED)
        self._probe = websocket
        self._upgrade_deadline = now + self._engine.upgrade_timeout
        self._engine.wake_at(self, self._upgrade_deadline)
        return None

    def receive_frame(self, websocket: Transport, frame: str | bytes, now: float) -> None:
        """Handle one WebSocket frame from ``websocket`` (the session's or its upgrade probe)."""
        self._clock = now
        if self.closed:
            return
        if websocket is self._probe:
            self._receive_probe_frame(frame, now)
            return
        if websocket is not self._websocket:
            return
        if frame.__class__ is str and frame[:1] == "4":  # a text MESSAGE, without a Packet
            self._engine.listener.on_engine_message(self, frame[1:])
            return
        try:
            packet = engineio.decode_frame(frame)
        except ProtocolError as exc:
            self._protocol_error(exc)
            return
        if packet.type is PacketType.PING and packet.data == "probe":
            return
        self._receive(packet, now)

    def _receive_probe_frame(self, frame: str | bytes, now: float) -> None:
        probe = self._probe
        assert probe is not None
        if frame == "2probe" and self._state is PROBING:
            self._move(SessionEvent.PROBE_PINGED)
            probe.write([engineio.encode_frame(engineio.PROBE_PONG)])
            self._upgrade_noop_at = now + UPGRADE_NOOP_DELAY
            self._engine.wake_at(self, self._upgrade_noop_at)
        elif frame == "5" and self._state is UPGRADING:
            self._move(SessionEvent.UPGRADED)
            self._probe = None
            self._upgrade_deadline = None
            self._upgrade_noop_at = None
            self._upgrade_noop_ready = False
            self._websocket = probe
            if self._wake_poll is not None:
                self._wake_poll()
            pending, self._outbox, self._outbox_bytes = self._outbox, [], 0
            if pending:
                probe.write([engineio.encode_frame(p) for p in pending])
        else:
            log.warning("Session %s: unexpected frame during upgrade, closing the probe", self.sid)
            self._cancel_upgrade()

    def _cancel_upgrade(self) -> None:
        probe, self._probe = self._probe, None
        self._move(SessionEvent.PROBE_DROPPED)
        self._upgrade_deadline = None
        self._upgrade_noop_at = None
        self._upgrade_noop_ready = False
        if probe is not None:
            probe.close()
        if self._outbox and self._wake_poll is not None:
            self._wake_poll()

    def websocket_closed(self, websocket: Transport) -> None:
        """``websocket`` was closed by the peer or the network."""
        if websocket is self._probe:
            self._cancel_upgrade()
        elif websocket is self._websocket and not self.closed:
            self._close("transport close", None, drain=False, websocket_lost=True)

    # -- both -------------------------------------------------------------------------------

    def _receive(self, packet: Packet, now: float) -> None:
        if self.closed:
            return
        kind = packet.type
        if kind is PacketType.MESSAGE:
            self._engine.listener.on_engine_message(self, packet.data)
        elif kind is PacketType.PONG:
            # Only a pong that answers a ping counts: each one schedules a timer entry, and
            # unsolicited ones must not let a client grow the timer heap.
            if self._pong_deadline is not None:
                self._pong_deadline = None
                self._schedule_ping(now)
        elif kind is PacketType.CLOSE:
            # Like Node's engine.io: a pending (or, racing with this POST, the next) GET gets a
            # NOOP that ends it cleanly.
            polling = self._websocket is None
            self._close("transport close", engineio.NOOP if polling else None, drain=True)
        elif kind is PacketType.OPEN or kind is PacketType.UPGRADE:
            self._protocol_error(ProtocolError(f"unexpected {kind.name} packet from a client"))
        # PING and NOOP from a client need no answer in v4.

    def _schedule_ping(self, now: float) -> None:
        self._ping_due = now + self._engine.ping_interval
        self._engine.wake_at(self, self._ping_due)

    # -- for the engine ---------------------------------------------------------------------

    def send_handshake(self, open_packet: Packet, now: float) -> None:
        """Send the OPEN packet and start the heartbeat; called once, by ``Engine.open`` (a second
        call raises :class:`TransitionError`)."""
        self._clock = now
        if self._websocket is not None:
            self._move(SessionEvent.OPENED_WEBSOCKET)
            self._websocket.write([engineio.encode_frame(open_packet)])
        else:
            self._move(SessionEvent.OPENED_POLLING)
            self._outbox.append(open_packet)
        self._ping_due = now + self._engine.ping_interval  # Engine.open asks for its wake-up

    @property
    def next_deadline(self) -> float | None:
        """The earliest time :meth:`on_timer` has work, or ``None``: the engine wakes the session
        then (it reads this after opening the session and after each :meth:`on_timer`)."""
        if self.closed:
            return self._drain_deadline if self._state is CLOSING else None
        earliest = None
        for due in (
            self._ping_due,
            self._pong_deadline,
            self._upgrade_deadline,
            self._upgrade_noop_at,
        ):
            if due is not None and (earliest is None or due < earliest):
                earliest = due
        close = self._close_deadline
        return close if close is not None and (earliest is None or close < earliest) else earliest

    def on_timer(self, now: float) -> None:
        """Run whatever is due at ``now``: a ping, a ping timeout, an upgrade timeout or NOOP, the
        deadline of :meth:`set_deadline`, the end of a drain. ``Engine.tick`` calls this at the
        wake-ups the session asked for; early or extra calls do nothing."""
        self._clock = now
        if self.closed:
            drain = self._drain_deadline
            if self._state is CLOSING and drain is not None and now >= drain:
                self._drained()
            return
        if self._pong_deadline is not None and now >= self._pong_deadline:
            self.close("ping timeout", notify=False)
            return
        if self._close_deadline is not None and now >= self._close_deadline:
            log.info("Closing session %s: its deadline passed (%s)", self.sid, self._close_reason)
            self._close_deadline = None
            self._close(self._close_reason, engineio.CLOSE, drain=False)
            return
        if self._upgrade_deadline is not None and now >= self._upgrade_deadline:
            log.info("Session %s: upgrade timed out", self.sid)
            self._cancel_upgrade()
        noop_at = self._upgrade_noop_at
        if noop_at is not None and now >= noop_at:
            self._upgrade_noop_at = None
            self._upgrade_noop_ready = True
            if self._wake_poll is not None:
                self._wake_poll()
        if self._ping_due is not None and now >= self._ping_due:
            # The pong is due ping_timeout after the ping was due, not after a late timer sent it
            # (as the client counts), but the client always gets half of ping_timeout at least.
            timeout = self._engine.ping_timeout
            self._pong_deadline = max(self._ping_due + timeout, now + timeout / 2)
            self._ping_due = None
            self._engine.wake_at(self, self._pong_deadline)
            websocket = self._websocket
            if websocket is not None:
                websocket.write([engineio.encode_frame(engineio.PING)])
            else:
                self._queue(engineio.PING)

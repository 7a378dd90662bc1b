"""What a client knows of each namespace it joins, connection state recovery included.

A server with recovery on (Node's socket.io 4.6+ with ``connectionStateRecovery``, or
jupyter_rt's) answers CONNECT with a private session id, ``pid``, beside the public ``sid``,
and adds an offset as the last argument of every event it may replay. Reconnecting, the client
sends ``{pid, offset}`` with its auth; if the server still holds the session, the socket gets
the same ``sid`` back, the events it missed come (before the CONNECT answer) and the answer
carries the same ``pid``: the session was recovered.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from jupyter_rt.errors import ConnectError, ProtocolError
from jupyter_rt.protocol.events import DisconnectReason
from jupyter_rt.protocol.socketio import Packet

__all__ = [
    "FINAL_REASONS",
    "MAX_BUFFERED",
    "MAX_EARLY_EVENTS",
    "NamespaceState",
    "await_connects",
]

MAX_BUFFERED = 1000
"""Packets kept for sending while the client reconnects; the oldest go first past this."""

MAX_EARLY_EVENTS = 10_000
"""Events a namespace keeps before its CONNECT answer (the packets a recovered session missed
come first); past this the connection is closed and the next one starts a fresh session."""

FINAL_REASONS = frozenset(
    {DisconnectReason.IO_SERVER_DISCONNECT, DisconnectReason.IO_CLIENT_DISCONNECT}
)
"""Reasons after which the client does not come back on its own."""


@dataclass(slots=True)
class NamespaceState:
    """One namespace of a client: its socket, what waits to be sent, its recovery state."""

    name: str
    auth: dict[str, Any] | None
    sid: str | None = None
    connected: bool = False
    active: bool = True
    """False once the server (``41``) or the user disconnected it: it is not joined again."""
    waiter: asyncio.Future[str] | None = None
    """Resolved by the CONNECT answer of the connection attempt under way."""
    buffer: list[list[str | bytes]] = field(default_factory=list)
    """Packets (their frames) to send once the namespace is back."""
    early: list[Packet] = field(default_factory=list)
    pid: str | None = None
    offset: str | None = None
    recovered: bool = False

    def connect_payload(self) -> dict[str, Any] | None:
        """The CONNECT packet's data: the auth, with ``pid`` and ``offset`` to recover."""
        if self.pid is None:
            return self.auth
        recovery = {"pid": self.pid}
        if self.offset is not None:  # none yet: the server cannot tell what was missed
            recovery["offset"] = self.offset
        return {**recovery, **(self.auth or {})}  # the caller's keys win, as in socket.io

    def keep_early(self, packet: Packet) -> None:
        """Keep an event that came before the CONNECT answer; raises :class:`ProtocolError`
        past :data:`MAX_EARLY_EVENTS` (and forgets the session, so the next connection does
        not ask for the same flood again)."""
        self.early.append(packet)
        if len(self.early) > MAX_EARLY_EVENTS:
            self.early.clear()
            self.pid = self.offset = None
            raise ProtocolError(f"over {MAX_EARLY_EVENTS} events before CONNECT on {self.name}")

    def connected_with(self, data: dict[str, Any]) -> list[Packet]:
        """Take the CONNECT answer ``data``; return the events that came before it."""
        pid = data.get("pid")
        pid = pid if isinstance(pid, str) and pid else None
        self.recovered = pid is not None and pid == self.pid
        if not self.recovered:
            self.offset = None  # an offset is only good with the session it came from
        self.pid = pid
        self.sid = str(data.get("sid", ""))
        self.connected = True
        early, self.early = self.early, []
        return early

    def event_args(self, packet: Packet) -> tuple[str, list[Any]]:
        """An EVENT's name and arguments, without the offset a server with recovery on adds:
        as in the official client, the last argument of an event without ack, if a string."""
        event, *args = packet.data
        if self.pid is not None and packet.id is None and args and isinstance(args[-1], str):
            self.offset = args.pop()
        return event, args

    def lost(self) -> None:
        """The connection to the namespace is gone (the recovery state stays)."""
        self.connected = False
        self.sid = None
        self.early.clear()
        if not self.active:
            self.buffer.clear()


async def await_connects(
    waiters: set[asyncio.Future[str]], reader: asyncio.Future[Any], timeout: float
) -> None:
    """Wait for every namespace's CONNECT answer (``waiters``) for at most ``timeout`` seconds;
    raise :class:`~jupyter_rt.ConnectionRefused` on a refusal, :class:`ConnectError` if the
    connection (its ``reader``) ends first or the time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while waiters:
        pending: list[asyncio.Future[Any]] = [*waiters, reader]
        done, _ = await asyncio.wait(
            pending, timeout=max(deadline - loop.time(), 0), return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            raise ConnectError(f"no CONNECT answer within {timeout} s")
        if reader in done:
            raise ConnectError(f"connection lost while connecting ({reader.result()})")
        for waiter in done:
            waiter.result()  # raises ConnectionRefused
            waiters.discard(waiter)

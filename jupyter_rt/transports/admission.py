"""Handshakes let in a few per loop turn, so that a flood of them never holds the loop.

A handshake costs its host far more than the engine's part (Jupyter authenticates it, signs a
login cookie, writes and logs a response): hundreds arriving at once, all handled in the same
loop turn, would hold the loop for that whole time. The gate lets :attr:`AdmissionGate.per_turn`
of them start per turn and queues the rest, first come first served, for the next turns; a
lone handshake never waits. Past :attr:`AdmissionGate.max_waiting` queued, a handshake is
refused at once (the host answers 503) rather than queued for seconds.

:func:`pace_connections` puts an HTTP server's new connections through such a gate too: Tornado
reads, parses and routes the first request of every connection whose bytes came in the same
turn, all in that turn, before any handler can take its turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from tornado import iostream, tcpserver

from jupyter_rt._throttle import LogThrottle

log = logging.getLogger("jupyter_rt")
_refusals = LogThrottle(log)


class AdmissionGate:
    """At most ``per_turn`` admissions per loop turn, in arrival order; at most
    ``max_waiting`` waiting."""

    def __init__(self, per_turn: int = 2, max_waiting: int = 1000) -> None:
        self.per_turn = per_turn
        self.max_waiting = max_waiting
        self._admitted = 0
        """Admissions since the last turn started (let in now, or released from the queue)."""
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._turn_scheduled = False

    @property
    def waiting(self) -> int:
        """How many admissions wait for a later turn."""
        return len(self._waiting)

    def admit(self) -> asyncio.Future[None] | None:
        """``None`` to go on at once; else a future to wait for (its turn comes), or raise
        :class:`GateFull` if too many already wait. Cancel the future to leave the queue."""
        if not self._waiting and self._admitted < self.per_turn:
            self._admitted += 1
            self._schedule_turn()
            return None
        if len(self._waiting) >= self.max_waiting:
            raise GateFull
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self._schedule_turn()
        return future

    def _schedule_turn(self) -> None:
        if not self._turn_scheduled:
            self._turn_scheduled = True
            asyncio.get_running_loop().call_soon(self._next_turn)

    def _next_turn(self) -> None:
        """A new loop turn: release the next ``per_turn`` waiting, oldest first."""
        self._turn_scheduled = False
        self._admitted = 0
        waiting = self._waiting
        while waiting and self._admitted < self.per_turn:
            future = waiting.popleft()
            if not future.done():  # not cancelled
                future.set_result(None)
                self._admitted += 1
        if waiting or self._admitted:
            self._schedule_turn()


class GateFull(Exception):
    """Too many admissions wait already."""


def pace_connections(server: tcpserver.TCPServer, gate: AdmissionGate) -> None:
    """Make ``server`` start serving its new connections through ``gate``: a burst of them is
    served over the next loop turns, in arrival order; past ``gate.max_waiting`` waiting, a new
    connection is closed at once."""
    serve = server.handle_stream

    def handle_stream(stream: iostream.IOStream, address: Any) -> None:
        try:
            waiting = gate.admit()
        except GateFull:
            _refusals.log(
                logging.WARNING,
                "connections waiting",
                "Closed new connections: %d already wait to be served",
                gate.waiting,
            )
            stream.close()
            return
        if waiting is None:
            serve(stream, address)
        else:
            waiting.add_done_callback(lambda _: serve(stream, address))

    server.handle_stream = handle_stream  # type: ignore[method-assign]

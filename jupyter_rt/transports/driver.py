"""The engine on the asyncio loop: one timer for every deadline, and request work in slices."""

from __future__ import annotations

import asyncio
import contextvars
import ctypes
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from jupyter_rt._tasks import TaskKeeper
from jupyter_rt.clock import Clock, LoopClock, Timer
from jupyter_rt.engine import Engine
from jupyter_rt.transports.admission import AdmissionGate

log = logging.getLogger("jupyter_rt")


class WebSocketWriter(Protocol):
    """A connection whose writes of a loop turn wait for :meth:`EngineDriver.flush_soon`."""

    def flush(self) -> None: ...


TRIM_EVERY = 60.0
"""Seconds between two :func:`give_back_memory` calls at the most."""

_trimmed_at = -TRIM_EVERY


def give_back_memory() -> bool:
    """Return the C allocator's free pages to the system (glibc's ``malloc_trim``), at most once
    a minute; ``False`` where there is no glibc or it is too soon.

    After a crowd leaves, glibc keeps the freed tables and buffers of its connections in the
    middle of its heap, where ``free`` alone never gives them back. (Python's own small-object
    arenas go back by themselves, once every object in one is freed.)
    """
    global _trimmed_at
    now = time.monotonic()
    if now - _trimmed_at < TRIM_EVERY or not sys.platform.startswith("linux"):
        return False
    _trimmed_at = now
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # musl, or no libc symbols
        return False
    trim(0)
    log.debug("A crowd left: gave free memory back to the system")
    return True


class EngineDriver:
    """Runs an :class:`Engine` on the asyncio loop: one timer drives every heartbeat.

    The engine's time and its timer are ``clock``'s (the loop's by default; a test's
    :class:`~jupyter_rt.clock.ManualClock` fires the connect timeout and heartbeats on
    ``advance``). How long a slice of work holds the loop is measured on the real clock.
    """

    def __init__(self, engine: Engine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock: Clock = clock if clock is not None else LoopClock()
        self._timer: Timer | None = None
        self._timer_at = float("inf")
        engine.on_next_deadline = self._arm
        engine.on_crowd_left = self._crowd_left
        self._tasks = TaskKeeper()
        self.read_buffer = memoryview(bytearray(65536))
        """Where every WebSocket of this driver reads into; consumed before the next read."""
        self.handshakes = AdmissionGate()
        """Lets a few handshakes start per loop turn (hosts whose handshakes cost much use it)."""
        self._unflushed: list[WebSocketWriter] = []
        self.connections = AdmissionGate(per_turn=4, max_waiting=10_000)
        """Lets a few new connections start per loop turn, for hosts that pace their HTTP
        server with :func:`jupyter_rt.transports.admission.pace_connections`."""

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run ``coroutine`` as a task the driver keeps until it ends, in an empty context.

        Not in the request's: a WebSocket outlives its request, and the task's context is what
        its transport's callbacks run in for the socket's life; a host's context variables
        would keep the request alive that long (Jupyter's ``CallContext`` holds the handler,
        and with it the request, its headers, the Tornado connection and stream).
        """
        self._tasks.spawn(coroutine, context=contextvars.Context())

    def flush_soon(self, connection: WebSocketWriter) -> None:
        """Call ``connection.flush()`` at the end of this loop turn (once per call)."""
        self._unflushed.append(connection)
        if len(self._unflushed) == 1:
            asyncio.get_running_loop().call_soon(self.flush_writes)

    def flush_writes(self) -> None:
        """Send what connections queued in this turn now, not at its end: work resumed in a
        later turn calls it first, so that replies written meanwhile do not wait a slice."""
        if not self._unflushed:
            return
        connections, self._unflushed = self._unflushed, []
        for connection in connections:
            connection.flush()

    def now(self) -> float:
        """The engine's time (:attr:`clock`'s)."""
        return self.clock.now()

    work_clock = staticmethod(time.perf_counter)
    """The real time that bounds a slice of work (never a test's manual clock)."""

    def reschedule(self) -> None:
        """Make sure the timer fires by the engine's next deadline."""
        deadline = self.engine.next_deadline()
        if deadline is not None:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        """Make the timer fire by ``deadline`` (the engine calls it when its deadline moves
        earlier, from a request or not)."""
        if deadline >= self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.clock.call_at(deadline, self._fire)

    def _crowd_left(self) -> None:
        """Give memory back once the loop is done with the leaving (not in the middle of it)."""
        asyncio.get_running_loop().call_later(1.0, give_back_memory)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        self.engine.tick(self.now())
        self.reschedule()

    slice_seconds = 0.005
    """How long one slice of a request's work may hold the loop before yielding to it."""

    async def run_sliced(self, step: Callable[[float, int], bool]) -> None:
        """Call ``step(now, max_items)`` until it returns ``False``, yielding to the loop after
        every :attr:`slice_seconds` of work, so that no request holds the loop for long."""
        now, work_clock = self.now, self.work_clock
        while True:
            deadline = work_clock() + self.slice_seconds
            while (more := step(now(), 64)) and work_clock() < deadline:
                pass
            self.reschedule()
            if not more:
                return
            await asyncio.sleep(0)
            self.flush_writes()

    def run_due(self) -> None:
        """Run the timeouts already due, so that a request never finds an expired session alive
        because the timer is late (a loaded loop fires it milliseconds after its time)."""
        self.engine.tick(self.now())
        self.reschedule()

    def shutdown(self) -> None:
        """Drop every session (clients reconnect later) and stop the timer."""
        self.engine.close_all()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = float("inf")

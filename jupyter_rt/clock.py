"""The clock of the server's timers (ack timeouts), injectable so tests need no real waiting.

:class:`Clock` is what the server depends on; :class:`LoopClock` (the default) is the running
asyncio loop's clock; :class:`ManualClock` moves only when a test calls
:meth:`~ManualClock.advance`::

    clock = ManualClock()
    io = Server(clock=clock)
    call = asyncio.ensure_future(socket.call("q", timeout=5))
    await asyncio.sleep(0)
    clock.advance(5)                     # the ack timeout fires now: ``call`` raises AckTimeout

It imports nothing of jupyter_rt, so any layer may use it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "LoopClock", "ManualClock", "ManualTimer", "Timer"]


class Timer(Protocol):
    """A callback scheduled by :meth:`Clock.call_at`."""

    def cancel(self) -> None:
        """Do not run the callback (nothing happens if it ran already)."""


class Clock(Protocol):
    """Seconds on a monotonic scale, and callbacks at a point on it."""

    def now(self) -> float:
        """The current time, in seconds (only differences mean anything)."""

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback()`` once :meth:`now` reaches ``when``; cancel it with the timer."""


class LoopClock:
    """The running asyncio loop's clock and ``call_at`` (the default clock).

    :meth:`now` is ``time.monotonic()``, what asyncio's loops tell time by (``loop.time()``),
    read without looking the loop up: it runs on every message, and on Python 3.11 finding the
    running loop costs a system call (``getpid``). A loop that keeps another time (a custom
    ``time()``) gets its timers converted by :meth:`call_at`, which needs a running loop.
    """

    __slots__ = ()

    now = staticmethod(time.monotonic)

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        loop = asyncio.get_running_loop()
        if type(loop).time is not _MONOTONIC_LOOP_TIME:
            when += loop.time() - time.monotonic()
        return loop.call_at(when, callback)

    def __repr__(self) -> str:
        return "LoopClock()"


_MONOTONIC_LOOP_TIME = asyncio.BaseEventLoop.time
"""``time()`` of asyncio's own loops: ``time.monotonic()``."""


class ManualTimer:
    """A timer of a :class:`ManualClock`."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __repr__(self) -> str:
        state = " cancelled" if self.cancelled else ""
        return f"<ManualTimer at {self.when}{state}>"


class ManualClock:
    """A clock for tests: time stands still until :meth:`advance` moves it.

    Callbacks run inside :meth:`advance`, in the order of their times (ties in the order they
    were scheduled), with :meth:`now` set to each one's time; a callback may schedule more,
    which run in the same call if they fall due.
    """

    __slots__ = ("_heap", "_now", "_order")

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, ManualTimer]] = []
        self._order = itertools.count()

    def __repr__(self) -> str:
        return f"<ManualClock now={self._now} pending={self.pending}>"

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> ManualTimer:
        timer = ManualTimer(when, callback)
        heapq.heappush(self._heap, (when, next(self._order), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move the time ``seconds`` forward, running every callback that falls due."""
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        target = self._now + seconds
        heap = self._heap
        while heap and heap[0][0] <= target:
            when, _, timer = heapq.heappop(heap)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback()
        self._now = target

    @property
    def pending(self) -> int:
        """How many scheduled callbacks have neither run nor been cancelled."""
        return sum(1 for _, _, timer in self._heap if not timer.cancelled)

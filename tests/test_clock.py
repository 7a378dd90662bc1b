"""The injectable clock of the server's timers."""

from __future__ import annotations

import asyncio

import pytest

from jupyter_rt.clock import Clock, LoopClock, ManualClock


def test_manual_clock_runs_due_callbacks_in_time_order() -> None:
    clock = ManualClock(10.0)
    ran: list[tuple[str, float]] = []
    clock.call_at(13, lambda: ran.append(("c", clock.now())))
    clock.call_at(11, lambda: ran.append(("a", clock.now())))
    clock.call_at(11, lambda: ran.append(("b", clock.now())))  # a tie: scheduling order
    cancelled = clock.call_at(12, lambda: ran.append(("x", clock.now())))
    cancelled.cancel()
    assert clock.pending == 3
    clock.advance(2.5)
    assert ran == [("a", 11), ("b", 11)] and clock.now() == 12.5
    clock.advance(0.5)
    assert ran[-1] == ("c", 13) and clock.pending == 0


def test_manual_clock_runs_what_a_callback_schedules_if_due() -> None:
    clock = ManualClock()
    ran: list[float] = []
    clock.call_at(1, lambda: clock.call_at(clock.now() + 1, lambda: ran.append(clock.now())))
    clock.advance(1.5)
    assert ran == []
    clock.advance(0.5)
    assert ran == [2]
    with pytest.raises(ValueError):
        clock.advance(-1)


async def test_loop_clock_is_the_running_loops() -> None:
    clock: Clock = LoopClock()
    loop = asyncio.get_running_loop()
    assert abs(clock.now() - loop.time()) < 0.5
    fired = asyncio.Event()
    clock.call_at(clock.now() + 0.01, fired.set)
    await asyncio.wait_for(fired.wait(), 5)
    timer = clock.call_at(clock.now(), lambda: pytest.fail("cancelled"))
    timer.cancel()
    await asyncio.sleep(0.01)

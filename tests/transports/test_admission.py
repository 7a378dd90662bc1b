"""The admission gate: a few admissions per loop turn, first come first served, bounded."""

from __future__ import annotations

import asyncio

import pytest

from jupyter_rt.transports.admission import AdmissionGate, GateFull


async def turn() -> None:
    """Let one loop turn pass (the gate's next turn runs)."""
    await asyncio.sleep(0)


async def test_a_lone_admission_never_waits() -> None:
    gate = AdmissionGate(per_turn=2)
    for _ in range(5):
        assert gate.admit() is None
        await turn()


async def test_a_burst_is_let_in_a_few_per_turn_in_arrival_order() -> None:
    gate = AdmissionGate(per_turn=2)
    now = [gate.admit() for _ in range(2)]
    assert now == [None, None]
    waiting = [gate.admit() for _ in range(5)]
    assert all(w is not None for w in waiting)
    released = []
    for _ in range(4):
        await turn()
        released.append([i for i, w in enumerate(waiting) if w is not None and w.done()])
    assert released == [[0, 1], [0, 1, 2, 3], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]
    assert gate.waiting == 0


async def test_a_newcomer_queues_behind_those_waiting() -> None:
    gate = AdmissionGate(per_turn=1)
    assert gate.admit() is None
    first = gate.admit()
    await turn()
    assert first is not None and first.done()
    await turn()
    # The gate is idle again: no wait.
    assert gate.admit() is None


async def test_past_max_waiting_an_admission_is_refused_at_once() -> None:
    gate = AdmissionGate(per_turn=1, max_waiting=3)
    assert gate.admit() is None
    waiting = [gate.admit() for _ in range(3)]
    with pytest.raises(GateFull):
        gate.admit()
    assert gate.waiting == 3
    for _ in range(4):
        await turn()
    assert all(w is not None and w.done() for w in waiting)
    assert gate.waiting == 0


async def test_a_cancelled_waiter_gives_its_place_up() -> None:
    gate = AdmissionGate(per_turn=1)
    assert gate.admit() is None
    gone, next_one = gate.admit(), gate.admit()
    assert gone is not None and next_one is not None
    gone.cancel()
    await turn()
    assert next_one.done() and not next_one.cancelled()

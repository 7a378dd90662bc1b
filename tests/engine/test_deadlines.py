"""Issue 8, timers that fire on their own: ``set_deadline`` and the engine's one timer heap,
driven with a fake clock (``tick`` is the only thing that runs, no request comes)."""

from __future__ import annotations

import gc
import weakref

from jupyter_rt.engine import EngineSession
from tests.engine.fakes import (
    T0,
    FakeTransport,
    Poll,
    get,
    make_engine,
    open_polling,
    open_websocket,
    upgrade,
)

# The engine sweeps stale heap entries once they are more than 32 and half the heap.
STALE_SLACK = 33


def test_deadline_closes_a_polling_session_from_the_timer_alone():
    engine, listener = make_engine(ping_interval=25, ping_timeout=20)
    session = open_polling(engine)
    session.set_deadline(5, "forced close")
    poll = Poll(session)
    assert engine.next_deadline() == T0 + 5
    engine.tick(T0 + 4.999)
    assert not session.closed
    engine.tick(T0 + 5)
    assert listener.reasons() == ["forced close"]
    assert poll.wakes >= 1 and poll.take() == "1"  # the pending GET gets the CLOSE
    # Forgotten at once: no drain waits for a later GET.
    assert engine.find(session.sid, None).status == 400
    assert engine.sessions == {}
    assert engine.next_deadline() is None


def test_deadline_without_a_pending_get_forgets_the_session_at_once():
    engine, listener = make_engine()
    sessions = [open_polling(engine) for _ in range(3)]
    for session in sessions:
        session.set_deadline(5, "forced close")
    engine.tick(T0 + 5)
    assert listener.reasons() == ["forced close"] * 3
    assert engine.sessions == {}
    assert all(engine.find(s.sid, None).status == 400 for s in sessions)
    assert engine.next_deadline() is None


def test_deadline_closes_a_websocket_with_close():
    engine, listener = make_engine()
    session, transport = open_websocket(engine)
    transport.take()
    session.set_deadline(2, "custom")
    engine.tick(T0 + 2)
    assert transport.take() == ["1"] and transport.closed
    assert listener.reasons() == ["custom"]
    assert engine.sessions == {}


def test_cleared_deadline_leaves_the_heartbeat_alone():
    engine, listener = make_engine(ping_interval=25, ping_timeout=20)
    session = open_polling(engine)
    session.set_deadline(5, "forced close")
    session.clear_deadline()
    engine.tick(T0 + 5)  # the entry fires early and finds nothing to do
    assert not session.closed
    assert engine.next_deadline() == T0 + 25
    engine.tick(T0 + 25)
    assert get(session) == "2"
    assert listener.closes == []


def test_a_later_deadline_replaces_the_earlier_one():
    engine, listener = make_engine()
    session = open_polling(engine)
    session.set_deadline(5, "first")
    session.set_deadline(10, "second", now=T0 + 1)
    engine.tick(T0 + 10.999)
    assert not session.closed
    engine.tick(T0 + 11)
    assert listener.reasons() == ["second"]


def test_deadline_set_by_the_listener_at_open_counts_from_the_open():
    engine, listener = make_engine()
    listener_open = listener.on_engine_open

    def open_with_deadline(session: EngineSession) -> None:
        listener_open(session)
        session.set_deadline(3, "forced close")

    listener.on_engine_open = open_with_deadline  # type: ignore[method-assign]
    session = open_polling(engine, now=T0 + 7)
    assert engine.next_deadline() == T0 + 10
    assert len(engine._timers) == 1  # one entry, not one for the ping and one for the deadline
    engine.tick(T0 + 10)
    assert session.closed and engine.sessions == {}


def test_deadline_on_a_closed_session_does_nothing():
    engine, listener = make_engine()
    session = open_polling(engine)
    session.close(notify=False)
    session.set_deadline(1, "late")
    engine.tick(T0 + 100)
    assert listener.reasons() == ["forced close"]
    assert engine.next_deadline() is None


def test_the_driver_hears_when_the_next_deadline_moves_earlier():
    engine, _ = make_engine(ping_interval=25, ping_timeout=20)
    calls: list[float] = []
    engine.on_next_deadline = calls.append
    first = open_polling(engine)
    assert calls == [T0 + 25]
    open_polling(engine, now=T0 + 1)  # later than the next deadline: nobody needs telling
    assert calls == [T0 + 25]
    # Server code, outside any request, brings the deadline forward.
    first.set_deadline(2, "forced close", now=T0 + 3)
    assert calls == [T0 + 25, T0 + 5]
    assert engine.next_deadline() == T0 + 5


def test_closed_sessions_are_released_by_the_heap():
    engine, listener = make_engine(ping_interval=25, ping_timeout=20)
    refs = []
    for _ in range(1000):
        session = open_polling(engine)
        session.set_deadline(5, "forced close")
        refs.append(weakref.ref(session))
    del session
    listener.opened.clear()  # the fake listener's own record
    engine.tick(T0 + 5)
    gc.collect()
    assert engine.sessions == {}
    assert len(engine._timers) <= STALE_SLACK
    assert sum(ref() is not None for ref in refs) <= STALE_SLACK
    assert engine.next_deadline() is None


def test_sessions_closed_by_the_peer_leave_few_heap_entries():
    engine, _ = make_engine()
    for i in range(1000):
        session, transport = open_websocket(engine, now=T0 + i * 1e-3)
        session.websocket_closed(transport)
    assert len(engine._timers) <= STALE_SLACK


def test_heartbeats_keep_one_heap_entry_per_session():
    engine, listener = make_engine(ping_interval=1, ping_timeout=1)
    sessions = [open_websocket(engine) for _ in range(50)]
    now = T0
    for _ in range(200):
        now += 1
        engine.tick(now)
        for session, transport in sessions:
            session.receive_frame(transport, "3", now + 0.1)
    assert listener.closes == []
    assert len(engine._timers) <= 2 * len(sessions) + STALE_SLACK


def test_upgrade_probes_opened_and_dropped_do_not_grow_the_heap():
    engine, _ = make_engine(upgrade_timeout=10)
    session = open_polling(engine)
    for i in range(5000):
        probe = FakeTransport()
        assert session.attach_probe(probe, T0 + i * 1e-3) is None
        session.websocket_closed(probe)
    assert len(engine._timers) <= STALE_SLACK
    upgrade(session, T0 + 6)
    assert session.transport == "websocket"


def test_the_stale_count_stays_exact_through_sweeps():
    engine, _ = make_engine(ping_interval=25, ping_timeout=20)
    sessions = [open_polling(engine, now=T0 + i * 1e-3) for i in range(200)]
    for i, session in enumerate(sessions):
        session.set_deadline(1 + i * 1e-3, "forced close")  # each makes its ping entry stale
        timers = engine._timers
        live = sum(timers._live.get(entry[2]) is entry for entry in timers._entries)
        assert live == len(timers._live)  # every session with an entry has it in the heap
        assert timers.stale == len(timers) - live
    engine.tick(T0 + 2)
    assert engine._timers.stale == len(engine._timers) and engine.next_deadline() is None
    assert len(engine._timers) == 0 and engine._timers.stale == 0

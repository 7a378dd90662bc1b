"""The upgrade from polling to WebSocket: 2probe/3probe, NOOP, 5, the flush and the refusals."""

from __future__ import annotations

from jupyter_rt.engine.session import UPGRADE_NOOP_DELAY
from tests.engine.fakes import (
    T0,
    FakeTransport,
    Listener,
    Poll,
    echo,
    get,
    make_engine,
    open_polling,
    upgrade,
)


def test_full_upgrade_sequence():
    engine, listener = make_engine(Listener(on_message=echo))
    session = open_polling(engine)
    poll = Poll(session)
    assert poll.take() is None
    probe = FakeTransport()
    assert session.attach_probe(probe, T0) is None
    assert session.transport == "polling"
    assert probe.take() == []  # the server waits for the client's probe
    session.receive_frame(probe, "2probe", T0)
    assert probe.take() == ["3probe"]
    # The NOOP that ends the pending GET comes from a check 100 ms later (as Node's), so that
    # it does not race what the client's first moments bring.
    assert engine.next_deadline() == T0 + UPGRADE_NOOP_DELAY == T0 + 0.1
    engine.tick(T0 + 0.099)
    assert poll.wakes == 0 and poll.take() is None
    engine.tick(T0 + 0.1)
    assert poll.wakes >= 1
    assert poll.take() == "6"  # NOOP ends the pending GET cleanly
    session.receive_frame(probe, "5", T0 + 0.2)
    assert session.transport == "websocket"
    session.receive_frame(probe, "4hello", T0)
    assert probe.take() == ["4hello"]
    assert listener.data() == ["hello"]
    assert listener.closes == []


def test_a_get_during_the_upgrade_takes_the_queue_then_a_noop():
    # As from Node: the client waits for its pending GET to end before it sends "5", and takes
    # what that GET brings first; only a GET with nothing to take gets the NOOP.
    engine, _ = make_engine()
    session = open_polling(engine)
    session.send(["before"])
    probe = FakeTransport()
    session.attach_probe(probe, T0)
    session.receive_frame(probe, "2probe", T0)
    session.send(["during"])
    assert get(session) == "4before\x1e4during"
    poll = Poll(session)
    session.send(["later"])
    assert poll.wakes == 1 and poll.take() == "4later"
    poll = Poll(session)
    engine.tick(T0 + 0.1)
    assert poll.take() == "6"
    assert get(session) == "6"  # from then on, at once
    session.send(["on the websocket"])
    session.receive_frame(probe, "5", T0 + 0.2)
    assert probe.take() == ["3probe", "4on the websocket"]


def test_the_noop_check_ends_with_the_upgrade():
    engine, _ = make_engine()
    session = open_polling(engine)
    probe = FakeTransport()
    session.attach_probe(probe, T0)
    session.receive_frame(probe, "2probe", T0)
    session.websocket_closed(probe)  # dropped: polling goes on, no NOOP
    poll = Poll(session)
    engine.tick(T0 + 1)
    assert poll.take() is None and poll.wakes == 0


def test_queue_is_flushed_to_the_websocket_in_order_with_binary():
    engine, _ = make_engine()
    session = open_polling(engine)
    session.send(["a", b"\x00\x01", "c"])
    probe = upgrade(session)
    assert probe.take() == ["4a", b"\x00\x01", "4c"]
    session.send(["d", b"\x02"])
    assert probe.take() == ["4d", b"\x02"]


def test_pending_ping_is_flushed_to_the_websocket():
    engine, listener = make_engine(ping_interval=10, ping_timeout=5)
    session = open_polling(engine)
    probe = FakeTransport()
    session.attach_probe(probe, T0 + 9)
    session.receive_frame(probe, "2probe", T0 + 9)
    engine.tick(T0 + 10)  # the ping waits for a GET, or for the WebSocket
    session.receive_frame(probe, "5", T0 + 11)
    assert probe.take() == ["3probe", "2"]
    session.receive_frame(probe, "3", T0 + 12)
    engine.tick(T0 + 21)
    assert listener.closes == []


def test_polling_is_refused_after_the_upgrade():
    engine, listener = make_engine()
    session = open_polling(engine)
    upgrade(session)
    assert Poll(session).error is not None
    assert session.receive_payload(b"4a", T0) is not None
    assert listener.messages == []
    assert not session.closed


def test_a_second_websocket_is_refused_after_the_upgrade():
    engine, _ = make_engine()
    session = open_polling(engine)
    websocket = upgrade(session)
    intruder = FakeTransport()
    assert session.attach_probe(intruder, T0) is not None
    session.receive_frame(intruder, "4evil", T0)
    session.websocket_closed(intruder)
    assert not session.closed
    assert session.transport == "websocket"
    assert not websocket.closed


def test_a_second_probe_is_refused_during_the_upgrade():
    engine, _ = make_engine()
    session = open_polling(engine)
    probe = FakeTransport()
    assert session.attach_probe(probe, T0) is None
    other = FakeTransport()
    assert session.attach_probe(other, T0) is not None
    session.receive_frame(other, "2probe", T0)
    assert other.frames == []
    session.receive_frame(probe, "2probe", T0)
    assert probe.take() == ["3probe"]


def test_pending_get_is_released_after_the_upgrade():
    engine, _ = make_engine()
    session = open_polling(engine)
    probe = FakeTransport()
    session.attach_probe(probe, T0)
    session.receive_frame(probe, "2probe", T0)
    poll = Poll(session)  # a GET still open when "5" arrives must not hang
    session.receive_frame(probe, "5", T0)
    assert poll.wakes >= 1
    assert poll.take() == "6"


def test_probe_closed_before_the_upgrade_completes():
    engine, listener = make_engine()
    session = open_polling(engine)
    probe = FakeTransport()
    session.attach_probe(probe, T0)
    session.receive_frame(probe, "2probe", T0)
    session.send(["queued"])
    poll = Poll(session)
    session.websocket_closed(probe)
    assert session.transport == "polling"
    assert not session.closed
    assert listener.closes == []
    assert poll.take() == "4queued"  # polling resumes with what waited for the WebSocket
    retry = FakeTransport()
    assert session.attach_probe(retry, T0) is None  # a new attempt may start
    session.receive_frame(retry, "2probe", T0)
    session.receive_frame(retry, "5", T0)
    assert session.transport == "websocket"


def test_upgrade_timeout_closes_the_probe_and_keeps_polling():
    engine, listener = make_engine(ping_interval=25, ping_timeout=20, upgrade_timeout=3)
    session = open_polling(engine)
    probe = FakeTransport()
    session.attach_probe(probe, T0 + 1)
    session.receive_frame(probe, "2probe", T0 + 1)
    session.send(["waiting"])
    assert engine.next_deadline() <= T0 + 4
    engine.tick(T0 + 3.9)
    assert not probe.closed
    engine.tick(T0 + 4)
    assert probe.closed
    assert session.transport == "polling" and not session.closed
    assert get(session) == "4waiting"
    session.receive_frame(probe, "5", T0 + 5)  # too late
    assert session.transport == "polling"
    assert listener.closes == []


def test_upgrade_timeout_without_probe_packet():
    engine, _ = make_engine(upgrade_timeout=3)
    session = open_polling(engine)
    probe = FakeTransport()
    session.attach_probe(probe, T0)
    engine.tick(T0 + 3)
    assert probe.closed
    assert session.transport == "polling"


def test_unexpected_probe_frames_cancel_the_upgrade():
    for frames in (["4hello"], ["5"], ["2probe", "2probe"], ["2probe", "4x"], [b"\x00"], ["3"]):
        engine, listener = make_engine()
        session = open_polling(engine)
        probe = FakeTransport()
        session.attach_probe(probe, T0)
        for frame in frames:
            session.receive_frame(probe, frame, T0)
        assert probe.closed, frames
        assert session.transport == "polling", frames
        assert not session.closed, frames
        assert listener.messages == [], frames


def test_upgraded_websocket_closed_ends_the_session():
    engine, listener = make_engine()
    session = open_polling(engine)
    websocket = upgrade(session)
    session.websocket_closed(websocket)
    assert session.closed
    assert listener.reasons() == ["transport close"]


def test_close_during_the_upgrade_closes_the_probe():
    engine, listener = make_engine()
    session = open_polling(engine)
    probe = FakeTransport()
    session.attach_probe(probe, T0)
    session.receive_frame(probe, "2probe", T0)
    poll = Poll(session)
    session.close()
    assert probe.closed
    assert listener.reasons() == ["forced close"]
    assert poll.take() == "1"


def test_heartbeat_continues_over_the_websocket():
    engine, listener = make_engine(ping_interval=10, ping_timeout=5)
    session = open_polling(engine)
    websocket = upgrade(session, now=T0 + 1)
    engine.tick(T0 + 10)
    assert websocket.take() == ["2"]
    session.receive_frame(websocket, "3", T0 + 11)
    engine.tick(T0 + 21)
    assert websocket.take() == ["2"]
    engine.tick(T0 + 26)
    assert listener.reasons() == ["ping timeout"]
    assert websocket.closed


def test_upgrade_refused_when_websocket_is_not_offered():
    engine, _ = make_engine(transports=("polling",))
    refusal = engine.check_request({"EIO": "4", "transport": "websocket", "sid": "x"})
    assert refusal is not None and refusal.status == 400

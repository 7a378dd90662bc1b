"""The Engine.IO session state machine, driven with a fake transport and a fake clock."""

from __future__ import annotations

import pytest

from jupyter_rt.engine import Engine
from jupyter_rt.engine.requests import UNKNOWN_SID
from tests.engine.fakes import (
    T0,
    FakeTransport,
    Listener,
    Poll,
    echo,
    get,
    handshake_of,
    make_engine,
    make_handshake,
    open_polling,
    open_websocket,
)

# -- handshake -----------------------------------------------------------------------------------


def test_polling_handshake_is_the_first_get():
    engine, listener = make_engine(ping_interval=0.3, ping_timeout=0.2)
    session = engine.open(make_handshake(), now=T0)
    assert listener.opened == [session]
    assert engine.sessions == {session.sid: session}
    assert session.transport == "polling" and not session.closed
    body = get(session)
    assert body is not None
    assert "\x1e" not in body
    assert handshake_of(body) == {
        "sid": session.sid,
        "upgrades": ["websocket"],
        "pingInterval": 300,
        "pingTimeout": 200,
        "maxPayload": 1_000_000,
    }
    assert get(session) is None  # nothing more to say yet


def test_websocket_handshake_is_written_at_once_without_upgrades():
    engine, listener = make_engine(max_payload=5000)
    session, transport = open_websocket(engine)
    assert session.transport == "websocket"
    assert listener.opened == [session]
    [frame] = transport.take()
    assert handshake_of(frame) == {
        "sid": session.sid,
        "upgrades": [],
        "pingInterval": 25000,
        "pingTimeout": 20000,
        "maxPayload": 5000,
    }


def test_polling_only_engine_offers_no_upgrade():
    engine, _ = make_engine(transports=("polling",))
    session = engine.open(make_handshake(), now=T0)
    assert handshake_of(get(session))["upgrades"] == []


def test_sids_are_unique_and_unguessable():
    engine, _ = make_engine()
    sids = {engine.open(make_handshake(), now=T0).sid for _ in range(200)}
    assert len(sids) == 200
    assert all(len(sid) >= 20 for sid in sids)
    assert all(sid.replace("-", "").replace("_", "").isalnum() for sid in sids)


def test_handshake_is_kept_on_the_session():
    engine, _ = make_engine()
    handshake = make_handshake(query={"EIO": "4", "transport": "polling", "x": "1"})
    session = engine.open(handshake, now=T0, credential="c")
    assert session.handshake is handshake
    assert session.credential == "c"


# -- heartbeat -----------------------------------------------------------------------------------


def test_no_heartbeat_before_a_session_exists():
    engine, _ = make_engine()
    assert engine.next_deadline() is None
    engine.tick(T0 + 1e6)


def test_polling_ping_after_interval():
    engine, _ = make_engine(ping_interval=25, ping_timeout=20)
    session = open_polling(engine)
    assert engine.next_deadline() == T0 + 25
    poll = Poll(session)
    engine.tick(T0 + 24.999)
    assert poll.wakes == 0
    engine.tick(T0 + 25)
    assert poll.wakes == 1
    assert poll.take() == "2"


def test_polling_ping_waits_for_the_next_get():
    engine, _ = make_engine(ping_interval=25, ping_timeout=20)
    session = open_polling(engine)
    engine.tick(T0 + 25)
    assert get(session) == "2"


def test_pong_resets_the_heartbeat_over_polling():
    engine, listener = make_engine(ping_interval=25, ping_timeout=20)
    session = open_polling(engine)
    for i in range(1, 6):
        now = T0 + i * 30
        engine.tick(now - 5)
        assert get(session) == "2"
        assert session.receive_payload(b"3", now) is None
        engine.tick(now + 24)  # the next ping is due 25 s after the pong
        assert get(session) is None
        assert not session.closed
    assert listener.closes == []


def test_polling_ping_timeout():
    engine, listener = make_engine(ping_interval=25, ping_timeout=20)
    session = open_polling(engine)
    poll = Poll(session)
    engine.tick(T0 + 25)
    assert poll.take() == "2"
    assert engine.next_deadline() == T0 + 45
    engine.tick(T0 + 44.9)
    assert not session.closed
    poll = Poll(session)
    engine.tick(T0 + 45)
    assert session.closed
    assert listener.reasons() == ["ping timeout"]
    assert session.sid not in engine.sessions
    assert poll.wakes >= 1
    assert session.take_poll_body() == UNKNOWN_SID  # answered 400: no CLOSE is sent
    assert engine.next_deadline() is None


def test_pong_deadline_counts_from_when_the_ping_was_due():
    # A late timer must not give the client longer than ping_interval + ping_timeout.
    engine, listener = make_engine(ping_interval=25, ping_timeout=20)
    session, transport = open_websocket(engine)
    engine.tick(T0 + 27)
    assert transport.frames[-1] == "2"
    engine.tick(T0 + 44.9)
    assert not session.closed
    engine.tick(T0 + 45)
    assert listener.reasons() == ["ping timeout"]


def test_very_late_ping_still_leaves_half_the_timeout():
    engine, listener = make_engine(ping_interval=25, ping_timeout=20)
    session, transport = open_websocket(engine)
    engine.tick(T0 + 40)
    assert transport.frames[-1] == "2"
    engine.tick(T0 + 49.9)
    assert not session.closed
    session.receive_frame(transport, "3", T0 + 49.9)
    engine.tick(T0 + 60)
    assert listener.closes == []


def test_websocket_ping_pong_and_timeout():
    engine, listener = make_engine(ping_interval=0.3, ping_timeout=0.2)
    session, transport = open_websocket(engine)
    transport.take()
    now = T0
    for _ in range(3):
        now += 0.3
        assert engine.next_deadline() <= now  # early wake-ups are allowed, late ones are not
        engine.tick(now - 0.001)
        assert transport.take() == []
        engine.tick(now)
        assert transport.take() == ["2"]
        now += 0.1
        session.receive_frame(transport, "3", now)
    engine.tick(now + 0.29)
    assert transport.take() == []
    engine.tick(now + 0.3)
    assert transport.take() == ["2"]
    engine.tick(now + 0.49)
    assert not session.closed
    engine.tick(now + 0.5)
    assert session.closed
    assert listener.reasons() == ["ping timeout"]
    assert transport.closed
    assert "1" not in transport.frames  # dropped without CLOSE: the client reconnects


def test_pong_without_ping_is_ignored():
    engine, listener = make_engine(ping_interval=10, ping_timeout=5)
    session, transport = open_websocket(engine)
    transport.take()
    for i in range(1, 6):
        session.receive_frame(transport, "3", T0 + i)
    engine.tick(T0 + 9.9)
    assert transport.take() == []
    engine.tick(T0 + 10)
    assert transport.take() == ["2"]
    engine.tick(T0 + 14.9)
    assert not session.closed
    engine.tick(T0 + 15)
    assert listener.reasons() == ["ping timeout"]


def test_pong_flood_does_not_grow_the_timers():
    engine, listener = make_engine(ping_interval=10, ping_timeout=5)
    session, transport = open_websocket(engine)
    engine.tick(T0 + 10)
    for i in range(10_000):
        session.receive_frame(transport, "3", T0 + 10 + i * 1e-5)
    assert len(engine._timers) <= 3
    assert listener.closes == []


def test_client_ping_and_noop_need_no_answer():
    engine, listener = make_engine()
    session, transport = open_websocket(engine)
    transport.take()
    session.receive_frame(transport, "2", T0)
    session.receive_frame(transport, "6", T0)
    session.receive_frame(transport, "2probe", T0)
    assert transport.take() == []
    assert not session.closed
    polling = open_polling(engine)
    assert polling.receive_payload(b"2\x1e6", T0) is None
    assert get(polling) is None
    assert listener.closes == []


def test_one_timer_serves_many_sessions():
    engine, listener = make_engine(ping_interval=10, ping_timeout=5)
    sessions = [open_websocket(engine, now=T0 + i) for i in range(5)]
    assert engine.next_deadline() == T0 + 10
    engine.tick(T0 + 12)
    assert [t.frames[-1] == "2" for _, t in sessions] == [True, True, True, False, False]
    session, transport = sessions[2]
    session.receive_frame(transport, "3", T0 + 16)
    engine.tick(T0 + 17)  # the first two did not answer within 5 s of their ping
    assert [s.closed for s, _ in sessions] == [True, True, False, False, False]
    assert [t.frames[-1] == "2" for _, t in sessions[3:]] == [True, True]
    assert listener.reasons() == ["ping timeout", "ping timeout"]


# -- polling GET and POST ------------------------------------------------------------------------


def test_post_messages_reach_the_listener_in_order():
    engine, listener = make_engine()
    session = open_polling(engine)
    body = "\x1e".join(f"4m{i}" for i in range(100)) + "\x1ebAQIDBA=="
    assert session.receive_payload(body.encode(), T0) is None
    assert listener.data() == [f"m{i}" for i in range(100)] + [b"\x01\x02\x03\x04"]


def test_post_up_to_max_payload_bytes():
    engine, listener = make_engine(max_payload=1000)
    session = open_polling(engine)
    assert session.receive_payload(b"4" + b"x" * 999, T0) is None
    assert listener.data() == ["x" * 999]
    assert session.receive_payload(b"4" + b"x" * 1000, T0) is not None
    assert session.closed
    assert listener.reasons() == ["parse error"]
    assert len(listener.messages) == 1


def test_pending_get_is_woken_by_send():
    engine, _ = make_engine()
    session = open_polling(engine)
    poll = Poll(session)
    assert poll.take() is None
    session.send(["hello", b"\x01\x02\x03\x04"])
    assert poll.wakes >= 1
    assert poll.take() == "4hello\x1ebAQIDBA=="


def test_send_preserves_order_across_calls():
    engine, _ = make_engine()
    session = open_polling(engine)
    session.send(["a"])
    session.send(["b", "c"])
    assert get(session) == "4a\x1e4b\x1e4c"


def test_at_most_16_packets_per_get():
    engine, _ = make_engine()
    session = open_polling(engine)
    session.send([f"m{i}" for i in range(40)])
    bodies = [get(session) for _ in range(4)]
    assert bodies[3] is None
    assert [len(b.split("\x1e")) for b in bodies[:3]] == [16, 16, 8]
    assert "\x1e".join(bodies[:3]).split("\x1e") == [f"4m{i}" for i in range(40)]


def test_max_poll_packets_is_configurable():
    engine, _ = make_engine(max_poll_packets=3)
    session = open_polling(engine)
    session.send(list("abcdefg"))
    assert get(session) == "4a\x1e4b\x1e4c"


def test_echo_over_polling():
    engine, _ = make_engine(Listener(on_message=echo))
    session = open_polling(engine)
    assert session.receive_payload(b"4test1\x1e4test2\x1e4test3", T0) is None
    assert get(session) == "4test1\x1e4test2\x1e4test3"
    assert session.receive_payload(b"4hello\x1ebAQIDBA==", T0) is None
    assert get(session) == "4hello\x1ebAQIDBA=="


def test_second_concurrent_get_closes_the_session():
    engine, listener = make_engine()
    session = open_polling(engine)
    first = Poll(session)
    assert first.take() is None
    second = Poll(session)
    assert second.error is not None
    assert session.closed
    assert listener.reasons() == ["transport error"]
    assert first.wakes >= 1
    assert first.take() == "1"
    assert session.sid not in engine.sessions


def test_invalid_packet_closes_the_session():
    engine, listener = make_engine()
    session = open_polling(engine)
    poll = Poll(session)
    assert session.receive_payload(b"abc", T0) is not None
    assert session.closed
    assert listener.reasons() == ["parse error"]
    assert session.sid not in engine.sessions
    assert poll.wakes >= 1


def test_a_violation_on_polling_answers_the_pending_get_unknown_after_the_post():
    # No CLOSE packet: the client would take it for a clean close and never report the error.
    engine, listener = make_engine()
    session = open_polling(engine)
    poll = Poll(session)
    assert session.start_post() is None
    assert session.receive_payload(b"abc", T0) is not None  # answered 400
    assert session.sid not in engine.sessions  # its sid is unknown at once
    assert poll.wakes == 0 and poll.take() is None  # held until that 400 is written
    session.end_post()
    assert poll.wakes == 1 and poll.take() == UNKNOWN_SID
    assert listener.reasons() == ["parse error"]


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_close_for_violation(transport):
    engine, listener = make_engine()
    if transport == "polling":
        session = open_polling(engine)
        poll = Poll(session)
        session.close_for_violation("parse error")
        assert poll.take() == UNKNOWN_SID
    else:
        session, websocket = open_websocket(engine)
        websocket.take()
        session.close_for_violation("parse error")
        assert websocket.take() == ["1"] and websocket.closed
    assert session.sid not in engine.sessions
    assert listener.reasons() == ["parse error"]


@pytest.mark.parametrize(
    "body",
    [b"", b"abc", b"4a\x1e\x1e4b", b"b!!!", b"\xff", b"5", b"0{}", b"4a\x1e5", b"9"],
)
def test_every_invalid_post_closes_with_parse_error(body):
    engine, listener = make_engine()
    session = open_polling(engine)
    error = session.receive_payload(body, T0)
    assert error is not None and error.status == 400
    assert error.message.startswith("Bad request: ")
    assert session.closed
    assert listener.reasons() == ["parse error"]


def test_client_close_over_polling_ends_the_pending_get_with_noop():
    engine, listener = make_engine()
    session = open_polling(engine)
    poll = Poll(session)
    assert session.receive_payload(b"1", T0) is None
    assert session.closed
    assert listener.reasons() == ["transport close"]
    assert poll.wakes >= 1
    assert poll.take() == "6"
    assert session.sid not in engine.sessions


def test_client_close_without_pending_get():
    engine, listener = make_engine()
    session = open_polling(engine)
    session.send(["unsent"])
    assert session.receive_payload(b"4last\x1e1\x1e4ignored", T0) is None
    assert listener.data() == ["last"]
    assert listener.reasons() == ["transport close"]


def test_aborted_get_ends_the_session():
    engine, listener = make_engine()
    session = open_polling(engine)
    poll = Poll(session)
    session.abort_poll()
    assert session.closed
    assert listener.reasons() == ["transport close"]
    assert poll.take() == UNKNOWN_SID
    assert session.sid not in engine.sessions


@pytest.mark.parametrize("notify", [True, False])
def test_requests_on_a_closed_session_are_refused(notify):
    engine, _ = make_engine()
    session = open_polling(engine)
    session.close(notify=notify)
    assert session.receive_payload(b"4a", T0) is not None
    if notify:
        assert get(session) == "1"
    assert Poll(session).error is not None


# -- WebSocket -----------------------------------------------------------------------------------


def test_websocket_echo_text_and_binary():
    engine, listener = make_engine(Listener(on_message=echo))
    session, transport = open_websocket(engine)
    transport.take()
    session.receive_frame(transport, "4hello", T0)
    session.receive_frame(transport, b"\x01\x02\x03\x04", T0)
    assert transport.take() == ["4hello", b"\x01\x02\x03\x04"]
    assert listener.data() == ["hello", b"\x01\x02\x03\x04"]


def test_a_broadcast_hands_every_websocket_the_same_frames():
    # The transport builds the wire bytes once per frames object: keep it the same for all.
    engine, _ = make_engine()
    pairs = [open_websocket(engine) for _ in range(3)]
    messages = ["hello", b"\x00"]
    for session, _ in pairs:
        session.send(messages)
    written = [transport.calls[-1] for _, transport in pairs]
    assert written[0] == ["4hello", b"\x00"]
    assert written[0] is written[1] is written[2]
    other = ["hello", b"\x00"]
    pairs[0][0].send(other)
    assert pairs[0][1].calls[-1] == written[0]
    assert pairs[0][1].calls[-1] is not written[0]


@pytest.mark.parametrize("frame", ["abc", "", "0{}", "5", "9"])
def test_websocket_invalid_frame_closes(frame):
    engine, listener = make_engine()
    session, transport = open_websocket(engine)
    session.receive_frame(transport, frame, T0)
    assert session.closed
    assert transport.closed
    assert listener.reasons() == ["parse error"]
    assert session.sid not in engine.sessions


def test_websocket_client_close():
    engine, listener = make_engine()
    session, transport = open_websocket(engine)
    session.receive_frame(transport, "1", T0)
    assert session.closed and transport.closed
    assert listener.reasons() == ["transport close"]


def test_websocket_closed_by_peer():
    engine, listener = make_engine()
    session, transport = open_websocket(engine)
    session.websocket_closed(transport)
    assert session.closed
    assert listener.reasons() == ["transport close"]
    session.websocket_closed(transport)
    assert len(listener.closes) == 1


def test_frames_from_a_foreign_transport_are_ignored():
    engine, listener = make_engine()
    session, _ = open_websocket(engine)
    session.receive_frame(FakeTransport(), "4hello", T0)
    session.websocket_closed(FakeTransport())
    assert listener.messages == []
    assert not session.closed


def test_polling_requests_on_a_websocket_session_are_refused():
    engine, listener = make_engine()
    session, _ = open_websocket(engine)
    assert Poll(session).error is not None
    assert session.receive_payload(b"4a", T0) is not None
    assert session.attach_probe(FakeTransport(), T0) is not None
    assert listener.messages == []


# -- slow consumers ------------------------------------------------------------------------------


def test_slow_websocket_consumer_is_dropped():
    engine, listener = make_engine(max_buffered_bytes=1000)
    session, transport = open_websocket(engine)
    transport.take()
    transport.buffered_amount = 1000
    session.send(["x"])
    assert not session.closed
    transport.buffered_amount = 1001
    session.send(["y"])
    assert session.closed
    assert transport.closed
    assert listener.reasons() == ["transport error"]
    assert "1" not in transport.frames
    session.send(["z"])
    assert transport.writes_after_close == []


def test_slow_polling_consumer_is_dropped():
    engine, listener = make_engine(max_buffered_bytes=1000)
    session = open_polling(engine)
    session.send(["x" * 400, "y" * 400])
    assert not session.closed
    session.send(["z" * 400])
    assert session.closed
    assert listener.reasons() == ["transport error"]
    assert session.take_poll_body() == UNKNOWN_SID  # nothing left; the client reconnects


def test_polling_outbox_drains_and_allows_more():
    engine, listener = make_engine(max_buffered_bytes=1000)
    session = open_polling(engine)
    for _ in range(10):
        session.send(["x" * 400, "y" * 400])
        assert get(session) is not None
    assert not session.closed
    assert listener.closes == []


# -- closing -------------------------------------------------------------------------------------


def test_close_over_websocket_sends_close_packet():
    engine, listener = make_engine()
    session, transport = open_websocket(engine)
    transport.take()
    session.close()
    assert transport.take() == ["1"]
    assert transport.closed
    assert listener.reasons() == ["forced close"]
    assert session.sid not in engine.sessions


def test_close_without_notify_over_websocket():
    engine, listener = make_engine()
    session, transport = open_websocket(engine)
    transport.take()
    session.close("server shutting down", notify=False)
    assert transport.take() == []
    assert transport.closed
    assert listener.reasons() == ["server shutting down"]


def test_close_over_polling_flushes_then_close_packet():
    engine, listener = make_engine()
    session = open_polling(engine)
    poll = Poll(session)
    session.send(["bye"])
    session.close()
    assert poll.take() == "4bye"  # CLOSE goes alone, after the rest
    assert listener.reasons() == ["forced close"]
    assert get(engine.find(session.sid, None)) == "1"
    assert engine.find(session.sid, None).status == 400


def test_close_without_notify_over_polling():
    engine, listener = make_engine()
    session = open_polling(engine)
    poll = Poll(session)
    session.send(["lost"])
    session.close(notify=False)
    assert poll.take() == UNKNOWN_SID  # answered 400: the client reconnects
    assert listener.reasons() == ["forced close"]


def test_close_over_polling_waits_for_the_next_get():
    # The client must see the CLOSE packet, or it takes the 400 for an error and reconnects.
    engine, listener = make_engine()
    session = open_polling(engine)
    session.send(["bye"])
    session.close()
    assert listener.reasons() == ["forced close"]
    assert engine.find(session.sid, None) is session
    assert session.receive_payload(b"4late", T0) is not None
    assert listener.data() == []
    assert get(session) == "4bye"
    assert get(engine.find(session.sid, None)) == "1"
    assert engine.find(session.sid, None).status == 400
    assert listener.reasons() == ["forced close"]


def test_close_over_polling_drains_more_than_one_get():
    engine, _ = make_engine()
    session = open_polling(engine)
    session.send([f"m{i}" for i in range(20)])
    poll = Poll(session)
    session.close()
    first = poll.take()
    assert first is not None and first.count("\x1e") == 15
    assert get(engine.find(session.sid, None)) == "4m16\x1e4m17\x1e4m18\x1e4m19"
    assert get(engine.find(session.sid, None)) == "1"
    assert engine.find(session.sid, None).status == 400


def test_undelivered_close_is_forgotten_after_a_ping_cycle():
    engine, listener = make_engine(ping_interval=10, ping_timeout=5)
    session = open_polling(engine)
    session.receive_payload(b"3", T0 + 2)  # the engine's clock is T0 + 2 now
    session.close()
    assert engine.next_deadline() is not None
    engine.tick(T0 + 16.9)
    assert engine.find(session.sid, None) is session
    engine.tick(T0 + 17)
    assert engine.find(session.sid, None).status == 400
    assert engine.next_deadline() is None
    assert listener.reasons() == ["forced close"]


def test_client_close_racing_its_get():
    # POST "1" handled before the client's concurrent GET: that GET still ends with a NOOP.
    engine, listener = make_engine()
    session = open_polling(engine)
    assert session.receive_payload(b"1", T0) is None
    assert listener.reasons() == ["transport close"]
    assert get(engine.find(session.sid, None)) == "6"
    assert engine.find(session.sid, None).status == 400


def test_close_all_forgets_closed_sessions_too():
    engine, _ = make_engine()
    session = open_polling(engine)
    session.close()
    engine.close_all()
    assert engine.sessions == {}


def test_close_reasons_and_listener_called_once():
    engine, listener = make_engine()
    session = open_polling(engine)
    session.close("custom")
    session.close("again")
    session.abort_poll()
    session.receive_payload(b"abc", T0)
    engine.tick(T0 + 1e6)
    assert listener.closes == [(session.sid, "custom")]


def test_close_from_inside_the_close_callback_is_harmless():
    engine, listener = make_engine()
    listener.on_close = lambda session, reason: session.close("nested")
    session, _ = open_websocket(engine)
    session.close()
    assert listener.reasons() == ["forced close"]


def test_listener_closing_during_a_payload_stops_the_rest():
    def close_on_stop(session, data):
        if data == "stop":
            session.close()

    engine, listener = make_engine(Listener(on_message=close_on_stop))
    session = open_polling(engine)
    session.receive_payload(b"4a\x1e4stop\x1e4b", T0)
    assert listener.data() == ["a", "stop"]
    assert listener.reasons() == ["forced close"]


def test_send_after_close_does_nothing():
    engine, _ = make_engine()
    session, transport = open_websocket(engine)
    session.close(notify=False)
    session.send(["late"])
    assert transport.writes_after_close == []
    polling = open_polling(engine)
    polling.close(notify=False)
    polling.send(["late"])
    assert polling.take_poll_body() == UNKNOWN_SID


def test_close_all_drops_everyone_without_close_packets():
    engine, listener = make_engine()
    _, transport = open_websocket(engine)
    transport.take()
    polling = open_polling(engine)
    engine.close_all()
    assert engine.sessions == {}
    assert sorted(listener.reasons()) == ["server shutting down"] * 2
    assert transport.take() == [] and transport.closed
    assert polling.take_poll_body() == UNKNOWN_SID
    assert engine.next_deadline() is None


def test_closed_sessions_leave_no_timers():
    engine, _ = make_engine()
    sessions = [open_websocket(engine)[0] for _ in range(3)]
    for session in sessions:
        session.close()
    assert engine.next_deadline() is None


# -- engine options and requests -----------------------------------------------------------------


@pytest.mark.parametrize("transports", [(), ("carrier-pigeon",), ("polling", "ws")])
def test_engine_refuses_unknown_transports(transports):
    with pytest.raises(ValueError):
        Engine(Listener(), transports=transports)


@pytest.mark.parametrize(
    "query",
    [
        {"transport": "polling"},
        {"EIO": "3", "transport": "polling"},
        {"EIO": "abc", "transport": "polling"},
        {"EIO": "", "transport": "polling"},
        {"EIO": "4"},
        {"EIO": "4", "transport": "abc"},
        {"EIO": "4", "transport": ""},
        {"EIO": "4", "transport": "Polling"},
    ],
)
def test_check_request_refuses_with_400(query):
    engine, _ = make_engine()
    refusal = engine.check_request(query)
    assert refusal is not None and refusal.status == 400


def test_check_request_accepts():
    engine, _ = make_engine()
    assert engine.check_request({"EIO": "4", "transport": "polling"}) is None
    assert engine.check_request({"EIO": "4", "transport": "websocket", "sid": "x"}) is None


def test_check_request_honours_configured_transports():
    polling_only, _ = make_engine(transports=("polling",))
    assert polling_only.check_request({"EIO": "4", "transport": "websocket"}).status == 400
    websocket_only, _ = make_engine(transports=("websocket",))
    assert websocket_only.check_request({"EIO": "4", "transport": "polling"}).status == 400


def test_find_unknown_sid_is_400():
    engine, _ = make_engine()
    refusal = engine.find("nope", None)
    assert refusal.status == 400


def test_find_is_bound_to_the_opening_credential():
    engine, _ = make_engine()
    session = open_polling(engine, credential="alice-token-hash")
    assert engine.find(session.sid, "alice-token-hash") is session
    other = engine.find(session.sid, "bob-token-hash")
    assert other.status == 403
    anonymous = engine.find(session.sid, None)
    assert anonymous.status == 403
    assert engine.find(session.sid, "").status == 403
    assert not session.closed


def test_find_without_a_bound_credential():
    engine, _ = make_engine()
    session = open_polling(engine, credential=None)
    assert engine.find(session.sid, None) is session


@pytest.mark.parametrize("how", ["forced", "not notified", "parse error", "ping timeout"])
def test_find_a_closed_session_is_400(how):
    engine, _ = make_engine(ping_interval=1, ping_timeout=1)
    session = open_polling(engine)
    if how == "forced":
        session.close()
        assert get(engine.find(session.sid, None)) == "1"
    elif how == "not notified":
        session.close(notify=False)
    elif how == "parse error":
        session.receive_payload(b"x", T0)
    else:
        engine.tick(T0 + 1)
        engine.tick(T0 + 2)
    assert session.closed
    assert engine.find(session.sid, None).status == 400


# -- writable (volatile messages are dropped when it is False) ------------------------------------


def test_writable_over_polling():
    engine, _ = make_engine()
    session = open_polling(engine)
    assert not session.writable  # no GET waiting
    poll = Poll(session)
    assert session.writable
    session.send(["x"])
    assert not session.writable  # something already waits to be taken
    assert poll.take() == "4x"
    poll = Poll(session)
    probe = FakeTransport()
    session.attach_probe(probe, T0)
    session.receive_frame(probe, "2probe", T0)
    assert session.writable  # upgrading: the GET still takes what is sent
    session.receive_frame(probe, "5", T0)
    assert session.writable
    session.close()
    assert not session.writable


def test_writable_over_websocket():
    engine, _ = make_engine()
    session, transport = open_websocket(engine)
    assert session.writable
    transport.buffered_amount = 1
    assert not session.writable
    transport.buffered_amount = 0
    session.close()
    assert not session.writable


def test_force_base64_binary_over_websocket():
    # Clients with forceBase64 send binary as "b" + base64 text frames on WebSocket too.
    engine, listener = make_engine(Listener(on_message=echo))
    session, transport = open_websocket(engine)
    transport.take()
    session.receive_frame(transport, "bAQIDBA==", T0)
    assert listener.data() == [b"\x01\x02\x03\x04"]
    assert transport.take() == [b"\x01\x02\x03\x04"]
    session.receive_frame(transport, "b!!", T0)
    assert listener.reasons() == ["parse error"]

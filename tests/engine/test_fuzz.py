"""Random request sequences against one session: no exception escapes, invariants always hold."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_rt.engine import EngineSession, SessionState
from jupyter_rt.engine.state import CLOSED_STATES, POLLING_STATES
from tests.engine.fakes import (
    T0,
    FakeTransport,
    Listener,
    Poll,
    echo,
    make_engine,
    make_handshake,
)

frames = st.one_of(
    st.sampled_from(["2probe", "3probe", "5", "3", "2", "6", "1", "4hi", "0{}", "", "x", "4"]),
    st.text(max_size=6),
    st.binary(max_size=6),
)
bodies = st.one_of(
    st.sampled_from([b"3", b"4a", b"4a\x1e4b", b"1", b"5", b"6", b"2", b"bAQID", b"", b"x"]),
    st.lists(st.sampled_from(["3", "4m", "bAA==", "2", "6", "1"]), min_size=1, max_size=20).map(
        lambda parts: "\x1e".join(parts).encode()
    ),
    st.binary(max_size=12),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("post"), bodies),
        st.tuples(st.just("get")),
        st.tuples(st.just("end_get")),
        st.tuples(st.just("abort_get")),
        st.tuples(st.just("probe")),
        st.tuples(st.just("probe_frame"), frames),
        st.tuples(st.just("probe_closed")),
        st.tuples(st.just("ws_frame"), frames),
        st.tuples(st.just("ws_closed")),
        st.tuples(st.just("tick"), st.floats(0, 40)),
        st.tuples(st.just("send"), st.lists(st.text(max_size=3) | st.binary(max_size=3))),
        st.tuples(st.just("close"), st.booleans()),
        st.tuples(st.just("slow"), st.integers(0, 2000)),
    ),
    max_size=40,
)


def check(engine, listener: Listener, session: EngineSession, transports) -> None:
    # The invariants of jupyter_rt.engine.state (a move off the table would have raised).
    state = session.state
    assert session.closed is (state in CLOSED_STATES)
    if state in POLLING_STATES:
        assert session.transport == "polling"
    elif state is SessionState.WEBSOCKET:
        assert session.transport == "websocket"
    elif state is SessionState.CLOSING:
        assert engine.sessions.get(session.sid) is session
    else:
        assert state is SessionState.CLOSED
        assert session.sid not in engine.sessions and engine.next_deadline() is None
    assert len(listener.closes) == (1 if session.closed else 0)
    if not session.closed:
        assert engine.sessions.get(session.sid) is session
        assert engine.next_deadline() is not None  # the heartbeat never stops
    for transport in transports:
        assert transport.writes_after_close == []
    if session.transport == "websocket" and not session.closed:
        assert session.receive_payload(b"4x", session._clock) is not None
        assert not session.closed


@settings(max_examples=300)
@given(operations, st.booleans())
def test_random_sequences(ops, start_on_websocket):
    engine, listener = make_engine(
        Listener(on_message=echo),
        ping_interval=10,
        ping_timeout=5,
        upgrade_timeout=3,
        max_payload=200,
        max_buffered_bytes=500,
    )
    now = T0
    transports: list[FakeTransport] = []
    websocket = None
    if start_on_websocket:
        websocket = FakeTransport()
        transports.append(websocket)
        session = engine.open(make_handshake(), now=now, websocket=websocket)
    else:
        session = engine.open(make_handshake(), now=now)
    poll: Poll | None = None
    probe: FakeTransport | None = None
    for op, *args in ops:
        if op == "post":
            session.receive_payload(args[0], now)
        elif op == "get":
            poll = Poll(session)
            if poll.error is not None or poll.take() is not None:
                poll = None
        elif op == "end_get" and poll is not None and poll.pending:
            if poll.take() is None:
                poll.end()
            poll = None
        elif op == "abort_get" and poll is not None and poll.pending:
            session.abort_poll()
            poll = None
        elif op == "probe":
            candidate = FakeTransport()
            transports.append(candidate)
            if session.attach_probe(candidate, now) is None:
                probe = candidate
        elif op == "probe_frame" and probe is not None:
            session.receive_frame(probe, args[0], now)
            if session.transport == "websocket" and websocket is None:
                websocket, probe = probe, None
        elif op == "probe_closed" and probe is not None:
            probe.close()
            session.websocket_closed(probe)
            probe = None
        elif op == "ws_frame" and websocket is not None:
            session.receive_frame(websocket, args[0], now)
        elif op == "ws_closed" and websocket is not None:
            websocket.close()
            session.websocket_closed(websocket)
        elif op == "tick":
            now += args[0]
            engine.tick(now)
        elif op == "send":
            session.send(args[0])
        elif op == "close":
            session.close(notify=args[0])
        elif op == "slow" and websocket is not None:
            websocket.buffered_amount = args[0]
        check(engine, listener, session, transports)
    engine.tick(now + 1000)
    check(engine, listener, session, transports)
    engine.tick(now + 2000)  # no pong ever came: closed, and forgotten
    check(engine, listener, session, transports)
    assert session.closed
    assert engine.sessions == {}
    assert engine.next_deadline() is None

"""The session state table: every (state, event) pair, then each legal move by a real session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

import pytest

from jupyter_rt.engine import EngineSession, Refusal, SessionEvent, SessionState, TransitionError
from jupyter_rt.engine.state import TRANSITIONS, allows, next_state
from jupyter_rt.protocol import engineio
from jupyter_rt.protocol.engineio import ErrorCode
from tests.engine.fakes import (
    T0,
    FakeTransport,
    Listener,
    get,
    make_engine,
    make_handshake,
    open_polling,
    open_websocket,
)

S = SessionState
E = SessionEvent

# The diagram of jupyter_rt.engine.state, written out again: every legal move, and no other.
LEGAL = {
    (S.OPENING, E.OPENED_POLLING): S.POLLING,
    (S.OPENING, E.OPENED_WEBSOCKET): S.WEBSOCKET,
    (S.POLLING, E.PROBE_ATTACHED): S.PROBING,
    (S.POLLING, E.CLOSED_DRAINING): S.CLOSING,
    (S.POLLING, E.CLOSED): S.CLOSED,
    (S.PROBING, E.PROBE_PINGED): S.UPGRADING,
    (S.PROBING, E.PROBE_DROPPED): S.POLLING,
    (S.PROBING, E.CLOSED_DRAINING): S.CLOSING,
    (S.PROBING, E.CLOSED): S.CLOSED,
    (S.UPGRADING, E.UPGRADED): S.WEBSOCKET,
    (S.UPGRADING, E.PROBE_DROPPED): S.POLLING,
    (S.UPGRADING, E.CLOSED_DRAINING): S.CLOSING,
    (S.UPGRADING, E.CLOSED): S.CLOSED,
    (S.WEBSOCKET, E.CLOSED): S.CLOSED,
    (S.CLOSING, E.DRAINED): S.CLOSED,
}


@pytest.mark.parametrize(("state", "event"), list(product(S, E)))
def test_every_state_and_event(state, event):
    expected = LEGAL.get((state, event))
    assert allows(state, event) is (expected is not None)
    if expected is None:
        with pytest.raises(TransitionError, match=f"{event.name} in state {state.name}"):
            next_state(state, event)
    else:
        assert next_state(state, event) is expected


def test_the_table_lists_every_state_and_closed_is_final():
    assert set(TRANSITIONS) == set(S)
    assert TRANSITIONS[S.CLOSED] == {}
    assert all(S.OPENING not in moves.values() for moves in TRANSITIONS.values())


# -- a real session in each state, and the public call that makes each move ------------------


@dataclass
class Case:
    session: EngineSession
    listener: Listener
    probe: FakeTransport | None = None
    websocket: FakeTransport | None = None


def _opening(websocket: bool) -> Case:
    engine, listener = make_engine()
    transport = FakeTransport() if websocket else None
    session = EngineSession(engine, "sid", make_handshake(), None, transport)
    return Case(session, listener, websocket=transport)


def _polling() -> Case:
    engine, listener = make_engine()
    return Case(open_polling(engine), listener)


def _probing() -> Case:
    case = _polling()
    case.probe = FakeTransport()
    assert case.session.attach_probe(case.probe, T0) is None
    return case


def _upgrading() -> Case:
    case = _probing()
    assert case.probe is not None
    case.session.receive_frame(case.probe, "2probe", T0)
    return case


def _websocket() -> Case:
    engine, listener = make_engine()
    session, transport = open_websocket(engine)
    return Case(session, listener, websocket=transport)


def _closing() -> Case:
    case = _polling()
    case.session.close()  # the CLOSE packet waits for the next GET
    return case


def _closed() -> Case:
    case = _websocket()
    case.session.close()
    return case


IN_STATE: dict[SessionState, Callable[[], Case]] = {
    S.OPENING: lambda: _opening(websocket=False),
    S.POLLING: _polling,
    S.PROBING: _probing,
    S.UPGRADING: _upgrading,
    S.WEBSOCKET: _websocket,
    S.CLOSING: _closing,
    S.CLOSED: _closed,
}


def _send_handshake(case: Case) -> None:
    packet = engineio.open_packet(
        case.session.sid, upgrades=[], ping_interval=25, ping_timeout=20, max_payload=1000
    )
    case.session.send_handshake(packet, T0)


def _drop_probe(case: Case) -> None:
    assert case.probe is not None
    case.session.websocket_closed(case.probe)


def _take_last_packets(case: Case) -> None:
    assert get(case.session) == "1"


MOVES: dict[tuple[SessionState, SessionEvent], Callable[[Case], object]] = {
    (S.OPENING, E.OPENED_POLLING): _send_handshake,
    (S.OPENING, E.OPENED_WEBSOCKET): _send_handshake,
    (S.POLLING, E.PROBE_ATTACHED): lambda c: c.session.attach_probe(FakeTransport(), T0),
    (S.PROBING, E.PROBE_PINGED): lambda c: c.session.receive_frame(c.probe, "2probe", T0),
    (S.PROBING, E.PROBE_DROPPED): _drop_probe,
    (S.UPGRADING, E.UPGRADED): lambda c: c.session.receive_frame(c.probe, "5", T0),
    (S.UPGRADING, E.PROBE_DROPPED): lambda c: c.session.on_timer(T0 + 10),  # upgrade timeout
    (S.WEBSOCKET, E.CLOSED): lambda c: c.session.websocket_closed(c.websocket),
    (S.CLOSING, E.DRAINED): _take_last_packets,
}
for _state in (S.POLLING, S.PROBING, S.UPGRADING):
    MOVES[(_state, E.CLOSED_DRAINING)] = lambda c: c.session.close()
    MOVES[(_state, E.CLOSED)] = lambda c: c.session.close(notify=False)


def test_every_legal_move_has_a_call_that_makes_it():
    assert set(MOVES) == set(LEGAL)


@pytest.mark.parametrize(("state", "event"), list(LEGAL))
def test_a_session_makes_each_legal_move(state, event):
    case = (
        _opening(websocket=True)
        if (state, event) == (S.OPENING, E.OPENED_WEBSOCKET)
        else IN_STATE[state]()
    )
    assert case.session.state is state
    MOVES[(state, event)](case)
    after = LEGAL[(state, event)]
    assert case.session.state is after
    assert case.session.closed is (after in (S.CLOSING, S.CLOSED))
    if after is S.WEBSOCKET:
        assert case.session.transport == "websocket"
    elif after in (S.POLLING, S.PROBING, S.UPGRADING):
        assert case.session.transport == "polling"
    closes = 1 if after in (S.CLOSING, S.CLOSED) else 0
    assert len(case.listener.closes) == closes  # on_engine_close once, at the first close


@pytest.mark.parametrize("state", [s for s in S if s is not S.POLLING])
def test_a_probe_is_refused_outside_polling_and_the_state_stays(state):
    case = IN_STATE[state]()
    refusal = case.session.attach_probe(FakeTransport(), T0)
    assert refusal == Refusal(400, "Bad request: the session cannot be upgraded")
    assert case.session.state is state


@pytest.mark.parametrize("state", [s for s in S if s is not S.OPENING])
def test_a_second_handshake_is_a_bug(state):
    case = IN_STATE[state]()
    with pytest.raises(TransitionError, match=f"in state {state.name}"):
        _send_handshake(case)
    assert case.session.state is state


@pytest.mark.parametrize("state", [S.CLOSING, S.CLOSED])
def test_closing_a_closed_session_does_nothing(state):
    case = IN_STATE[state]()
    case.session.close()
    case.session.close(notify=False)
    assert case.session.state is state
    assert len(case.listener.closes) == 1


@pytest.mark.parametrize("state", [s for s in S if s is not S.OPENING])
def test_only_polling_states_take_a_post(state):
    case = IN_STATE[state]()
    refusal = case.session.start_post()
    if state in (S.POLLING, S.PROBING, S.UPGRADING):
        assert refusal is None
    else:
        # engine.io's answers: a transport mismatch, or a session it no longer knows
        closed = state in (S.CLOSING, S.CLOSED)
        assert refusal == Refusal.of(ErrorCode.UNKNOWN_SID if closed else ErrorCode.BAD_REQUEST)

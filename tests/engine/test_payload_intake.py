"""A polling POST body handled a slice at a time (PayloadIntake), and one POST at a time."""

from __future__ import annotations

import pytest

from jupyter_rt.errors import ProtocolError
from jupyter_rt.protocol import engineio
from tests.engine.fakes import T0, get, make_engine, open_polling


def test_a_body_is_handled_in_slices_of_at_most_max_packets():
    engine, listener = make_engine()
    session = open_polling(engine)
    intake = session.payload_intake(b"\x1e".join(b"4%d" % i for i in range(10)), T0)
    assert listener.data() == []  # nothing is decoded up front
    slices = []
    while True:
        more = intake.step(T0, 4)
        slices.append(len(listener.data()))
        if not more:
            break
    assert slices[:2] == [4, 8] and slices[-1] == 10
    assert listener.data() == [str(i) for i in range(10)]
    assert intake.error is None and not session.closed


def test_the_first_error_closes_the_session_and_drops_the_rest():
    engine, listener = make_engine()
    session = open_polling(engine)
    body = b"4a\x1ezz" + b"\x1e4b" * 100_000
    intake = session.payload_intake(body, T0)
    assert not intake.step(T0, 1 << 30)
    assert intake.error is not None and intake.error.status == 400
    assert intake.error.message.startswith("Bad request: ")
    assert session.closed and listener.data() == ["a"]
    assert listener.reasons(session) == ["parse error"]


def test_a_listener_that_closes_the_session_stops_the_body():
    # As the Socket.IO server does on an empty MESSAGE: the rest is never decoded.
    engine, listener = make_engine()
    listener.on_message = lambda session, data: session.close("parse error")
    session = open_polling(engine)
    intake = session.payload_intake(b"4\x1e" * 499_999 + b"4", T0)
    assert not intake.step(T0, 1 << 30)
    assert listener.data() == [""]
    assert intake.error is None  # the POST is answered ok; the next GET gets the CLOSE
    assert get(session) == "1"


def test_size_and_utf8_are_checked_before_any_packet():
    engine, listener = make_engine(max_payload=10)
    session = open_polling(engine)
    intake = session.payload_intake(b"4" * 11, T0)
    assert not intake.step(T0, 100)
    assert intake.error is not None and session.closed and listener.data() == []


def test_a_second_concurrent_post_closes_the_session():
    engine, listener = make_engine()
    session = open_polling(engine)
    assert session.start_post() is None
    assert session.start_post() is not None
    assert session.closed and listener.reasons(session) == ["transport error"]


def test_posts_one_after_the_other_are_fine():
    engine, _ = make_engine()
    session = open_polling(engine)
    for _ in range(3):
        assert session.start_post() is None
        assert session.receive_payload(b"4x", T0) is None
        session.end_post()
    assert not session.closed


def test_split_payload_is_lazy_and_checks_the_whole_body_at_once():
    chunks = engineio.split_payload(b"4a\x1e\x1e4b", max_bytes=100)
    assert next(chunks) == "4a"
    assert list(chunks) == ["", "4b"]
    with pytest.raises(ProtocolError):
        engineio.split_payload(b"4\xff", max_bytes=100)

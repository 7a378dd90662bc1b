"""Limits and errors in handlers answer the client with an error ack; the log stays small."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from jupyter_rt._throttle import LogThrottle
from jupyter_rt.clock import ManualClock
from jupyter_rt.errors import ConnectionRefused, LimitExceeded
from jupyter_rt.server import Server, Socket
from tests.server.fakes import connected, settle

LOG = logging.getLogger("jupyter_rt")
ROOMS_ERROR = '[{"ok":false,"error":"a socket can be in at most 2 rooms"}]'
INTERNAL = '[{"ok":false,"error":"Internal server error"}]'


@pytest.fixture
def io(request: pytest.FixtureRequest, clock: ManualClock) -> Server:
    return Server(connect_timeout=5, clock=clock, **getattr(request, "param", {}))


def records(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


# -- the throttle ------------------------------------------------------------------------------


def test_throttle_logs_once_per_interval_per_key(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(1000.0)
    throttle = LogThrottle(LOG, interval=60, clock=clock.now)
    with caplog.at_level(logging.DEBUG, logger="jupyter_rt"):
        assert throttle.log(logging.WARNING, "a", "A %d", 1)
        assert not throttle.log(logging.WARNING, "a", "A %d", 2)
        assert throttle.log(logging.WARNING, "b", "B")
        clock.advance(59.9)
        assert not throttle.log(logging.WARNING, "a", "A %d", 3)
        clock.advance(0.1)
        assert throttle.log(logging.WARNING, "a", "A %d", 4)
    assert records(caplog) == ["A 1", "B", "A 4 (2 more like it since the last one, not logged)"]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG] == ["A 2", "A 3"]


def test_throttle_forgets_the_oldest_keys_past_max_keys() -> None:
    throttle = LogThrottle(LOG, clock=ManualClock(1000.0).now, max_keys=2)
    assert throttle.allow("a") == 0 and throttle.allow("b") == 0 and throttle.allow("c") == 0
    assert len(throttle._keys) == 2
    assert throttle.allow("a") == 0  # forgotten, so allowed again
    assert throttle.allow("c") is None


def test_held_back_records_carry_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    throttle = LogThrottle(LOG, clock=ManualClock(1000.0).now)
    error = ValueError("x")
    with caplog.at_level(logging.DEBUG, logger="jupyter_rt"):
        throttle.log(logging.ERROR, "k", "first", exc_info=error)
        throttle.log(logging.ERROR, "k", "second", exc_info=error)
    assert [r.exc_info is not None for r in caplog.records] == [True, False]


# -- limits in handlers ------------------------------------------------------------------------


@pytest.mark.parametrize("io", [{"max_rooms_per_socket": 2}], indirect=True)
async def test_a_room_limit_in_a_handler_is_an_error_ack_and_one_warning(
    io: Server, client: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    session, socket = connected(io, client)

    @socket.on("join")
    def join(room: str) -> dict[str, Any]:
        socket.join(room)
        return {"ok": True}

    with caplog.at_level(logging.DEBUG, logger="jupyter_rt"):
        session.receive('21["join","a"]', '22["join","b"]')
        for n in range(3, 53):
            session.receive(f'2{n}["join","r{n}"]')
        session.receive('2["join","no ack asked"]')
    texts = session.texts()
    assert texts[:2] == ['31[{"ok":true}]', '32[{"ok":true}]']
    assert texts[2:] == [f"3{n}{ROOMS_ERROR}" for n in range(3, 53)]
    warnings = records(caplog)
    assert len(warnings) == 1 and "a socket can be in at most 2 rooms" in warnings[0]
    assert "tests.server.test_limits" in warnings[0] and "event join" in warnings[0]
    assert all(r.exc_info is None for r in caplog.records)
    assert socket.rooms == {socket.id, "a", "b"} and not session.closed

    caplog.clear()
    clock.advance(60)
    with caplog.at_level(logging.WARNING, logger="jupyter_rt"):
        session.receive('299["join","c"]')
    assert session.texts()[-1] == "399" + ROOMS_ERROR
    assert len(records(caplog)) == 1 and "50 more like it" in records(caplog)[0]


async def test_limits_of_each_kind_are_logged_once(
    io: Server, client: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    session, socket = connected(io, client)

    @socket.on("long")
    def long_name() -> None:
        socket.join("x" * (io.max_name_length + 1))

    @socket.on("mine")
    async def mine() -> None:
        await settle(1)
        raise LimitExceeded("too many widgets", kind="widgets")

    with caplog.at_level(logging.WARNING, logger="jupyter_rt"):
        for n in range(1, 6):
            session.receive(f'2{n}["long"]', f'2{n}0["mine"]')
        await settle()
    name_error = '[{"ok":false,"error":"room name longer than 256 characters"}]'
    widget_error = '[{"ok":false,"error":"too many widgets"}]'
    assert sorted(session.texts()) == sorted(
        [f"3{n}{name_error}" for n in range(1, 6)] + [f"3{n}0{widget_error}" for n in range(1, 6)]
    )
    assert len(records(caplog)) == 2


async def test_an_explicit_ack_handler_that_raises_is_acked_once(
    io: Server, client: Any, clock: ManualClock
) -> None:
    session, socket = connected(io, client)

    @socket.on("early")
    def early(*, ack: Any) -> None:
        raise LimitExceeded("no", kind="k")

    @socket.on("late")
    def late(*, ack: Any) -> None:
        ack("done")
        raise RuntimeError("after the ack")

    session.receive('21["early"]', '22["late"]')
    assert session.texts() == ['31[{"ok":false,"error":"no"}]', '32["done"]']


# -- other errors ------------------------------------------------------------------------------


async def test_other_errors_are_logged_with_traceback_once_per_handler(
    io: Server, client: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    session, socket = connected(io, client)

    @socket.on("sync")
    def sync_boom() -> None:
        raise KeyError("secret")

    @socket.on("async")
    async def async_boom() -> None:
        raise ValueError("kaput")

    with caplog.at_level(logging.WARNING, logger="jupyter_rt"):
        for n in range(1, 21):
            session.receive(f'2{n}["sync"]', f'2{n}0["async"]', '2["sync"]')
        await settle()
    assert sorted(session.texts()) == sorted(
        [f"3{n}{INTERNAL}" for n in range(1, 21)] + [f"3{n}0{INTERNAL}" for n in range(1, 21)]
    )
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 2 and all(r.exc_info for r in errors)
    assert {r.getMessage().split(" (")[0].rsplit(".", 1)[1] for r in errors} == {
        "sync_boom",
        "async_boom",
    }
    assert "secret" not in "".join(r.getMessage() for r in errors)  # only in the traceback


async def test_connection_handler_and_middleware_errors_are_throttled(
    io: Server, client: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    nsp = io.of("/x")

    @nsp.use
    def guard(socket: Socket) -> None:
        if socket.handshake.auth.get("bad"):
            raise RuntimeError("middleware bug")

    @nsp.on("connection")
    def broken(socket: Socket) -> None:
        raise RuntimeError("connection bug")

    with caplog.at_level(logging.WARNING, logger="jupyter_rt"):
        for _ in range(10):
            assert client().connect("/x") is not None
            refused = client()
            refused.connect("/x", {"bad": True})
            assert refused.packets()[-1].data == {"message": "Internal server error"}
    messages = records(caplog)
    assert len(messages) == 2
    assert any("middleware" in m and "guard" in m for m in messages)
    assert any("connection handler" in m and "broken" in m for m in messages)

    @io.of("/y").on("connection")
    def refuse(socket: Socket) -> None:
        raise ConnectionRefused("go away")

    session = client()
    session.connect("/y")
    assert session.packets()[-1].type.name == "DISCONNECT"  # still a refusal, not an error

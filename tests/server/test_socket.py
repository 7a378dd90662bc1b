"""Per-packet middleware, ``socket.use``: it sees ``[event, *args]`` before any handler, may
change it, and refuses an event by raising (the exception goes to the ``error`` handlers)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from jupyter_rt.errors import ConnectionRefused
from jupyter_rt.server import Server
from tests.server.fakes import FakeSession, connected, settle


async def test_middleware_sees_each_event_before_its_handlers(io: Server, client: Any) -> None:
    session, socket = connected(io, client)
    seen: list[Any] = []
    socket.use(lambda packet: seen.append(("use", list(packet))))
    socket.on_any(lambda *packet: seen.append(("any", list(packet))))
    socket.on("add", lambda a, b: a + b)
    session.receive('21["add",1,2]', '2["add",3,4]')
    assert seen == [
        ("use", ["add", 1, 2]),
        ("any", ["add", 1, 2]),
        ("use", ["add", 3, 4]),
        ("any", ["add", 3, 4]),
    ]
    assert session.texts() == ["31[3]"]


async def test_middleware_may_change_the_arguments(io: Server, client: Any) -> None:
    session, socket = connected(io, client)

    @socket.use
    def trim(packet: list[Any]) -> None:
        packet[1:] = [arg.strip() if isinstance(arg, str) else arg for arg in packet[1:]]

    socket.on("say", lambda text: text)
    session.receive('21["say","  hi  "]')
    assert session.texts() == ['31["hi"]']


async def test_a_refused_event_reaches_the_error_handlers_only(io: Server, client: Any) -> None:
    session, socket = connected(io, client)
    errors: list[BaseException] = []
    handled: list[str] = []

    @socket.use
    def authorize(packet: list[Any]) -> None:
        if packet[0] == "delete":
            raise ConnectionRefused("not allowed")

    socket.on("error", errors.append)
    socket.on_any(lambda event, *args: handled.append("any " + event))
    socket.on("delete", lambda: handled.append("delete"))
    socket.on("read", lambda: "contents")
    session.receive('21["delete"]', '22["read"]')
    assert handled == ["any read"]
    assert [str(e) for e in errors] == ["not allowed"]
    assert isinstance(errors[0], ConnectionRefused)
    assert session.texts() == ['32["contents"]']  # no ack for the refused one, as in Node
    assert socket.connected  # refusing an event is not a disconnect (the app may do it)


async def test_middlewares_run_in_order_and_stop_at_the_first_refusal(
    io: Server, client: Any
) -> None:
    session, socket = connected(io, client)
    ran: list[str] = []

    def first(packet: list[Any]) -> None:
        ran.append("first")
        if packet[1] == "no":
            raise ValueError("refused by first")

    def second(packet: list[Any]) -> None:
        ran.append("second")

    socket.use(first)
    socket.use(second)
    socket.on("error", lambda exc: ran.append(f"error: {exc}"))
    socket.on("e", lambda arg: ran.append(f"handler {arg}"))
    session.receive('2["e","yes"]', '2["e","no"]')
    assert ran == ["first", "second", "handler yes", "first", "error: refused by first"]


async def test_async_middleware_keeps_the_events_in_order(io: Server, client: Any) -> None:
    session, socket = connected(io, client)
    order: list[Any] = []

    @socket.use
    async def rate_limit(packet: list[Any]) -> None:
        await asyncio.sleep(0.02 if packet[1] == 0 else 0)  # a slow lookup for the first one
        if packet[1] == 2:
            raise ConnectionRefused("over the limit")

    socket.on("error", lambda exc: order.append(str(exc)))
    socket.on("n", lambda n: order.append(n))
    session.receive('2["n",0]', '2["n",1]', '2["n",2]', '2["n",3]')
    assert order == []  # all wait behind the first one's middleware
    await asyncio.sleep(0.05)
    assert order == [0, 1, "over the limit", 3]


async def test_events_queued_during_the_connection_handlers_pass_the_middleware(
    io: Server, client: Any
) -> None:
    seen: list[Any] = []
    ready = asyncio.Event()

    @io.on("connection")
    async def on_connection(socket: Any) -> None:
        socket.use(lambda packet: seen.append(("use", packet[0])))
        await ready.wait()  # say, a database lookup before the handlers exist
        socket.on("early", lambda: seen.append("early"))

    session = client()
    session.connect("/")
    session.receive('2["early"]', '2["early"]')
    await settle()
    assert seen == []
    ready.set()
    await settle()
    assert seen == [("use", "early"), "early", ("use", "early"), "early"]


async def test_a_refusal_without_an_error_handler_is_logged_once_a_minute(
    io: Server, client: Any, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    session, socket = connected(io, client)

    def deny(packet: list[Any]) -> None:
        raise ConnectionRefused("nope")

    socket.use(deny)
    socket.on("e", lambda: pytest.fail("the handler ran"))
    with caplog.at_level(logging.INFO, logger="jupyter_rt"):
        session.receive('2["e"]', '2["e"]')
    lines = [r for r in caplog.records if "refused event e" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert "deny" in lines[0].getMessage() and "nope" in lines[0].getMessage()


async def test_a_middleware_that_breaks_is_logged_with_its_traceback(
    io: Server, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    session, socket = connected(io, client)

    @socket.use
    def broken(packet: list[Any]) -> None:
        raise KeyError("user")

    socket.on("e", lambda: pytest.fail("the handler ran"))
    with caplog.at_level(logging.ERROR, logger="jupyter_rt"):
        session.receive('21["e"]')
    assert "per-packet middleware" in caplog.text and "KeyError" in caplog.text
    assert session.texts() == [] and not session.closed


async def test_a_middleware_must_leave_an_event_name(io: Server, client: Any) -> None:
    session, socket = connected(io, client)
    errors: list[BaseException] = []
    socket.use(lambda packet: packet.clear())
    socket.on("error", errors.append)
    socket.on("e", lambda: pytest.fail("the handler ran"))
    session.receive('2["e"]')
    assert [type(e) for e in errors] == [TypeError]


async def test_a_disconnect_during_an_async_middleware_waits_for_the_event(
    io: Server, client: Any
) -> None:
    session, socket = connected(io, client)
    order: list[str] = []
    release = asyncio.Event()

    @socket.use
    async def slow(packet: list[Any]) -> None:
        await release.wait()

    socket.on("e", lambda: order.append("e"))
    socket.on("disconnect", lambda reason: order.append(reason))
    session.receive('2["e"]')
    session.close("transport close")
    await settle()
    assert order == []
    release.set()
    await settle()
    assert order == ["e", "transport close"]  # the event came first, as it was sent


async def test_events_held_behind_an_async_middleware_are_bounded() -> None:
    io = Server(max_queued_events=3)
    session, socket = connected(io, lambda: FakeSession(io).open())

    @socket.use
    async def never(packet: list[Any]) -> None:
        await asyncio.Event().wait()

    session.receive('2["e"]', '2["e"]', '2["e"]', '2["e"]')
    assert not session.closed
    session.receive('2["e"]')
    assert session.closed and session.close_reason == "parse error"

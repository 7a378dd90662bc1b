"""Namespace CONNECT, middleware, connection handlers, connect timeout."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import pytest

from jupyter_rt.engine import Engine
from jupyter_rt.errors import ConnectionRefused
from jupyter_rt.protocol.socketio import PacketType
from jupyter_rt.server import Server, Socket
from tests.engine.fakes import T0, Poll, open_polling
from tests.server.fakes import FakeSession, settle


async def test_connect_to_main_namespace_replies_with_a_socket_id(io: Server, client: Any) -> None:
    seen: list[Socket] = []
    io.on("connection", seen.append)
    session = client()
    sid = session.connect()
    assert session.texts() == [f'0{{"sid":"{sid}"}}']
    assert sid is not None and len(sid) == 20 and sid != session.sid
    assert [s.id for s in seen] == [sid]
    assert seen[0].connected and seen[0].nsp is io.sockets


@pytest.mark.parametrize("frame", ["0/custom,", "0/custom", '0/custom,{"token":"t"}'])
async def test_connect_forms(io: Server, client: Any, frame: str) -> None:
    auths: list[Any] = []
    io.of("/custom").on("connection", lambda s: auths.append(dict(s.handshake.auth)))
    session = client()
    session.receive(frame)
    [packet] = session.packets()
    assert packet.type == PacketType.CONNECT and packet.nsp == "/custom"
    assert session.texts()[0].startswith('0/custom,{"sid":"')
    assert auths == [{"token": "t"} if "token" in frame else {}]


async def test_unknown_namespace_gets_invalid_namespace(io: Server, client: Any) -> None:
    session = client()
    session.receive("0/random,")
    assert session.texts() == ['4/random,{"message":"Invalid namespace"}']
    assert not session.closed
    assert "/random" not in io.namespaces


async def test_handshake_carries_engine_request_and_auth(io: Server, client: Any) -> None:
    sockets: list[Socket] = []
    io.on("connection", sockets.append)
    session = client(query={"room": "a"}, headers={"origin": "http://x"}, user={"username": "u"})
    session.connect(auth={"token": "abc"})
    hs = sockets[0].handshake
    assert hs.auth == {"token": "abc"}
    assert hs.query == {"room": "a"}
    assert hs.headers["origin"] == "http://x" and hs.xdomain
    assert hs.user == {"username": "u"}
    assert hs.address == "127.0.0.1"
    assert hs.issued == 1_700_000_000_000 and hs.time.startswith("2023-11-14T22:13:20")
    assert sockets[0].transport == "websocket" and sockets[0].conn is session


async def test_events_emitted_by_connection_handler_follow_the_connect_reply(
    io: Server, client: Any
) -> None:
    @io.on("connection")
    def sync_handler(socket: Socket) -> None:
        socket.emit("hello", 1)

    chat = io.of("/chat")

    @chat.on("connection")
    async def async_handler(socket: Socket) -> None:
        await socket.emit("hello", 2)

    session = client()
    session.connect()
    session.connect("/chat")
    await settle()
    kinds = [
        (p.type, p.nsp, p.data if p.type == PacketType.EVENT else None) for p in session.packets()
    ]
    assert kinds == [
        (PacketType.CONNECT, "/", None),
        (PacketType.EVENT, "/", ["hello", 1]),
        (PacketType.CONNECT, "/chat", None),
        (PacketType.EVENT, "/chat", ["hello", 2]),
    ]


async def test_events_during_async_connection_handler_reach_handlers_it_registers(
    io: Server, client: Any
) -> None:
    got: list[Any] = []
    gate = asyncio.Event()

    @io.on("connection")
    async def on_connection(socket: Socket) -> None:
        await gate.wait()  # e.g. a database lookup before registering handlers

        @socket.on("early")
        def early(*args: Any) -> Any:
            got.append(args)
            return "ok"

    session = client()
    session.connect()
    session.receive('2["early",1]', '25["early",2]')
    await settle()
    assert got == []
    gate.set()
    await settle()
    assert got == [(1,), (2,)]
    assert session.texts()[-1] == '35["ok"]'


async def test_event_with_registered_handler_is_not_held_by_a_slow_connection_handler(
    io: Server, client: Any
) -> None:
    got: list[Any] = []
    gate = asyncio.Event()

    @io.on("connection")
    async def on_connection(socket: Socket) -> None:
        socket.on("ping", lambda *a: got.append(("ping", *a)))
        await gate.wait()
        socket.on("late", lambda *a: got.append(("late", *a)))

    session = client()
    session.connect()
    session.receive('2["ping",1]')
    await settle()
    assert got == [("ping", 1)]
    session.receive('2["late",1]', '2["ping",2]')  # order kept: ping 2 waits behind late
    await settle()
    assert got == [("ping", 1)]
    gate.set()
    await settle()
    assert got == [("ping", 1), ("late", 1), ("ping", 2)]


async def test_client_leaving_during_async_connection_handler_still_reaches_late_handlers(
    io: Server, client: Any
) -> None:
    got: list[Any] = []
    gate = asyncio.Event()

    @io.on("connection")
    async def on_connection(socket: Socket) -> None:
        socket.on("disconnecting", lambda reason: got.append(("early-disconnecting", reason)))
        await gate.wait()
        socket.on("record", lambda *args: got.append(("record", *args)))
        socket.on("disconnecting", lambda reason: got.append(("disconnecting", reason)))
        socket.on("disconnect", lambda reason: got.append(("disconnect", reason)))

    session = client()
    session.connect()
    await settle()  # the handler waits at the gate
    session.receive('2["record",1]', '21["record",2]', "1")
    await settle()
    assert got == [("early-disconnecting", "client namespace disconnect")]
    assert io.sockets.sockets == {} and io.rooms == {"": []}
    gate.set()
    await settle()
    assert got[1:] == [
        ("record", 1),
        ("record", 2),
        ("disconnecting", "client namespace disconnect"),
        ("disconnect", "client namespace disconnect"),
    ]
    assert session.texts()[1:] == []  # no ack for a socket that left


async def test_events_sent_before_async_middleware_finishes_are_kept(
    io: Server, client: Any
) -> None:
    gate = asyncio.Event()
    got: list[Any] = []

    @io.use
    async def slow(socket: Socket) -> None:
        await gate.wait()

    io.on("connection", lambda s: s.on("x", got.append))
    session = client()
    session.connect()
    session.receive('2["x",1]')
    await settle()
    assert session.texts() == []
    gate.set()
    await settle()
    assert session.texts()[0].startswith('0{"sid"')
    assert got == [1]


async def test_middleware_refuses_with_message_and_data(io: Server, client: Any) -> None:
    order: list[str] = []

    @io.use
    def first(socket: Socket) -> None:
        order.append("first")
        socket.data["user"] = socket.handshake.auth.get("user")

    @io.use
    async def second(socket: Socket) -> None:
        order.append("second")
        if socket.data["user"] != "alice":
            raise ConnectionRefused("not authorized", {"code": 4001})

    connected: list[Socket] = []
    io.on("connection", connected.append)

    bad = client()
    bad.connect(auth={"user": "bob"})
    await settle()
    assert bad.texts() == ['4{"message":"not authorized","data":{"code":4001}}']
    assert connected == [] and not bad.closed

    good = client()
    sid = good.connect(auth={"user": "alice"})
    await settle()
    sid = good.connect()  # the reply came after the async middleware
    assert sid is not None and [s.id for s in connected] == [sid]
    assert connected[0].data == {"user": "alice"}
    assert order == ["first", "second", "first", "second"]


async def test_middleware_chain_stops_when_the_client_leaves(io: Server, client: Any) -> None:
    gate = asyncio.Event()
    ran: list[str] = []

    @io.use
    async def slow(socket: Socket) -> None:
        await gate.wait()

    @io.use
    def after(socket: Socket) -> None:
        ran.append(socket.id)

    io.of(re.compile(r"/d\d")).use(slow)
    session = client()
    session.connect()
    session.receive("0/d1,")
    session.close("transport close")
    gate.set()
    await settle()
    assert ran == [] and io.sockets.sockets == {}
    assert "/d1" not in io.namespaces


async def test_unserialisable_refusal_data_still_refuses(io: Server, client: Any) -> None:
    def refuse(socket: Socket) -> None:
        raise ConnectionRefused("nope", {1, 2})

    io.use(refuse)
    session = client()
    session.connect()
    assert session.texts() == ['4{"message":"nope"}']


async def test_middleware_error_refuses_without_leaking_it(
    io: Server, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(socket: Socket) -> None:
        raise RuntimeError("secret detail")

    io.of("/x").use(broken)
    session = client()
    with caplog.at_level(logging.ERROR, logger="jupyter_rt"):
        session.receive("0/x,")
    assert session.texts() == ['4/x,{"message":"Internal server error"}']
    assert "secret detail" in caplog.text


async def test_refusal_without_data_leaves_data_out(io: Server, client: Any) -> None:
    def refuse(socket: Socket) -> None:
        raise ConnectionRefused("go away")

    io.use(refuse)
    session = client()
    session.connect()
    assert session.texts() == ['4{"message":"go away"}']


async def test_io_use_guards_the_main_namespace_only(io: Server, client: Any) -> None:
    def refuse(socket: Socket) -> None:
        raise ConnectionRefused("no")

    io.use(refuse)
    io.of("/open")
    session = client()
    assert session.connect("/open") is not None
    assert session.connect() is None


async def test_connection_handler_raising_refused_disconnects(io: Server, client: Any) -> None:
    reasons: list[str] = []

    @io.on("connection")
    def handler(socket: Socket) -> None:
        socket.on("disconnect", reasons.append)
        raise ConnectionRefused("later")

    session = client()
    session.connect()
    assert session.texts()[1] == "1"
    assert reasons == ["server namespace disconnect"]
    assert io.sockets.sockets == {}


async def test_duplicate_connect_is_ignored(io: Server, client: Any) -> None:
    count: list[Socket] = []
    io.on("connection", count.append)
    session = client()
    session.connect()
    session.connect()
    assert len(count) == 1 and len(session.texts()) == 1


async def test_connect_timeout_is_a_session_deadline_until_the_first_connect(
    io: Server, client: Any
) -> None:
    session = client()
    assert session.deadline == (5, "forced close")
    session.receive("0/nowhere,")  # refused: still no namespace
    assert session.deadline == (5, "forced close")
    session.connect()
    assert session.deadline is None
    silent = client()
    silent.expire()
    assert silent.closed and silent.close_reason == "forced close" and silent.close_notify
    assert list(io._clients) == [session.sid]


async def test_connect_timeout_waits_for_a_middleware_that_has_not_finished(
    io: Server, client: Any
) -> None:
    gate = asyncio.Event()

    async def slow(socket: Socket) -> None:
        await gate.wait()

    io.use(slow)
    session = client()
    session.receive("0")
    await settle()
    assert session.deadline is not None  # a namespace is connected once middleware lets it
    gate.set()
    await settle()
    assert session.deadline is None and len(io.sockets.sockets) == 1


# The connect timeout with the real engine and a fake clock: only the engine's timer runs.


async def test_connect_timeout_fires_from_the_engine_timer_alone() -> None:
    io = Server(connect_timeout=5)
    engine = Engine(io, ping_interval=25, ping_timeout=20)
    silent = open_polling(engine)
    talker = open_polling(engine)
    assert engine.next_deadline() == T0 + 5
    assert talker.receive_payload(b"40", T0 + 1) is None
    poll = Poll(silent)
    engine.tick(T0 + 4.99)
    assert not silent.closed
    engine.tick(T0 + 5)
    assert silent.closed and poll.take() == "1"
    assert engine.find(silent.sid, None).status == 400  # no drain: forgotten at once
    assert not talker.closed and list(io._clients) == [talker.sid]
    assert engine.next_deadline() == T0 + 25


async def test_silent_sessions_leave_nothing_behind_after_the_connect_timeout() -> None:
    io = Server(connect_timeout=5)
    engine = Engine(io, ping_interval=25, ping_timeout=20)
    sessions = [open_polling(engine, now=T0 + i * 1e-3) for i in range(500)]
    sessions[0].receive_payload(b"40/nowhere,", T0 + 1)  # refused: no namespace either
    engine.tick(T0 + 6)
    assert engine.sessions == {} and io._clients == {}
    assert engine.next_deadline() is None
    assert len(engine._timers) <= 33  # stale entries are swept in bulk
    assert all(engine.find(s.sid, None).status == 400 for s in sessions)


async def test_dynamic_namespace_by_pattern(io: Server, client: Any) -> None:
    parent = io.of(re.compile(r"/dyn-\d+"))
    joined: list[str] = []
    parent.on("connection", lambda s: joined.append(s.nsp.name))
    session = client()
    assert session.connect("/dyn-12") is not None
    session.receive("0/dyn-12x,")
    assert session.texts()[-1] == '4/dyn-12x,{"message":"Invalid namespace"}'
    assert joined == ["/dyn-12"]
    assert io.of(re.compile(r"/dyn-\d+")) is parent
    await parent.emit("all", 1)
    assert session.events("/dyn-12") == [["all", 1]]


async def test_dynamic_namespace_middleware_applies_to_children(io: Server, client: Any) -> None:
    parent = io.of(lambda name: name.startswith("/doc-"))

    @parent.use
    def refuse(socket: Socket) -> None:
        raise ConnectionRefused("locked", {"doc": socket.nsp.name})

    session = client()
    session.receive("0/doc-a,")
    assert session.texts() == ['4/doc-a,{"message":"locked","data":{"doc":"/doc-a"}}']
    assert "/doc-a" not in io.namespaces  # refused child cleaned up


async def test_empty_dynamic_children_are_cleaned_up(io: Server, client: Any) -> None:
    parent = io.of(re.compile(r"/room-\w+"))
    a, b = client(), client()
    a.connect("/room-x")
    b.connect("/room-x")
    child = io.namespaces["/room-x"]
    assert parent.children == {child}
    a.receive("1/room-x,")
    assert "/room-x" in io.namespaces
    b.close("transport close")
    assert "/room-x" not in io.namespaces and parent.children == set()


async def test_dynamic_children_can_be_kept(client: Any) -> None:
    io = Server(cleanup_empty_child_namespaces=False)
    io.of(re.compile(r"/k-\d"))
    session = FakeSession(io).open()
    session.connect("/k-1")
    session.receive("1/k-1,")
    assert "/k-1" in io.namespaces


async def test_dynamic_namespace_limit() -> None:
    io = Server(max_dynamic_namespaces=2)
    io.of(re.compile(r"/n\d"))
    session = FakeSession(io).open()
    for name in ("/n1", "/n2", "/n3"):
        session.receive(f"0{name},")
    replies = [json.loads(t.split(",", 1)[1]) for t in session.texts()]
    assert "sid" in replies[0] and "sid" in replies[1]
    assert replies[2] == {"message": "Invalid namespace"}


async def test_of_adds_the_leading_slash(io: Server) -> None:
    assert io.of("chat") is io.of("/chat")


async def test_namespaces_per_client_limit() -> None:
    io = Server(max_namespaces_per_client=2)
    io.of(re.compile(r"/n\d"))
    session = FakeSession(io).open()
    other = FakeSession(io).open()
    for name in ("/n1", "/n2", "/n3"):
        session.receive(f"0{name},")
    assert session.texts()[2] == '4/n3,{"message":"Too many namespaces"}'
    assert "/n3" not in io.namespaces
    session.receive("1/n1,")
    assert session.connect("/n3") is not None
    assert other.connect("/n1") is not None

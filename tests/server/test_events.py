"""Events and acknowledgements in both directions, binary, catch-all and volatile emits."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from jupyter_rt.clock import ManualClock
from jupyter_rt.errors import AckTimeout, NotConnected
from jupyter_rt.protocol.socketio import PacketType
from jupyter_rt.server import Server
from tests.server.fakes import connected, settle


async def test_handler_gets_args_and_its_return_value_is_the_ack(io: Server, client: Any) -> None:
    session, socket = connected(io, client)
    socket.on("add", lambda a, b: a + b)
    socket.on("pair", lambda: ("x", 2))
    socket.on("nothing", lambda: None)
    session.receive('21["add",1,2]', '22["pair"]', '23["nothing"]', '2["add",5,5]')
    assert session.texts() == ["31[3]", '32["x",2]', "33[]"]


async def test_async_handler_ack_and_echo(io: Server, client: Any) -> None:
    session, socket = connected(io, client)

    @socket.on("echo")
    async def echo(*args: Any) -> Any:
        await asyncio.sleep(0)
        return args

    session.receive('27["echo","a",{"b":[1,null]},true]')
    await settle()
    assert session.texts() == ['37["a",{"b":[1,null]},true]']


async def test_acks_in_a_custom_namespace(io: Server, client: Any) -> None:
    session, socket = connected(io, client, "/chat")
    socket.on("q", lambda: "a")
    session.receive('2/chat,12["q"]')
    assert session.texts() == ['3/chat,12["a"]']


async def test_handler_error_is_logged_and_acked_as_an_internal_error(
    io: Server, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    session, socket = connected(io, client)

    @socket.on("boom")
    def boom() -> None:
        raise ValueError("kaput")

    socket.on("ok", lambda: 1)
    with caplog.at_level(logging.ERROR, logger="jupyter_rt"):
        session.receive('21["boom"]', '22["boom",1,2,3]', '23["ok"]')
    internal = '[{"ok":false,"error":"Internal server error"}]'
    assert session.texts() == ["31" + internal, "32" + internal, "33[1]"]
    assert "kaput" in caplog.text and not session.closed


async def test_unserialisable_ack_is_logged(
    io: Server, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    session, socket = connected(io, client)
    socket.on("bad", lambda: {1, 2})
    with caplog.at_level(logging.ERROR, logger="jupyter_rt"):
        session.receive('21["bad"]')
    assert session.texts() == [] and "ack" in caplog.text


async def test_several_handlers_all_run_and_the_first_acks(io: Server, client: Any) -> None:
    session, socket = connected(io, client)
    seen: list[str] = []

    @socket.on("e")
    def first() -> str:
        seen.append("a")
        return "first"

    @socket.on("e")
    def second() -> str:
        seen.append("b")
        return "second"

    session.receive('21["e"]')
    assert seen == ["a", "b"] and session.texts() == ['31["first"]']
    socket.off("e")
    session.receive('22["e"]')
    assert seen == ["a", "b"]


async def test_handler_with_an_ack_parameter_acknowledges_when_it_likes(
    io: Server, client: Any
) -> None:
    session, socket = connected(io, client)
    later: list[Any] = []

    @socket.on("job")
    def job(spec: Any, *, ack: Any) -> str:
        later.append(ack)
        return "ignored"

    class Worker:
        def run(self, *args: Any, ack: Any) -> None:
            ack("done", *args)
            ack("twice")  # only the first call counts

    socket.on("run", Worker().run)
    session.receive('21["job",{"n":1}]', '2["job",2]', '22["run",7]')
    assert session.texts() == ['32["done",7]']
    later[0]({"result": 1})
    later[1]("no ack was asked")
    assert session.texts()[1:] == ['31[{"result":1}]']


async def test_emit_to_client(io: Server, client: Any) -> None:
    session, socket = connected(io, client)
    result = socket.emit("news", {"a": 1}, "x\x1ey", "é")
    await result  # awaiting is optional
    assert session.texts() == ['2["news",{"a":1},"x\\u001ey","é"]']


async def test_emit_binary(io: Server, client: Any) -> None:
    session, socket = connected(io, client, "/b")
    socket.emit("bin", {"data": b"\x00\x01"}, bytearray(b"xy"))
    assert session.frames() == [
        '52-/b,["bin",{"data":{"_placeholder":true,"num":0}},{"_placeholder":true,"num":1}]',
        b"\x00\x01",
        b"xy",
    ]


async def test_binary_event_from_client_with_binary_ack(io: Server, client: Any) -> None:
    session, socket = connected(io, client)
    socket.on("up", lambda blob, meta: (len(blob), blob[::-1]))
    session.receive('51-3["up",{"_placeholder":true,"num":0},{"n":1}]')
    assert session.texts() == []
    session.receive(b"abc")
    assert session.frames() == ['61-3[3,{"_placeholder":true,"num":0}]', b"cba"]
    [packet] = session.packets()
    assert packet.type == PacketType.BINARY_ACK and packet.data == [3, b"cba"]


async def test_reserved_event_names_cannot_be_emitted(io: Server, client: Any) -> None:
    _session, socket = connected(io, client)
    for name in ("connect", "disconnect", "disconnecting", "newListener"):
        with pytest.raises(ValueError):
            socket.emit(name)
    with pytest.raises(TypeError):
        socket.emit(3)  # type: ignore[arg-type]


async def test_call_returns_the_ack_value(io: Server, client: Any) -> None:
    session, socket = connected(io, client)
    one = asyncio.ensure_future(socket.call("q", 1, timeout=1))
    several = asyncio.ensure_future(socket.call("q", 2, timeout=1))
    none = asyncio.ensure_future(socket.call("q", 3))
    await settle()
    ids = [p.id for p in session.packets()]
    assert [p.data for p in session.packets()] == [["q", 1], ["q", 2], ["q", 3]]
    assert None not in ids and len(set(ids)) == 3
    session.receive(f'3{ids[0]}["yes"]', f'3{ids[1]}["a",2]', f"3{ids[2]}[]")
    assert await one == "yes"
    assert await several == ("a", 2)
    assert await none is None


async def test_call_times_out_on_the_server_clock(
    io: Server, client: Any, clock: ManualClock
) -> None:
    session, socket = connected(io, client)
    pending = asyncio.ensure_future(socket.call("q", timeout=5))
    await settle()
    clock.advance(4.9)
    await settle()
    assert not pending.done()
    clock.advance(0.1)
    with pytest.raises(AckTimeout, match="within 5 s"):
        await pending
    assert clock.pending == 0
    [packet] = session.packets()
    session.receive(f"3{packet.id}[1]")  # a late ack is ignored
    assert socket._acks == {}


async def test_call_fails_when_the_socket_disconnects(io: Server, client: Any) -> None:
    session, socket = connected(io, client)
    pending = asyncio.ensure_future(socket.call("q", timeout=5))
    await settle()
    session.close("transport close")
    with pytest.raises(NotConnected):
        await pending
    with pytest.raises(NotConnected):
        await socket.call("q")


async def test_emit_with_callback(io: Server, client: Any) -> None:
    session, socket = connected(io, client)
    got: list[Any] = []
    socket.emit("q", callback=lambda *args: got.append(args))

    async def async_cb(*args: Any) -> None:
        got.append(("async", *args))

    socket.emit("q", callback=async_cb)
    first, second = session.packets()
    session.receive(f'3{second.id}["b"]', f'3{first.id}["a",1]', f'3{first.id}["dup"]')
    await settle()
    # In the order the acks came: an async callback runs at once, up to its first await.
    assert got == [("async", "b"), ("a", 1)]


async def test_unknown_ack_ids_are_ignored(io: Server, client: Any) -> None:
    session, _socket = connected(io, client)
    session.receive("399[1]")
    assert not session.closed


async def test_on_any_sees_every_event_first(io: Server, client: Any) -> None:
    session, socket = connected(io, client)
    seen: list[Any] = []
    socket.on_any(lambda event, *args: seen.append(("any", event, *args)))
    socket.on("a", lambda x: seen.append(("a", x)))
    session.receive('2["a",1]', '2["unhandled",2]')
    assert seen == [("any", "a", 1), ("a", 1), ("any", "unhandled", 2)]
    socket.off_any()
    session.receive('2["a",3]')
    assert seen[-1] == ("a", 3)


async def test_events_for_unconnected_namespace_are_dropped(io: Server, client: Any) -> None:
    session, _socket = connected(io, client)
    io.of("/other")
    session.receive('2/other,["x"]')
    assert not session.closed and session.texts() == []


async def test_volatile_emit_is_dropped_when_not_writable(io: Server, client: Any) -> None:
    session, socket = connected(io, client)
    session.writable = False
    socket.volatile.emit("tick", 1)
    io.volatile.emit("tick", 2)
    io.emit("tick", 3)
    session.writable = True
    socket.volatile.emit("tick", 4)
    assert session.events() == [["tick", 3], ["tick", 4]]


async def test_send_is_message_event(io: Server, client: Any) -> None:
    session, socket = connected(io, client)
    socket.send("hi")
    assert session.events() == [["message", "hi"]]

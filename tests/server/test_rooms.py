"""Rooms, broadcasts, io.rooms, fetch_sockets and the operations on selections."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyter_rt.clock import ManualClock
from jupyter_rt.errors import AckTimeout, LimitExceeded
from jupyter_rt.server import RemoteSocket, Server, Socket
from tests.server.fakes import FakeSession, settle


class Room:
    """Three clients a, b, c on ``/``; a and b in "Lobby"; c also on ``/chat`` in "Cellar"."""

    def __init__(self, io: Server) -> None:
        self.io = io
        self.sockets: dict[str, Socket] = {}
        self.sessions: dict[str, FakeSession] = {}
        io.on("connection", self._store)
        io.of("/chat").on("connection", self._store)
        for name in "abc":
            session = FakeSession(io).open()
            session.connect(auth={"name": name})
            self.sessions[name] = session
        self.c_chat = self._last
        self.sessions["c"].connect("/chat", auth={"name": "c"})
        self.c_chat = self._last
        self["a"].join("Lobby")
        self["b"].join(["Lobby", "Kitchen"])
        self.c_chat.join("Cellar")
        for session in self.sessions.values():
            session.clear()

    def _store(self, socket: Socket) -> None:
        self._last = socket
        if socket.nsp.name == "/":
            self.sockets[socket.handshake.auth["name"]] = socket

    def __getitem__(self, name: str) -> Socket:
        return self.sockets[name]

    def got(self, name: str, nsp: str = "/") -> list[list[Any]]:
        return self.sessions[name].events(nsp)

    def who_got(self, event: str) -> str:
        return "".join(n for n in "abc" if any(e[0] == event for e in self.got(n)))


@pytest.fixture
async def room(io: Server) -> Room:
    return Room(io)


async def test_rooms_of_a_socket(room: Room) -> None:
    assert room["b"].rooms == {room["b"].id, "Lobby", "Kitchen"}
    room["b"].leave("Kitchen")
    assert room["b"].rooms == {room["b"].id, "Lobby"}


async def test_broadcast_selections(room: Room) -> None:
    io = room.io
    await io.emit("all")
    await io.to("Lobby").emit("lobby")
    await io.in_("Kitchen").to("Lobby").emit("union")
    await io.except_("Kitchen").emit("not-kitchen")
    await io.to("Lobby").except_(room["a"].id).emit("lobby-not-a")
    await io.to("nobody").emit("empty")
    await room["a"].broadcast.emit("from-a")
    await room["a"].to("Lobby").emit("a-to-lobby")
    await room["c"].except_("Lobby").emit("c-except-lobby")
    assert room.who_got("all") == "abc"
    assert room.who_got("lobby") == "ab"
    assert room.who_got("union") == "ab"
    assert room.who_got("not-kitchen") == "ac"
    assert room.who_got("lobby-not-a") == "b"
    assert room.who_got("empty") == ""
    assert room.who_got("from-a") == "bc"
    assert room.who_got("a-to-lobby") == "b"
    assert room.who_got("c-except-lobby") == ""
    assert room.got("c", "/chat") == []


async def test_namespace_broadcasts_stay_in_the_namespace(room: Room) -> None:
    await room.io.of("/chat").to("Cellar").emit("down", 1)
    assert room.got("c", "/chat") == [["down", 1]]
    assert room.got("c") == []


async def test_a_broadcast_is_encoded_once(room: Room) -> None:
    await room.io.emit("x", b"\x01", {"big": "y" * 100})
    batches = [s.batches[-1] for s in room.sessions.values()]
    assert batches[0] is batches[1] is batches[2]
    assert batches[0][1] == b"\x01"


async def test_operators_are_immutable(room: Room) -> None:
    base = room.io.to("Lobby")
    narrowed = base.except_(room["a"].id)
    await base.emit("base")
    assert room.who_got("base") == "ab"
    assert narrowed is not base


async def test_io_rooms_in_the_talk_format(room: Room) -> None:
    rooms = {key: sorted(ids) for key, ids in room.io.rooms.items()}
    a, b, c = (room[n].id for n in "abc")
    assert rooms == {
        "": sorted([a, b, c]),
        "/Lobby": sorted([a, b]),
        "/Kitchen": [b],
        "/chat": [room.c_chat.id],
        "/chat/Cellar": [room.c_chat.id],
    }
    assert room.io.of("/chat").rooms == {
        "/chat": [room.c_chat.id],
        "/chat/Cellar": [room.c_chat.id],
    }


async def test_fetch_rooms(room: Room) -> None:
    rooms = await room.io.sockets.fetch_rooms()
    assert sorted(rooms["/Lobby"]) == sorted([room["a"].id, room["b"].id])
    assert rooms["/Kitchen"] == [room["b"].id]


async def test_fetch_sockets_and_handles(room: Room) -> None:
    found = await room.io.in_("Lobby").fetch_sockets()
    assert {s.id for s in found} == {room["a"].id, room["b"].id}
    handle = next(s for s in found if s.id == room["a"].id)
    assert handle.handshake.auth == {"name": "a"}
    assert "Lobby" in handle.rooms
    handle.data["k"] = "v"
    await handle.emit("direct", 1)
    assert room.got("a") == [["direct", 1]]
    handle.join("Attic")
    assert "Attic" in room["a"].rooms
    handle.leave("Attic")
    assert "Attic" not in room["a"].rooms
    assert room["a"].data == {"k": "v"}


async def test_remote_socket_goes_through_the_adapter(room: Room) -> None:
    a = room["a"]
    remote = RemoteSocket(room.io.sockets.adapter, a.id, a.handshake, a.rooms, {})
    await remote.emit("hi")
    remote.join("R")
    assert "R" in a.rooms
    remote.leave(["R"])
    assert "R" not in a.rooms
    remote.disconnect()
    assert not a.connected and room.sessions["a"].texts()[-1] == "1"


async def test_sockets_join_leave_and_disconnect(room: Room) -> None:
    io = room.io
    io.in_("Lobby").sockets_join("Hall")
    assert {s for s in io.rooms["/Hall"]} == {room["a"].id, room["b"].id}
    io.sockets_leave("Lobby")
    assert "/Lobby" not in io.rooms
    io.in_("Hall").except_(room["a"].id).disconnect_sockets()
    assert not room["b"].connected and room["a"].connected
    assert room.sessions["b"].texts() == ["1"] and not room.sessions["b"].closed
    io.in_("Hall").disconnect_sockets(close=True)
    assert room.sessions["a"].closed and room.sessions["a"].close_notify


async def test_disconnect_leaves_all_rooms(room: Room) -> None:
    room.sessions["b"].close("transport close")
    assert "/Kitchen" not in room.io.rooms
    assert sorted(room.io.rooms["/Lobby"]) == [room["a"].id]
    assert room.io.sockets.adapter.sids.keys() == {room["a"].id, room["c"].id}


async def test_broadcast_call_collects_acks(room: Room) -> None:
    task = asyncio.ensure_future(room.io.to("Lobby").call("vote", timeout=1))
    await settle()
    for name, answer in (("a", '"yes"'), ("b", '"no",2')):
        [packet] = room.sessions[name].packets()
        assert packet.data == ["vote"]
        room.sessions[name].receive(f"3{packet.id}[{answer}]")
    assert sorted(await task, key=str) == [("no", 2), "yes"]


async def test_broadcast_call_times_out_on_the_server_clock(room: Room, clock: ManualClock) -> None:
    task = asyncio.ensure_future(room.io.timeout(2).call("vote"))
    await settle()
    [packet] = room.sessions["a"].packets()
    room.sessions["a"].receive(f"3{packet.id}[1]")
    clock.advance(1.9)
    await settle()
    assert not task.done()
    clock.advance(0.1)
    with pytest.raises(AckTimeout, match="1 of 3 acks for 'vote' within 2 s"):
        await task
    assert clock.pending == 0
    with pytest.raises(ValueError):
        await room.io.to("Lobby").call("vote")


async def test_broadcast_call_with_nobody_returns_at_once(room: Room) -> None:
    assert await room.io.to("nobody").call("vote", timeout=1) == []


async def test_room_limits() -> None:
    io = Server(max_rooms_per_socket=2, max_name_length=5)
    sockets: list[Socket] = []
    io.on("connection", sockets.append)
    FakeSession(io).open().connect()
    socket = sockets[0]
    socket.join(["a", "b"])
    socket.join("a")  # already in it
    with pytest.raises(LimitExceeded):
        socket.join("c")
    with pytest.raises(LimitExceeded):
        socket.join("toolong")
    with pytest.raises(TypeError):
        socket.join([1])  # type: ignore[list-item]
    io.sockets_join("c")  # logged, not raised
    assert socket.rooms == {socket.id, "a", "b"}


async def test_join_after_disconnect_does_nothing(room: Room) -> None:
    a = room["a"]
    a.disconnect()
    a.join("Late")
    assert "/Late" not in room.io.rooms and a.rooms == frozenset()

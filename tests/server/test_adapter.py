"""The adapter seam: what a cluster adapter receives and can feed back."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

from jupyter_rt.protocol.socketio import Packet, PacketType
from jupyter_rt.server import (
    Adapter,
    BroadcastFlags,
    BroadcastOptions,
    Namespace,
    RemoteSocket,
    Server,
    Socket,
    SocketHandle,
    SocketHandshake,
)
from tests.server.fakes import FakeSession, settle

CALLS: list[tuple[Any, ...]] = []


class FakeCluster(Adapter):
    """Pretends a second server holds one socket, "remote-1", in room "Lobby"."""

    def __init__(self, nsp: Namespace) -> None:
        super().__init__(nsp)
        self.remote_acks: list[Callable[[list[Any]], None]] = []

    def init(self) -> None:
        CALLS.append(("init", self.nsp.name))

    def close(self) -> None:
        CALLS.append(("close", self.nsp.name))

    async def ready(self) -> None:
        await asyncio.sleep(0)
        CALLS.append(("ready", self.nsp.name))

    async def aclose(self) -> None:
        await asyncio.sleep(0)
        CALLS.append(("aclose", self.nsp.name))
        await super().aclose()  # the base calls close()

    async def server_count(self) -> int:
        return 2

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        CALLS.append(("broadcast", packet, opts))
        super().broadcast(packet, opts)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[list[Any]], None],
    ) -> None:
        super().broadcast_with_ack(packet, opts, client_count_callback, ack)
        loop = asyncio.get_running_loop()
        loop.call_soon(client_count_callback, 1)  # the other server has one recipient
        self.remote_acks.append(ack)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketHandle]:
        local = await super().fetch_sockets(opts)
        remote = RemoteSocket(
            self,
            "remote-1",
            SocketHandshake.from_dict({"auth": {"name": "r"}, "issued": 5}),
            frozenset({"remote-1", "Lobby"}),
            {"k": 1},
        )
        if not opts.rooms or "Lobby" in opts.rooms:
            return [*local, remote]
        return local

    def server_side_emit(self, packet: list[Any]) -> None:
        CALLS.append(("server_side_emit", packet))

    async def server_side_emit_with_ack(
        self, packet: list[Any], timeout: float | None = None
    ) -> list[Any]:
        CALLS.append(("server_side_emit_with_ack", packet, timeout))
        return ["answer"]

    async def all_rooms(self) -> set[str]:
        return {"Lobby", "remote-1", *self.rooms}


@pytest.fixture
def cluster() -> Server:
    CALLS.clear()
    return Server(adapter=FakeCluster)


def join(
    io: Server, nsp: str = "/", room: str = "Lobby", parent: Namespace | None = None
) -> tuple[FakeSession, Socket]:
    sockets: list[Socket] = []
    (parent or io.of(nsp)).on("connection", sockets.append)
    session = FakeSession(io).open()
    session.connect(nsp)
    sockets[-1].join(room)
    session.clear()
    return session, sockets[-1]


async def test_adapter_factory_is_used_per_namespace(cluster: Server) -> None:
    cluster.of("/chat")
    assert ("init", "/") in CALLS and ("init", "/chat") in CALLS
    assert isinstance(cluster.of("/chat").adapter, FakeCluster)
    await cluster.close()
    assert ("close", "/chat") in CALLS


async def test_broadcast_reaches_the_adapter_as_packet_and_options(cluster: Server) -> None:
    session, _socket = join(cluster)
    await cluster.to("Lobby").except_("x").volatile.emit("ev", 1, b"\x00")
    [(_, packet, opts)] = [c for c in CALLS if c[0] == "broadcast"]
    assert packet == Packet(PacketType.EVENT, "/", ["ev", 1, b"\x00"])
    assert opts == BroadcastOptions(
        frozenset({"Lobby"}), frozenset({"x"}), BroadcastFlags(volatile=True)
    )
    assert session.events() == [["ev", 1, b"\x00"]]


async def test_local_flag_and_socket_broadcast_options(cluster: Server) -> None:
    _session, socket = join(cluster)
    await socket.broadcast.local.to("Lobby").emit("ev")
    [(_, _packet, opts)] = [c for c in CALLS if c[0] == "broadcast"]
    assert opts == BroadcastOptions(
        frozenset({"Lobby"}), frozenset({socket.id}), BroadcastFlags(local=True)
    )


async def test_broadcast_call_waits_for_every_server(cluster: Server) -> None:
    session, _socket = join(cluster)
    task = asyncio.ensure_future(cluster.to("Lobby").call("vote", timeout=1))
    await settle()
    [packet] = session.packets()
    session.receive(f'3{packet.id}["local"]')
    await settle()
    assert not task.done()  # the remote socket has not answered
    cluster.sockets.adapter.remote_acks[0](["remote"])  # type: ignore[attr-defined]
    assert sorted(await task) == ["local", "remote"]


async def test_fetch_sockets_and_rooms_include_remote_sockets(cluster: Server) -> None:
    _session, socket = join(cluster)
    found = await cluster.in_("Lobby").fetch_sockets()
    assert [s.id for s in found] == [socket.id, "remote-1"]
    remote = found[1]
    assert isinstance(remote, RemoteSocket) and remote.handshake.auth == {"name": "r"}
    assert remote.data == {"k": 1}
    rooms = await cluster.fetch_rooms()
    assert sorted(rooms[""]) == sorted([socket.id, "remote-1"])
    assert sorted(rooms["/Lobby"]) == sorted([socket.id, "remote-1"])
    assert cluster.rooms["/Lobby"] == [socket.id]  # the local snapshot


async def test_server_side_emit(cluster: Server) -> None:
    got: list[Any] = []
    cluster.on("hello", lambda *args: got.append(args))
    await cluster.server_side_emit("hello", 1, {"a": 2})
    assert CALLS[-1] == ("server_side_emit", ["hello", 1, {"a": 2}])
    cluster.sockets.on_server_side_emit(["hello", 3])
    cluster.sockets.on_server_side_emit(["connection", 3])  # dropped
    cluster.sockets.on_server_side_emit([])  # dropped
    assert got == [(3,)]
    with pytest.raises(ValueError):
        cluster.server_side_emit("connection")


async def test_server_side_call_goes_through_the_adapter(cluster: Server) -> None:
    assert await cluster.server_side_call("sum", 1, 2, timeout=3) == ["answer"]
    assert CALLS[-1] == ("server_side_emit_with_ack", ["sum", 1, 2], 3)
    assert await cluster.of("/chat").server_side_call("sum") == ["answer"]
    assert CALLS[-1] == ("server_side_emit_with_ack", ["sum"], None)
    with pytest.raises(ValueError):
        await cluster.server_side_call("connection")
    with pytest.raises(ValueError):
        await cluster.server_side_call("disconnect")
    with pytest.raises(NotImplementedError):
        await cluster.of(re.compile(r"^/d-\d+$")).server_side_call("sum")


async def test_server_side_event_with_ack_answers_with_the_first_handler(cluster: Server) -> None:
    nsp = cluster.sockets
    seen: list[Any] = []
    nsp.on("sum", lambda a, b: a + b)
    nsp.on("sum", lambda a, b: seen.append((a, b)) or "second")  # runs, does not answer
    answers: list[Any] = []
    nsp.on_server_side_emit(["sum", 2, 3], answers.append)
    assert answers == [5] and seen == [(2, 3)]

    async def later(value: Any) -> Any:
        await asyncio.sleep(0.01)
        return value

    nsp.on("later", later)
    nsp.on_server_side_emit(["later", {"v": 1}], answers.append)
    assert answers == [5]
    await asyncio.sleep(0.05)
    assert answers == [5, {"v": 1}]

    nsp.on("none", lambda: None)
    nsp.on_server_side_emit(["none"], answers.append)
    assert answers == [5, {"v": 1}, None]  # None is an answer too

    def fails() -> None:
        raise RuntimeError("boom")

    async def fails_later() -> None:
        raise RuntimeError("boom")

    nsp.on("fails", fails)
    nsp.on("fails-later", fails_later)
    nsp.on_server_side_emit(["fails"], answers.append)
    nsp.on_server_side_emit(["fails-later"], answers.append)
    nsp.on_server_side_emit(["nobody"], answers.append)
    nsp.on_server_side_emit(["connection"], answers.append)
    await asyncio.sleep(0.05)
    assert answers == [5, {"v": 1}, None]  # no answer: the requester times out

    def broken_ack(value: Any) -> None:
        raise TypeError("cannot encode")

    nsp.on_server_side_emit(["sum", 1, 1], broken_ack)  # logged, not raised


async def test_memory_adapter_defaults(io: Server) -> None:
    _session, socket = join(io)
    await io.ready()
    assert await io.server_side_call("anything", 1) == []
    assert await io.sockets.adapter.all_rooms() == {socket.id, "Lobby"}
    assert await io.sockets.adapter.server_side_emit_with_ack(["x"], 1) == []
    await io.close()


async def test_ready_and_close_await_every_adapter(cluster: Server) -> None:
    cluster.of("/chat")
    await cluster.ready()
    assert ("ready", "/") in CALLS and ("ready", "/chat") in CALLS
    await cluster.close()
    assert ("aclose", "/") in CALLS and ("aclose", "/chat") in CALLS
    assert await cluster.sockets.adapter.all_rooms() == {"Lobby", "remote-1"}


async def test_the_first_connection_starts_the_adapters(cluster: Server) -> None:
    FakeSession(cluster).open()
    await settle()
    assert ("ready", "/") in CALLS
    CALLS.clear()
    FakeSession(cluster).open()
    await settle()
    assert ("ready", "/") not in CALLS  # once


async def test_ready_raises_what_an_adapter_raises() -> None:
    class Unreachable(Adapter):
        async def ready(self) -> None:
            raise ConnectionError("no cluster")

    io = Server(adapter=Unreachable)
    with pytest.raises(ConnectionError):
        await io.ready()


async def test_handshake_round_trips_through_a_dict(io: Server) -> None:
    sockets: list[Socket] = []
    io.on("connection", sockets.append)
    FakeSession(io, user={"username": "u"}).open().connect(auth={"t": 1})
    handshake = sockets[0].handshake
    assert SocketHandshake.from_dict(handshake.to_dict()) == handshake
    assert SocketHandshake.from_dict({"headers": "junk", "issued": "x"}).headers == {}


async def test_adapter_membership_queries(io: Server) -> None:
    _session, socket = join(io)
    adapter = io.sockets.adapter
    assert adapter.sockets(["Lobby"]) == {socket.id}
    assert adapter.sockets() == {socket.id}
    assert adapter.socket_rooms(socket.id) == {socket.id, "Lobby"}
    assert adapter.socket_rooms("nobody") is None
    adapter.delete(socket.id, "Lobby")
    assert adapter.rooms == {socket.id: {socket.id}}


async def test_dynamic_parent_broadcasts_reach_every_child(io: Server) -> None:
    parent = io.of(re.compile(r"/doc-\w+"))
    s1, a = join(io, "/doc-a", "r", parent)
    s2, b = join(io, "/doc-b", "r", parent)
    assert {child.name for child in parent.children} == {"/doc-a", "/doc-b"}
    await parent.to("r").emit("hi")
    assert s1.events("/doc-a") == [["hi"]] and s2.events("/doc-b") == [["hi"]]
    assert {s.id for s in await parent.fetch_sockets()} == {a.id, b.id}
    task = asyncio.ensure_future(parent.call("q", timeout=1))
    await settle()
    for session, nsp in ((s1, "/doc-a"), (s2, "/doc-b")):
        packet = session.packets()[-1]
        session.receive(f"3{nsp},{packet.id}[1]")
    assert await task == [1, 1]
    parent.sockets_join("extra")
    assert "extra" in a.rooms and "extra" in b.rooms
    parent.sockets_leave("extra")
    assert "extra" not in a.rooms
    assert set(parent.rooms) == {"/doc-a", "/doc-a/r", "/doc-b", "/doc-b/r"}
    parent.disconnect_sockets()
    assert not a.connected and not b.connected
    assert parent.children == set()
